//! Builds `bb-sidecar` (the bundle's daemons) and `bb-console` (the agent
//! container's console holder) as static Linux binaries (musl) and hands
//! their paths to bb, which embeds them: they then run on any base,
//! whatever the host's libc, and an installed `bb` needs nothing beside it.

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
    println!("cargo:rerun-if-env-changed=PATH");

    // Docker runs Linux of the host's architecture (Docker Desktop too).
    let target = std::env::var("BB_SIDECAR_TARGET")
        .unwrap_or_else(|_| format!("{}-unknown-linux-musl", env("CARGO_CFG_TARGET_ARCH")));
    let release = env("PROFILE") == "release";
    // <target dir>/<profile>/build/bb-<hash>/out: build beside the profile,
    // so the nested build is incremental and never takes the outer lock.
    let out = PathBuf::from(env("OUT_DIR"));
    let target_dir = out.ancestors().nth(3).unwrap_or(&out).join("sidecar-build");

    ensure_target(&target);
    let mut cargo = Command::new(env("CARGO"));
    cargo
        .args([
            "build",
            "--package",
            "bb-sidecar",
            "--bin",
            "bb-sidecar",
            "--bin",
            "bb-console",
        ])
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
    if let Some((var, cc)) = c_compiler(&target) {
        cargo.env(var, cc);
    }
    let status = cargo.status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!(
            "error: building the static bb-sidecar for {target} failed (above); a C compiler \
             for {target} may be missing: `apt-get install musl-tools` (Fedora: `dnf install \
             musl-gcc`), or name one in CC_{}",
            target.replace('-', "_")
        );
        std::process::exit(1);
    }
    let profile = if release { "release" } else { "debug" };
    for (name, var) in [
        ("bb-sidecar", "BB_SIDECAR_EMBEDDED"),
        ("bb-console", "BB_CONSOLE_EMBEDDED"),
    ] {
        let binary = target_dir.join(&target).join(profile).join(name);
        if !Path::new(&binary).is_file() {
            eprintln!("error: the sidecar build left no {}", binary.display());
            std::process::exit(1);
        }
        println!("cargo:rustc-env={var}={}", binary.display());
    }
    println!("cargo:rustc-env=BB_SIDECAR_TARGET={target}");
}

/// The Rust standard library for `target`, fetched the way cargo fetches
/// crates: by the toolchain's own installer, when there is one.
fn ensure_target(target: &str) {
    // Built against it: a target removed since is fetched again.
    if let Some(dir) = target_libdir(target) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    if has_target(target) {
        return;
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", target]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    let added = rustup.stdout(Stdio::null()).status();
    if matches!(added, Ok(s) if s.success()) && has_target(target) {
        println!(
            "cargo:warning=added the Rust target {target} (for the static bb-sidecar bb carries)"
        );
        return;
    }
    eprintln!(
        "error: bb's static sidecar needs the Rust target {target} and rustup could not add it: \
         run `rustup target add {target}` (without rustup: install your toolchain's {target} \
         standard library)"
    );
    std::process::exit(1);
}

/// Where rustc keeps the standard library for `target`, there or not.
fn target_libdir(target: &str) -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Whether rustc has a standard library for `target`.
fn has_target(target: &str) -> bool {
    target_libdir(target).is_some_and(|dir| {
        std::fs::read_dir(dir).is_ok_and(|mut entries| {
            entries
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        })
    })
}

/// The C compiler for the sidecar's C parts (ring), when the C build would
/// otherwise look for a musl compiler the machine lacks. ring's C needs no
/// libc, so the host's own compiler builds it for musl of the same
/// architecture; rustc links with musl's own startup files and libc.
fn c_compiler(target: &str) -> Option<(String, String)> {
    let var = format!("CC_{}", target.replace('-', "_"));
    for set in [var.as_str(), &format!("CC_{target}"), "TARGET_CC"] {
        println!("cargo:rerun-if-env-changed={set}");
        if std::env::var_os(set).is_some() {
            return None;
        }
    }
    let arch = target.split('-').next().unwrap_or_default();
    if on_path(&format!("{arch}-linux-musl-gcc")) || on_path("musl-gcc") {
        return None;
    }
    let host = env("HOST");
    if !host.starts_with(&format!("{arch}-")) || !host.contains("-linux-") {
        eprintln!(
            "error: bb's static sidecar for {target} needs a C compiler for it, and this \
             {host} machine has none: install a musl cross compiler and name it in {var}"
        );
        std::process::exit(1);
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    Some((var, cc))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
