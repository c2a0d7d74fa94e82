//! A bottle on a Docker engine over SSH against the references, in one
//! run: key to screen in bb's pane of a remote bottle against `ssh -tt
//! host cat` to the same host (and a local bottle beside it), and `bb
//! start --yes` with warm images on the remote engine against the local
//! one. The remote host is a second dockerd with sshd in a container on
//! this machine (tests/images/engine-host.sh), so the link adds no
//! network delay: the ratio is what bb's path adds over ssh's.
//!
//! `cargo bench --bench engines` (Docker, debootstrap and ssh needed; the
//! base image as for the tests). `BENCH_KEYS` sets the keys (default 200),
//! `BENCH_STARTS` the launches per engine (default 3).

#[path = "../support/mod.rs"]
mod support;

mod bottles;
mod outer;

use std::path::Path;
use std::time::Duration;

use outer::{report, Outer};
use portable_pty::CommandBuilder;
use support::docker::{docker, BASE};
use support::engines::EngineHost;

const ROWS: u16 = 38;
const COLS: u16 = 120;

/// A home with two agents of one `cat` image (keys are echoed by its
/// terminal, as in a pane): `far` pinned to the engine `big`, `near` on
/// the default one.
fn home(dir: &Path, engine: &str) {
    bottles::home(
        dir,
        &["exec cat"],
        &[("far", "engine: big\n"), ("near", "")],
    );
    std::fs::write(
        dir.join("home/config.yaml"),
        format!("engines:\n  big:\n    host: {engine}\n"),
    )
    .expect("config");
}

/// The workspace with one bottle running: its pane focused.
fn workspace(dir: &Path) -> Outer {
    let mut outer = Outer::spawn(bottles::workspace(dir), ROWS, COLS);
    outer.wait_screen("Agents (1)", Duration::from_secs(30));
    // Attached: a line typed comes back from cat.
    outer.send(b"ready\r");
    outer.wait_until(Duration::from_secs(30), |s| s.matches("ready").count() >= 2);
    outer.drain();
    outer
}

fn main() {
    if docker(&["image", "inspect", "-f", "ok", BASE]) != "ok" {
        println!("needs Docker and {BASE} (tests/images/make-base.sh)");
        return;
    }
    let keys: usize = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let starts: usize = std::env::var("BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let host = EngineHost::start();
    let dir = tempfile::tempdir().expect("tempdir");
    home(dir.path(), &host.url);

    // Warm both engines' images, then launch on each in turn.
    for agent in ["far", "near"] {
        let (_, slug, _) = bottles::start(dir.path(), agent);
        bottles::stop(dir.path(), &slug);
    }
    let (mut far, mut near) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        for (agent, times) in [("far", &mut far), ("near", &mut near)] {
            let (took, slug, _) = bottles::start(dir.path(), agent);
            times.push(took);
            bottles::stop(dir.path(), &slug);
        }
    }

    // Key to screen: the remote bottle's pane, then a local one's, then
    // ssh to the same host; interleaved halves.
    let (_, far_slug, _) = bottles::start(dir.path(), "far");
    let mut remote = workspace(dir.path());
    let mut ssh = {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args(["-tt", &host.alias, "cat"]);
        cmd.env("TERM", "xterm-256color");
        let mut o = Outer::spawn(cmd, ROWS, COLS);
        o.send(b"ready\r");
        o.wait_until(Duration::from_secs(30), |s| s.matches("ready").count() >= 2);
        o.drain();
        o
    };
    let (mut bs, mut ss) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        bs.extend(remote.echoes(keys / 2));
        ss.extend(ssh.echoes(keys / 2));
    }
    drop(remote);
    bottles::stop(dir.path(), &far_slug);
    let (_, near_slug, _) = bottles::start(dir.path(), "near");
    let mut local = workspace(dir.path());
    let ls = local.echoes(keys);
    drop(local);
    bottles::stop(dir.path(), &near_slug);
    drop(ssh);

    println!("120x38, engine over ssh to a container on this machine, same run:");
    let ratio = |what: &str, a: Duration, b: Duration| {
        if !b.is_zero() {
            println!("{what}  p50 {:.2}x", a.as_secs_f64() / b.as_secs_f64());
        }
    };
    let sp = report("ssh", "key -> screen", ss);
    let bp = report("bb ssh", "key -> screen", bs);
    ratio("bb over ssh / ssh -tt cat", bp, sp);
    let lp = report("bb", "key -> screen", ls);
    ratio("bb over ssh / bb local", bp, lp);
    let np = report("local", "bb start --yes", near);
    let fp = report("ssh", "bb start --yes", far);
    ratio("bb start remote / local", fp, np);
}
