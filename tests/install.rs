//! bb as a user installs and runs it: the sidecar it carries runs on any
//! base whatever the host's libc, `cargo install` gives a `bb` that
//! launches with nothing beside it, and two homes with different sidecar
//! builds keep their own images. Real Docker engine; every container,
//! network and image a test makes is removed.
//!
//! No registry reaches this machine, so `BB_BASE_IMAGE` names a local
//! Debian base where a user's engine would pull debian:bookworm-slim: the
//! one stand-in here.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use support::docker::{docker, docker_ok, Env};

static SERIAL: Mutex<()> = Mutex::new(());

/// An older Debian than this host's: glibc 2.31 where a host build of
/// bb-sidecar needs 2.34 (tests/images/make-base.sh; CI makes it).
const OLD_BASE: &str = "bb-test-base:bullseye";

/// The static sidecar and console holder bb embeds (build.rs).
const EMBEDDED: &str = env!("BB_SIDECAR_EMBEDDED");
const EMBEDDED_CONSOLE: &str = env!("BB_CONSOLE_EMBEDDED");

fn ensure_old_base() {
    if docker(&["image", "inspect", "-f", "ok", OLD_BASE]) == "ok" {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/make-base.sh");
    let made = Command::new("bash")
        .arg(script)
        .arg(OLD_BASE)
        .env("SUITE", "bullseye")
        .status()
        .unwrap();
    assert!(
        made.success(),
        "tests/images/make-base.sh {OLD_BASE} failed"
    );
}

fn glibc_version(image: Option<&str>) -> String {
    let out = match image {
        Some(image) => docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "getconf",
            image,
            "GNU_LIBC_VERSION",
        ]),
        None => String::from_utf8_lossy(
            &Command::new("getconf")
                .arg("GNU_LIBC_VERSION")
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string(),
    };
    assert!(out.starts_with("glibc "), "getconf said {out:?}");
    out
}

/// `bb start faker --yes` with `bb` and extra variables; the slug and
/// what it said on stderr.
fn start(env: &Env, bb: &Path, vars: &[(&str, &Path)]) -> (String, String) {
    let mut cmd = env.command(bb, &["start", "faker", "--yes"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "bb start failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The sidecar image a bottle's bundle runs.
fn bundle_image(slug: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        &format!("bb-sidecars-{slug}"),
    ])
}

/// The bundle's daemons answer: egress refuses a host off the allowlist
/// with its own 403, asked from inside the agent.
fn assert_bundle_serves(slug: &str) {
    let agent = format!("bb-{slug}");
    let top = docker(&["top", &format!("bb-sidecars-{slug}")]);
    assert!(
        top.contains("bb-sidecar egress") && top.contains("bb-sidecar supervise"),
        "{top}"
    );
    let proxy = docker(&["exec", &agent, "printenv", "HTTP_PROXY"]);
    let hostport = proxy.trim_start_matches("http://").trim_end_matches('/');
    let (host, port) = hostport.split_once(':').unwrap();
    let answer = docker(&[
        "exec",
        &agent,
        "bash",
        "-c",
        &format!(
            "exec 3<>/dev/tcp/{host}/{port}; printf 'GET http://not-allowed.example/ HTTP/1.1\\r\\nHost: not-allowed.example\\r\\nConnection: close\\r\\n\\r\\n' >&3; head -1 <&3"
        ),
    ]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}

#[test]
fn the_bundle_runs_on_a_base_with_another_libc_than_the_hosts() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    ensure_old_base();
    let (host, old) = (glibc_version(None), glibc_version(Some(OLD_BASE)));
    assert_ne!(host, old, "the test needs a base with another libc");

    // The binaries bb carries need no libc at all: they run alone in an
    // image that holds nothing else.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(EMBEDDED, dir.path().join("bb-sidecar")).unwrap();
    std::fs::copy(EMBEDDED_CONSOLE, dir.path().join("bb-console")).unwrap();
    let tag = "bb-test-sidecar-alone:latest";
    let tar = Command::new("tar")
        .args([
            "-C",
            &dir.path().display().to_string(),
            "-c",
            "bb-sidecar",
            "bb-console",
        ])
        .output()
        .unwrap()
        .stdout;
    let mut import = Command::new("docker")
        .args(["import", "-", tag])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), &tar).unwrap();
    assert!(import.wait().unwrap().success());
    let version = docker(&["run", "--rm", tag, "/bb-sidecar", "--version"]);
    let console = docker(&["run", "--rm", tag, "/bb-console", "--version"]);
    docker(&["rmi", "-f", tag]);
    assert!(version.starts_with("bb-sidecar "), "{version:?}");
    assert!(console.starts_with("bb-console "), "{console:?}");

    // A whole bottle whose bundle image is built on the older Debian.
    let env = Env::new("");
    let bb = Path::new(env!("CARGO_BIN_EXE_bb"));
    let (slug, _) = start(&env, bb, &[("BB_BASE_IMAGE", Path::new(OLD_BASE))]);
    let image = bundle_image(&slug);
    assert!(image.starts_with("bb-sidecars:"), "{image}");
    assert_eq!(glibc_version(Some(&image)), old);
    assert_bundle_serves(&slug);
}

/// Where `cargo install --path .` put bb for these tests: its own target
/// dir (the running `cargo test` holds the workspace's), kept between runs.
fn installed_bb() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let install = root.join("target/install-check");
    let o = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--debug", "--quiet", "--path"])
        .arg(root)
        .arg("--root")
        .arg(install.join("root"))
        .env("CARGO_TARGET_DIR", install.join("target"))
        .env_remove("BB_SIDECAR_BIN")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cargo install failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bin = install.join("root/bin");
    let installed: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(installed, ["bb"], "cargo install puts bb alone on PATH");
    bin.join("bb")
}

#[test]
fn an_installed_bb_launches_a_bottle_with_nothing_beside_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let bb = installed_bb();
    let env = Env::new("");
    // PATH holds the installed bb and the system's tools, nothing of ours.
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        bb.parent().unwrap().display()
    );
    let (slug, _) = start(&env, Path::new("bb"), &[("PATH", Path::new(&path))]);
    assert_bundle_serves(&slug);
}

#[test]
fn two_homes_with_different_sidecars_keep_their_own_images() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let bb = Path::new(env!("CARGO_BIN_EXE_bb"));
    // Home B runs another build of the sidecar: the same program with
    // other bytes, as another bb version would carry.
    let other = tempfile::tempdir().unwrap();
    let other_bin = other.path().join("bb-sidecar");
    let mut bytes = std::fs::read(EMBEDDED).unwrap();
    bytes.extend_from_slice(b"\0another build\0");
    std::fs::write(&other_bin, bytes).unwrap();
    std::fs::set_permissions(
        &other_bin,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let (a, b) = (Env::new(""), Env::new(""));
    let (slug_a, _) = start(&a, bb, &[]);
    let (slug_b, log_b) = start(&b, bb, &[("BB_SIDECAR_BIN", &other_bin)]);
    // B's bb finds A's image of other content: it rebuilds, says why, and
    // shows the build as steps with the time, not the builder's output.
    assert!(
        log_b.contains("rebuilding bb-sidecars: what it is built from changed"),
        "{log_b}"
    );
    assert!(log_b.contains("] building bb-sidecars ["), "{log_b}");
    assert!(!log_b.contains("Step 1/"), "{log_b}");
    assert!(!log_b.contains(" ---> "), "{log_b}");
    let (image_a, image_b) = (bundle_image(&slug_a), bundle_image(&slug_b));
    let cleanup = || {
        docker(&["rmi", "-f", &image_b]);
    };
    assert_ne!(image_a, image_b, "each build has its own tag");
    assert!(image_a.starts_with("bb-sidecars:") && image_b.starts_with("bb-sidecars:"));

    // Both bottles run side by side, each on its own build.
    assert_bundle_serves(&slug_a);
    assert_bundle_serves(&slug_b);
    // Home A's next bottle reuses its image, untouched by B's build, and
    // doctor says so.
    let (slug_a2, log) = start(&a, bb, &[]);
    assert_eq!(bundle_image(&slug_a2), image_a);
    assert!(
        log.contains(&format!("image {image_a} is up to date")),
        "{log}"
    );
    let doctor = String::from_utf8_lossy(&a.bb(&["doctor"]).stdout).into_owned();
    assert!(
        doctor.contains(&format!("ok    image {image_a} is built")),
        "{doctor}"
    );
    // Home B stops; A's bottles keep running. B's image, which no
    // container uses any more and A's bb would not build, is what
    // `bb cleanup` offers; A's stays.
    let o = b.bb(&["stop", &slug_b]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dry = String::from_utf8_lossy(&a.bb(&["cleanup", "--dry-run"]).stdout).into_owned();
    assert!(
        dry.contains(&format!("would remove image {image_b} ")),
        "{dry}"
    );
    assert!(!dry.contains(&format!("image {image_a} ")), "{dry}");
    let o = a.bb(&["cleanup"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(docker(&["images", "-q", &image_b]).is_empty());
    assert!(!docker(&["images", "-q", &image_a]).is_empty());
    cleanup();
    assert_bundle_serves(&slug_a);
}
