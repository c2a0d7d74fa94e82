//! The real Docker engine for the tests that need one: is it there, the
//! local Debian base, and removing what a test's bottles made.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BASE: &str = "bb-test-base:bookworm";

/// Where cargo put the workspace's binaries.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bb"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Whether Docker answers (a failure under BB_REQUIRE_DOCKER=1), with the
/// base image made and the workspace's binaries built.
pub fn docker_ok() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("BB_REQUIRE_DOCKER").is_some() {
            panic!("Docker is not reachable and BB_REQUIRE_DOCKER is set");
        }
        eprintln!(
            "SKIPPED: Docker is not reachable; set BB_REQUIRE_DOCKER=1 to make this a failure"
        );
        return false;
    }
    let base = Command::new("docker")
        .args(["image", "inspect", BASE])
        .output()
        .unwrap();
    if !base.status.success() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/make-base.sh");
        let made = Command::new("bash").arg(script).arg(BASE).status().unwrap();
        assert!(made.success(), "tests/images/make-base.sh failed");
    }
    for bin in ["bb-sidecar", "fake-agent", "mock-llm"] {
        assert!(
            target_dir().join(bin).exists(),
            "{bin} is not built; the test command is `cargo build --workspace && cargo test --workspace`"
        );
    }
    true
}

/// `docker ARGS`, its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Remove every container and network of a bottle.
pub fn remove_everything(slug: &str) {
    let filter = format!("label=bb.slug={slug}");
    for c in docker(&["ps", "-aq", "--filter", &filter]).lines() {
        docker(&["rm", "-f", c]);
    }
    for n in docker(&["network", "ls", "-q", "--filter", &filter]).lines() {
        docker(&["network", "rm", n]);
    }
}
