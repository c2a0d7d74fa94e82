//! Builds `bb-sidecar` as a static Linux binary (musl) and hands its path
//! to bb, which embeds it: the sidecar image then runs on any base, whatever
//! the host's libc, and an installed `bb` needs nothing beside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    for path in [
        "sidecars/src",
        "sidecars/Cargo.toml",
        "contract/src",
        "contract/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=BB_SIDECAR_TARGET");

    // Docker runs Linux of the host's architecture (Docker Desktop too).
    let target = std::env::var("BB_SIDECAR_TARGET")
        .unwrap_or_else(|_| format!("{}-unknown-linux-musl", env("CARGO_CFG_TARGET_ARCH")));
    let release = env("PROFILE") == "release";
    // <target dir>/<profile>/build/bb-<hash>/out: build beside the profile,
    // so the nested build is incremental and never takes the outer lock.
    let out = PathBuf::from(env("OUT_DIR"));
    let target_dir = out.ancestors().nth(3).unwrap_or(&out).join("sidecar-build");

    let mut cargo = Command::new(env("CARGO"));
    cargo
        .args(["build", "--package", "bb-sidecar", "--bin", "bb-sidecar"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--target", &target])
        .arg("--target-dir")
        .arg(&target_dir)
        // Small enough to embed: no debug info, no symbols.
        .args(["--config", "profile.dev.debug=0"])
        .args(["--config", "profile.dev.strip=true"])
        .args(["--config", "profile.release.strip=true"])
        .stdout(Stdio::null());
    if release {
        cargo.arg("--release");
    }
    // What the outer build set for itself must not leak in: clippy's
    // driver, its target, its flags.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!(
            "error: building the static bb-sidecar for {target} failed. It needs the Rust target \
             (`rustup target add {target}`) and a C compiler for it (Debian/Ubuntu: `apt-get install \
             musl-tools`; Fedora: `dnf install musl-gcc`); BB_SIDECAR_TARGET names another target."
        );
        std::process::exit(1);
    }
    let profile = if release { "release" } else { "debug" };
    let binary = target_dir.join(&target).join(profile).join("bb-sidecar");
    if !Path::new(&binary).is_file() {
        eprintln!("error: the sidecar build left no {}", binary.display());
        std::process::exit(1);
    }
    println!("cargo:rustc-env=BB_SIDECAR_EMBEDDED={}", binary.display());
    println!("cargo:rustc-env=BB_SIDECAR_TARGET={target}");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
