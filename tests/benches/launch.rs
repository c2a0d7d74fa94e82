//! A bottle's launch against `docker run` of the same agent image, in one
//! run, warm images: from `y` in the workspace's preflight to the agent's
//! first screen in its pane, against `docker run --rm IMAGE` to the same
//! program's first output; and `bb start --yes` with the time of each of
//! its steps (as its progress says them), averaged.
//!
//! `cargo bench --bench launch` (Docker and the base image, as for the
//! tests). `BENCH_STARTS` sets the launches of each kind (default 5).

#[path = "../support/mod.rs"]
mod support;

mod bottles;
mod outer;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outer::{report, Outer};
use support::docker::{docker, BASE};

const ROWS: u16 = 38;
const COLS: u16 = 120;
/// What the agent prints first.
const FIRST: &str = "first screen of the agent";

/// The progress lines that end in their time: `[0:01] networks … (0.15 s)`.
fn steps(said: &str) -> Vec<(String, f64)> {
    said.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (text, time) = l.strip_suffix(" s)")?.rsplit_once(" (")?;
            let secs: f64 = time.parse().ok()?;
            let text = text.split_once("] ").map_or(text, |(_, t)| t);
            // The step's kind, not the bottle's names in it.
            let kind: String = text
                .split_whitespace()
                .filter(|w| !w.starts_with("bb-") && !w.contains('/'))
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            Some((kind, secs))
        })
        .collect()
}

/// `docker run --rm IMAGE claude` until its first line: how long.
fn docker_run(image: &str) -> Duration {
    let t0 = Instant::now();
    let mut child = Command::new("docker")
        .args(["run", "--rm", "-i", image, "/usr/local/bin/claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker run");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out).read_line(&mut line).expect("read");
    let took = t0.elapsed();
    assert!(line.contains(FIRST), "docker run said {line:?}");
    drop(child.stdin.take());
    let _ = child.wait();
    took
}

/// The workspace, a new agent launched from it: `y` in the preflight to
/// the agent's first screen in the pane.
fn first_screen(dir: &Path) -> Duration {
    let mut outer = Outer::spawn(bottles::workspace(dir), ROWS, COLS);
    outer
        .wait_screen("No agent is running here yet.", Duration::from_secs(30))
        .expect("the workspace");
    outer.send(b"\x02n");
    outer
        .wait_screen("New agent", Duration::from_secs(30))
        .expect("the picker");
    outer.send(b"\r");
    outer
        .wait_screen("Launch quick? y/N", Duration::from_secs(30))
        .expect("the preflight");
    outer.drain();
    let t0 = Instant::now();
    outer.send(b"y");
    let at = outer
        .wait_screen(FIRST, Duration::from_secs(60))
        .expect("the agent's first screen");
    let took = at - t0;
    // Stop it from the workspace, and leave.
    outer.send(b"\x02x");
    outer
        .wait_screen("Stop quick", Duration::from_secs(30))
        .expect("the stop question");
    outer.send(b"y");
    outer
        .wait_screen("stopped", Duration::from_secs(60))
        .expect("stopped");
    outer.send(b"\x02d");
    let _ = outer.child.wait();
    took
}

fn main() {
    if docker(&["image", "inspect", "-f", "ok", BASE]) != "ok" {
        println!("needs Docker and {BASE} (tests/images/make-base.sh)");
        return;
    }
    let starts: usize = std::env::var("BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    bottles::home(
        dir.path(),
        &[&format!("echo {FIRST}"), "exec cat"],
        &[("quick", "")],
    );

    // Warm: both images built, and the agent's image named for docker run.
    let (_, slug, _) = bottles::start(dir.path(), "quick");
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &format!("bb-{slug}")]);
    bottles::stop(dir.path(), &slug);
    docker_run(&image);

    let (mut runs, mut screens, mut starts_took) = (Vec::new(), Vec::new(), Vec::new());
    let mut phases: BTreeMap<String, (usize, f64, usize)> = BTreeMap::new();
    for _ in 0..starts {
        runs.push(docker_run(&image));
        screens.push(first_screen(dir.path()));
        let (took, slug, said) = bottles::start(dir.path(), "quick");
        let steps = steps(&said);
        starts_took.push(took);
        let order = phases.len();
        for (i, (kind, secs)) in steps.into_iter().enumerate() {
            let e = phases.entry(kind).or_insert((order + i, 0.0, 0));
            e.1 += secs;
            e.2 += 1;
        }
        bottles::stop(dir.path(), &slug);
    }

    println!("warm images, {} launches of each, same run:", starts);
    let run = report("docker", "run -> output", runs);
    let screen = report("bb", "y -> first screen", screens);
    let whole = report("bb", "start --yes", starts_took);
    if !run.is_zero() {
        println!(
            "bb first screen / docker run  p50 {:.2}x",
            screen.as_secs_f64() / run.as_secs_f64()
        );
        println!(
            "bb start --yes / docker run   p50 {:.2}x",
            whole.as_secs_f64() / run.as_secs_f64()
        );
    }
    println!("bb start --yes, each step (mean):");
    let mut ordered: Vec<_> = phases.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _, _))| *order);
    for (kind, (_, total, n)) in ordered {
        println!("  {:>7.0} ms  {kind}", total / n as f64 * 1e3);
    }
}
