//! The egress proxy against a direct connection to the same local
//! upstream, in one run: plain HTTP, intercepted HTTPS and passthrough
//! HTTPS; keep-alive and a new connection per request; 1, 16 and 64
//! concurrent clients; 100 MiB up and down; the proxy's memory (it runs as
//! the real `bb-sidecar egress` process) under 64 concurrent 15 MB uploads
//! and under tens of thousands of wildcard names; and the DLP scan's
//! throughput on text. Where `mitmdump` is on
//! PATH the same load goes through mitmproxy too, and where `nginx` is,
//! plain HTTP through an nginx that forwards and checks nothing: the cost
//! of any proxy in the middle on this machine. Ratios are bb / direct (and
//! bb / mitmproxy, bb / nginx).
//!
//! Run: `cargo bench -p bb-sidecar --bench egress`. `BENCH_QUICK=1` runs a
//! tenth of the load, `BENCH_SCALE=N` N times the requests;
//! `BENCH_NAMES=N` sets the wildcard names (60000).

#[path = "../../sidecars/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use support::*;
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// `BENCH_ONLY=text`: only the scenarios whose name holds `text`.
fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| name.contains(&only))
}

fn scale(n: usize) -> usize {
    if std::env::var_os("BENCH_QUICK").is_some() {
        (n / 10).max(1)
    } else {
        n
    }
}

/// Requests in a rate scenario; `BENCH_SCALE=N` runs N times as many
/// (long enough to profile).
fn requests(n: usize) -> usize {
    let times = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    scale(n) * times.max(1)
}

/// A proxy process: bb-sidecar egress, or mitmdump.
struct Proc {
    child: Child,
    addr: SocketAddr,
    /// The CA its clients must trust for intercepted HTTPS.
    ca_pem: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn status(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
    /// Resident memory now, MiB.
    fn rss(&self) -> f64 {
        self.status("VmRSS:") as f64 / 1024.0
    }
    /// Peak resident memory, MiB.
    fn peak(&self) -> f64 {
        self.status("VmHWM:") as f64 / 1024.0
    }
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .is_ok_and(|s| !s.contains(") Z "))
    }
    /// CPU seconds used so far (user + system).
    fn cpu(&self) -> f64 {
        cpu_secs(self.child.id())
    }
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..300 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr}");
}

async fn start_bb(s: &Setup, routes: serde_json::Value, limits: serde_json::Value) -> Proc {
    let egress = spawn_egress(s, routes, limits, None).await;
    Proc {
        addr: egress.addr,
        child: egress.into_child(),
        ca_pem: s.bottle_ca.cert_pem.clone(),
    }
}

/// Start a reference proxy, its output silenced, and wait until it
/// listens on `port`.
async fn start_quiet(cmd: &mut Command, port: u16) -> Option<(Child, SocketAddr)> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    Some((child, addr))
}

/// Whether `program` is installed (it answers `version_arg`).
fn installed(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// mitmproxy, trusting the test upstream CA, when it is installed.
async fn start_mitm(s: &Setup) -> Option<Proc> {
    if !installed("mitmdump", "--version") {
        return None;
    }
    let port = free_port();
    let confdir = s.dir.path().join("mitm");
    let mut cmd = Command::new("mitmdump");
    cmd.args(["-q", "--listen-host", "127.0.0.1", "--listen-port"])
        .arg(port.to_string())
        .arg("--set")
        .arg(format!("confdir={}", confdir.display()))
        .arg("--set")
        .arg(format!(
            "ssl_verify_upstream_trusted_ca={}",
            s.dir.path().join("upstream-ca.crt").display()
        ))
        .arg("--set")
        .arg("connection_strategy=lazy");
    let (child, addr) = start_quiet(&mut cmd, port).await?;
    let ca_pem = std::fs::read_to_string(confdir.join("mitmproxy-ca-cert.pem")).ok()?;
    Some(Proc {
        child,
        addr,
        ca_pem,
    })
}

/// nginx forwarding plain HTTP to `upstream` (keep-alive both sides,
/// checking nothing), when it is installed: what a lean C proxy costs on
/// this machine, the floor for any proxy in the middle.
async fn start_nginx(dir: &std::path::Path, upstream: SocketAddr) -> Option<Proc> {
    if !installed("nginx", "-v") {
        return None;
    }
    let port = free_port();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).ok()?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {pid};\n\
             error_log {err} crit;\nevents {{ worker_connections 4096; }}\n\
             http {{\n access_log off;\n client_body_temp_path {tmp};\n proxy_temp_path {tmp};\n\
             upstream up {{ server {upstream}; keepalive 64; }}\n\
             server {{ listen 127.0.0.1:{port};\n keepalive_requests 1000000;\n\
             location / {{ proxy_pass http://up; proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\"; proxy_buffering off; }} }}\n}}\n",
            pid = prefix.join("nginx.pid").display(),
            err = prefix.join("logs/error.log").display(),
            tmp = prefix.join("tmp").display(),
        ),
    )
    .ok()?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(&prefix).arg("-c").arg(&conf);
    let (child, addr) = start_quiet(&mut cmd, port).await?;
    Some(Proc {
        child,
        addr,
        ca_pem: String::new(),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Intercepted,
    Passthrough,
}

/// How a client reaches the upstream: directly, or through a proxy.
#[derive(Clone)]
struct Path {
    kind: Kind,
    upstream: SocketAddr,
    /// The proxy and the CA to trust through it; None: direct.
    via: Option<(SocketAddr, String)>,
    upstream_ca: String,
}

impl Path {
    fn target(&self) -> String {
        format!("localhost:{}", self.upstream.port())
    }

    async fn open(&self) -> Sender {
        match (&self.via, self.kind) {
            (None, Kind::Plain) => {
                let s = TcpStream::connect(self.upstream).await.unwrap();
                let _ = s.set_nodelay(true);
                client_over(s).await
            }
            (None, _) => {
                let s = TcpStream::connect(self.upstream).await.unwrap();
                let _ = s.set_nodelay(true);
                let tls = tokio_rustls::TlsConnector::from(client_tls(&self.upstream_ca))
                    .connect(
                        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                        s,
                    )
                    .await
                    .unwrap();
                client_over(tls).await
            }
            (Some((proxy, _)), Kind::Plain) => proxy_client(*proxy).await,
            (Some((proxy, ca)), Kind::Intercepted) => {
                tunnel_client(*proxy, &self.target(), ca).await
            }
            (Some((proxy, _)), Kind::Passthrough) => {
                tunnel_client(*proxy, &self.target(), &self.upstream_ca).await
            }
        }
    }

    fn uri(&self, path: &str) -> String {
        match (&self.via, self.kind) {
            (Some(_), Kind::Plain) => format!("http://{}{path}", self.target()),
            _ => path.to_string(),
        }
    }

    async fn request(&self, sender: &mut Sender, method: &str, path: &str, body: Bytes) -> usize {
        let (status, len) = send(sender, method, &self.uri(path), &self.target(), body).await;
        assert_eq!(status, 200, "{method} {path}");
        len
    }
}

/// Requests per second: `clients` at once, `total` requests in all, on one
/// connection each (keep-alive) or a new connection per request.
async fn rate(path: &Path, clients: usize, total: usize, keep_alive: bool) -> f64 {
    // Warm up: certificates minted, pools and caches filled.
    let mut warm = path.open().await;
    for _ in 0..5 {
        path.request(&mut warm, "GET", "/bench", Bytes::new()).await;
    }
    drop(warm);
    let per = (total / clients).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            if keep_alive {
                let mut s = path.open().await;
                for _ in 0..per {
                    path.request(&mut s, "GET", "/bench", Bytes::new()).await;
                }
            } else {
                for _ in 0..per {
                    let mut s = path.open().await;
                    path.request(&mut s, "GET", "/bench", Bytes::new()).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * clients) as f64 / start.elapsed().as_secs_f64()
}

/// `bytes` of text, as an agent uploads (a file, a long prompt).
fn text_body(bytes: usize) -> Bytes {
    let readme = include_str!("../../README.md");
    Bytes::from(readme.repeat(bytes / readme.len() + 1).into_bytes()).slice(..bytes)
}

/// MB/s moving `bytes` up (a POST body) or down (the answer).
async fn transfer(path: &Path, bytes: usize, up: bool) -> f64 {
    let mut s = path.open().await;
    let body = text_body(bytes);
    let start = Instant::now();
    if up {
        path.request(&mut s, "POST", "/upload", body).await;
    } else {
        let got = path.request(&mut s, "GET", "/download", Bytes::new()).await;
        assert_eq!(got, bytes);
    }
    bytes as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// Concurrent uploads through `proxy`: its peak and settled memory (MiB).
async fn upload_memory(path: &Path, proxy: &Proc, clients: usize, bytes: usize) -> (f64, f64) {
    proxy.reset_peak();
    let body = text_body(bytes);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let path = path.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = path.open().await;
            path.request(&mut s, "POST", "/upload", body).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peak = proxy.peak();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (peak, proxy.rss())
}

/// TLS handshakes for `n` distinct names under a wildcard route, 16 at a
/// time: the proxy's peak and settled memory (MiB).
async fn many_names(proxy: &Proc, n: usize) -> (f64, f64, f64) {
    proxy.reset_peak();
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let next = next.clone();
        let (addr, ca) = (proxy.addr, proxy.ca_pem.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let name = format!("n{i}.wild.test");
                let (s, status) = connect(addr, &format!("{name}:443")).await;
                assert_eq!(status, 200);
                let tls = tokio_rustls::TlsConnector::from(client_tls(&ca))
                    .connect(rustls::pki_types::ServerName::try_from(name).unwrap(), s)
                    .await;
                assert!(tls.is_ok(), "handshake for a wildcard name");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let peak = proxy.peak();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (peak, proxy.rss(), rate)
}

/// A steady client's latency (p50, p99, ms; new connection per request)
/// while `slow` slowloris connections and `idle` idle tunnels are open.
async fn under_siege(
    proxy: &Proc,
    http: SocketAddr,
    tls_target: &str,
    slow: usize,
    idle: usize,
) -> (f64, f64, usize) {
    use tokio::io::AsyncWriteExt;
    let url = format!("http://localhost:{}/bench", http.port());
    let mut held = Vec::new();
    for _ in 0..slow {
        if let Ok(mut c) = TcpStream::connect(proxy.addr).await {
            let _ = c
                .write_all(format!("GET {url} HTTP/1.1\r\nHost: localhost\r\n").as_bytes())
                .await;
            held.push(c);
        }
    }
    for _ in 0..idle {
        let (c, _) = connect(proxy.addr, tls_target).await;
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut times = Vec::new();
    let mut failed = 0;
    for _ in 0..200 {
        let start = Instant::now();
        if get(proxy.addr, &url, "").await.0 != 200 {
            failed += 1;
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    times.sort_by(f64::total_cmp);
    drop(held);
    (
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        failed,
    )
}

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}

fn row(name: &str, direct: f64, bb: f64, mitm: Option<f64>, unit: &str) {
    let vs_mitm = mitm
        .map(|m| format!("{m:>9.0} {:>7.1}x", bb / m))
        .unwrap_or_else(|| format!("{:>9} {:>8}", "-", "-"));
    println!(
        "{name:<44} {direct:>9.0} {bb:>9.0} {:>6.2}x {vs_mitm}  {unit}",
        bb / direct
    );
}

/// DLP throughput on text (the README, repeated to 64 MiB), MB/s: the
/// median of 5 scans.
fn dlp_rate() -> f64 {
    let readme = include_str!("../../README.md");
    let text = readme.repeat((64 * MIB) / readme.len() + 1);
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            assert!(bb_sidecar::dlp::scan_bytes(text.as_bytes()).is_none());
            text.len() as f64 / 1e6 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

/// Decoding a request body to be scanned, MB/s of decoded text: the
/// README repeated to 64 MiB, compressed as zstd (as Codex sends its
/// turns) and as gzip; the median of 5.
fn decode_rate(coding: bb_sidecar::dlp::inflate::Coding) -> f64 {
    use bb_sidecar::dlp::inflate::{decode_all, Coding, Limits};
    use std::io::Write;
    let readme = include_str!("../../README.md");
    let text = readme.repeat((64 * MIB) / readme.len() + 1);
    let body = match coding {
        Coding::Zstd => ruzstd::encoding::compress_to_vec(
            text.as_bytes(),
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
        _ => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        }
    };
    let limits = Limits {
        cap: text.len() + 1,
        ratio: u64::MAX,
    };
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let plain = decode_all(&[coding], &body, limits, "bench").unwrap();
            assert_eq!(plain.len(), text.len());
            text.len() as f64 / 1e6 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

#[tokio::main]
async fn main() {
    // Thousands of sockets for the siege.
    raise_file_limit();
    let s = Setup::new();
    let download = scale(100 * MIB);
    let big = Arc::new("x".repeat(download));
    let handler: Handler = Arc::new(move |r: Seen| {
        if r.uri.ends_with("/download") {
            (200, big.as_str().to_owned())
        } else {
            (200, format!("ok {}\n", r.body.len()))
        }
    });
    let http_up = Upstream::start_with(None, handler.clone()).await;
    let tls_up = Upstream::start_with(Some(server_tls(&s.upstream_ca)), handler.clone()).await;
    let ports = [http_up.addr.port(), tls_up.addr.port()];
    let limits = json!({"body_bytes": 128 * MIB, "max_connections": 1024});
    let bb = start_bb(
        &s,
        json!([
            route("localhost", &ports),
            {"host": "*.wild.test", "ssrf_ip_allowlist": ["127.0.0.1/32"]},
        ]),
        limits.clone(),
    )
    .await;
    // Passthrough needs its own route table: one route per host.
    let s2 = Setup::new();
    std::fs::write(
        s2.dir.path().join("upstream-ca.crt"),
        &s.upstream_ca.cert_pem,
    )
    .unwrap();
    let bb_pass = start_bb(
        &s2,
        json!([{"host": "localhost", "tls_passthrough": true,
                "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": ports}]),
        limits,
    )
    .await;
    let mitm = start_mitm(&s).await;
    let nginx = start_nginx(s.dir.path(), http_up.addr).await;
    let up_ca = s.upstream_ca.cert_pem.clone();
    let path = |kind: Kind, via: Option<&Proc>| Path {
        kind,
        upstream: if kind == Kind::Plain {
            http_up.addr
        } else {
            tls_up.addr
        },
        via: via.map(|p| (p.addr, p.ca_pem.clone())),
        upstream_ca: up_ca.clone(),
    };

    println!(
        "egress benchmark (bb-sidecar egress vs a direct connection{}); bb idle RSS {:.1} MiB",
        if mitm.is_some() {
            " and mitmproxy"
        } else {
            "; mitmdump not installed"
        },
        bb.rss()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>7} {:>9} {:>8}",
        "scenario", "direct", "bb", "bb/dir", "mitm", "bb/mitm"
    );
    for (kind, label) in [
        (Kind::Plain, "plain HTTP"),
        (Kind::Intercepted, "HTTPS intercepted"),
        (Kind::Passthrough, "HTTPS passthrough"),
    ] {
        let bb_proc = if kind == Kind::Passthrough {
            &bb_pass
        } else {
            &bb
        };
        for keep_alive in [true, false] {
            for clients in [1, 16, 64] {
                let conn = if keep_alive { "keep-alive" } else { "new conn" };
                let name = format!("{label}, {conn}, c={clients}");
                if !wanted(&name) {
                    continue;
                }
                let total = requests(if keep_alive { 4000 } else { 1000 });
                let me = std::process::id();
                let c0 = cpu_secs(me);
                let direct = rate(&path(kind, None), clients, total, keep_alive).await;
                let (c1, p1) = (cpu_secs(me), bb_proc.cpu());
                let proxied = rate(&path(kind, Some(bb_proc)), clients, total, keep_alive).await;
                let (c2, p2) = (cpu_secs(me), bb_proc.cpu());
                // mitmproxy intercepts everything (no passthrough route here).
                let m = match (&mitm, kind) {
                    (Some(m), Kind::Plain | Kind::Intercepted) => {
                        Some(rate(&path(kind, Some(m)), clients, total, keep_alive).await)
                    }
                    _ => None,
                };
                row(&name, direct, proxied, m, "req/s");
                // Where the time goes: this process is the client and the
                // upstream; direct, both do all the work.
                let per = |secs: f64| secs * 1e6 / total as f64;
                println!(
                    "{:<44} CPU µs/request: direct {:.0}; through bb {:.0} + proxy {:.0}",
                    "",
                    per(c1 - c0),
                    per(c2 - c1),
                    per(p2 - p1)
                );
                if let (Some(n), Kind::Plain) = (&nginx, kind) {
                    let via = rate(&path(kind, Some(n)), clients, total, keep_alive).await;
                    println!(
                        "{:<44} nginx, forwarding and checking nothing: {via:.0} req/s, {:.2}x direct; bb {:.2}x nginx",
                        "",
                        via / direct,
                        proxied / via
                    );
                }
            }
        }
    }
    let size = download;
    for (up, label) in [(true, "upload"), (false, "download")] {
        let name = format!("{} MiB {label}, intercepted", size / MIB);
        if !wanted(&name) {
            continue;
        }
        let direct = transfer(&path(Kind::Intercepted, None), size, up).await;
        let proxied = transfer(&path(Kind::Intercepted, Some(&bb)), size, up).await;
        let m = match &mitm {
            Some(m) => Some(transfer(&path(Kind::Intercepted, Some(m)), size, up).await),
            None => None,
        };
        row(&name, direct, proxied, m, "MB/s");
    }
    if wanted("DLP") {
        println!("DLP on text: {:.0} MB/s", dlp_rate());
        use bb_sidecar::dlp::inflate::Coding;
        println!(
            "decoding a body to scan it: zstd {:.0} MB/s, gzip {:.0} MB/s (decoded text)",
            decode_rate(Coding::Zstd),
            decode_rate(Coding::Gzip)
        );
    }
    if !wanted("memory") {
        return;
    }
    let (peak, after) = upload_memory(
        &path(Kind::Intercepted, Some(&bb)),
        &bb,
        64,
        scale(15_000_000),
    )
    .await;
    println!(
        "bb memory, 64 concurrent 15 MB uploads: peak {peak:.1} MiB, 2 s after {after:.1} MiB"
    );
    if let Some(m) = &mitm {
        let (peak, after) =
            upload_memory(&path(Kind::Intercepted, Some(m)), m, 64, scale(15_000_000)).await;
        println!("mitmproxy memory, same load: peak {peak:.1} MiB, 2 s after {after:.1} MiB");
    }
    let (p50, p99, failed) = under_siege(
        &bb,
        http_up.addr,
        &format!("localhost:{}", tls_up.addr.port()),
        1000,
        1000,
    )
    .await;
    println!(
        "steady client during 1000 slowloris + 1000 idle tunnels: p50 {p50:.1} ms, p99 {p99:.1} ms, {failed} of 200 failed; proxy {}",
        if bb.alive() { "up" } else { "DOWN" }
    );
    let names = std::env::var("BENCH_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(scale(60_000));
    let (peak, after, per_s) = many_names(&bb, names).await;
    println!(
        "bb memory, {names} wildcard names: peak {peak:.1} MiB, 2 s after {after:.1} MiB ({per_s:.0} handshakes/s)"
    );
}
