//! The allocator of both static binaries.

// They ship as static musl binaries (they must run on any host's image);
// musl's own allocator halves the proxy's upload throughput.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed pages go back to the system within a second of a burst. One
/// arena: with more, 64 concurrent uploads peaked near 90 MiB instead of
/// 52 (tcaches keep small allocations per thread anyway).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 53] = b"background_thread:true,dirty_decay_ms:1000,narenas:1\0";
