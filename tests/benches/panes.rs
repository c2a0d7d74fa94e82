//! Key to screen and resize to SIGWINCH, in bb and in tmux (the reference)
//! side by side, in one run. Both run, at 120x38 in a PTY, a program that
//! prints its size on SIGWINCH and otherwise waits (keys are echoed by the
//! pane's terminal, as for `cat`). A key is written to the outer terminal
//! and the clock stops at the first output that carries its echo; the
//! outer terminal is resized, and the program tells when its SIGWINCH
//! came (by the clock it shares with the bench) and the clock stops when
//! that line shows. Printed as p50 / p90 and the ratio to tmux.
//!
//! `cargo bench --bench panes` (tmux must be installed: it is the
//! reference, and is used nowhere else). `BENCH_KEYS` sets the number of
//! keys (default 200); `BENCH_BB` runs another bb binary (a build to
//! compare with).

mod outer;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use outer::{report, Outer};
use portable_pty::{CommandBuilder, PtySize};

const ROWS: u16 = 38;
const COLS: u16 = 120;
/// The program in the pane (bash, for its clock): on each SIGWINCH, when
/// it arrived and its new size; else it waits.
const PROGRAM: &str = r#"n=0
trap 'at=$EPOCHREALTIME; n=$((n+1)); echo "winch-$n $at $(stty size)"' WINCH
while :; do sleep 1 & wait; done
"#;

/// What panes measure in a terminal.
trait Measure {
    fn resizes(&mut self, n: usize, winches: &mut usize) -> (Vec<Duration>, Vec<Duration>);
}

impl Measure for Outer {
    /// Of `n` resizes, alternating between two sizes, each after the
    /// screen has settled: the time until the program's SIGWINCH (by its
    /// own clock), and until its answer shows.
    fn resizes(&mut self, n: usize, winches: &mut usize) -> (Vec<Duration>, Vec<Duration>) {
        let (mut winch, mut shown) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (rows, cols) = if i % 2 == 0 {
                (ROWS + 2, COLS + 10)
            } else {
                (ROWS, COLS)
            };
            self.drain_quick();
            self.screen.set_size(
                std::num::NonZeroU16::new(rows).unwrap_or(std::num::NonZeroU16::MIN),
                std::num::NonZeroU16::new(cols).unwrap_or(std::num::NonZeroU16::MIN),
            );
            let t0 = Instant::now();
            let wall = std::time::SystemTime::now();
            self.master
                .resize(PtySize {
                    rows,
                    cols,
                    pixel_width: 0,
                    pixel_height: 0,
                })
                .expect("resize");
            *winches += 1;
            let token = format!("winch-{} ", *winches);
            if let Some(at) = self.wait_screen(&token, Duration::from_secs(2)) {
                shown.push(at.duration_since(t0));
                let contents = self.screen.screen().contents();
                let arrived = contents
                    .lines()
                    .find_map(|l| l.split_once(&token))
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|secs| secs.parse::<f64>().ok())
                    .map(|secs| std::time::UNIX_EPOCH + Duration::from_secs_f64(secs));
                if let Some(d) = arrived.and_then(|a| a.duration_since(wall).ok()) {
                    winch.push(d);
                }
            }
            std::thread::sleep(Duration::from_millis(150));
            self.drain_quick();
        }
        (winch, shown)
    }
}

/// The command that runs PROGRAM, from a file in `dir`.
fn program(dir: &std::path::Path) -> String {
    let path = dir.join("winch.sh");
    std::fs::write(&path, PROGRAM).expect("program");
    format!("exec bash {}", path.display())
}

fn bb(dir: &std::path::Path) -> Outer {
    bb_running(dir, &program(dir))
}

fn bb_running(dir: &std::path::Path, program: &str) -> Outer {
    let home = dir.join("home");
    let agents = home.join("agents");
    std::fs::create_dir_all(home.join("bottles")).expect("home");
    std::fs::create_dir_all(&agents).expect("home");
    std::fs::write(home.join("bottles/dev.md"), "---\n---\n").expect("bottle");
    std::fs::write(agents.join("cat.md"), "---\nbottle: dev\n---\nEchoes.\n").expect("agent");
    let bin = std::env::var("BENCH_BB").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bb").into());
    let mut cmd = CommandBuilder::new(bin);
    cmd.args(["--local-backend", program]);
    cmd.env("TERM", "xterm-256color");
    cmd.env("BB_HOME", &home);
    cmd.cwd(dir);
    let mut outer = Outer::spawn(cmd, ROWS, COLS);
    outer.wait_for(b"No agent", Duration::from_secs(10));
    open_agent(&mut outer);
    outer
}

/// Start another agent in the workspace.
fn open_agent(outer: &mut Outer) {
    outer.send(b"\x02n");
    outer.wait_for(b"New agent", Duration::from_secs(10));
    outer.send(b"\r");
    outer.wait_for(b"y/N", Duration::from_secs(10));
    outer.send(b"y");
    outer.wait_for(b"is running", Duration::from_secs(10));
    outer.drain();
}

fn tmux(dir: &std::path::Path) -> Outer {
    tmux_running(dir, "bb-bench", &program(dir))
}

fn tmux_running(dir: &std::path::Path, socket: &str, program: &str) -> Outer {
    let mut cmd = CommandBuilder::new("tmux");
    cmd.args([
        "-L",
        socket,
        "-f",
        "/dev/null",
        "new-session",
        "sh",
        "-c",
        program,
    ]);
    cmd.env("TERM", "xterm-256color");
    cmd.cwd(dir);
    let mut outer = Outer::spawn(cmd, ROWS, COLS);
    outer.drain();
    outer
}

fn main() {
    let n: usize = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        println!("tmux is not installed: it is the reference; install it to run this bench");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = tmux(dir.path());
    let mut b = bb(dir.path());
    // Interleaved halves, so neither runs on a quieter machine.
    let (mut bs, mut ts) = (Vec::new(), Vec::new());
    let (mut br, mut tr) = (Vec::new(), Vec::new());
    let (mut bsig, mut tsig) = (Vec::new(), Vec::new());
    let (mut t_winches, mut b_winches) = (0, 0);
    for _ in 0..2 {
        ts.extend(t.echoes(n / 2));
        bs.extend(b.echoes(n / 2));
        let (winch, shown) = t.resizes(n / 10, &mut t_winches);
        tsig.extend(winch);
        tr.extend(shown);
        let (winch, shown) = b.resizes(n / 10, &mut b_winches);
        bsig.extend(winch);
        br.extend(shown);
    }
    let _ = std::process::Command::new("tmux")
        .args(["-L", "bb-bench", "kill-server"])
        .status();
    println!("120x38, same run:");
    let ratio = |b: Duration, t: Duration| {
        if !t.is_zero() {
            println!("bb / tmux  p50 {:.2}x", b.as_secs_f64() / t.as_secs_f64());
        }
    };
    let tp = report("tmux", "key -> screen", ts);
    let bp = report("bb", "key -> screen", bs);
    ratio(bp, tp);
    let tp = report("tmux", "resize -> SIGWINCH", tsig);
    let bp = report("bb", "resize -> SIGWINCH", bsig);
    ratio(bp, tp);
    let tp = report("tmux", "resize -> shown", tr);
    let bp = report("bb", "resize -> shown", br);
    ratio(bp, tp);

    // Throughput: a shell in each prints 2,000,000 lines, then 50 MB of
    // coloured text; the clock stops when the line after it shows on the
    // outer terminal.
    let shell = "exec bash --norc --noprofile";
    let mut t = tmux_running(dir.path(), "bb-bench-seq", shell);
    let mut b = bb_running(dir.path(), shell);
    let colours = coloured(dir.path());
    let runs = [
        ("seq 1 2000000", "seq 1 2000000".to_string()),
        ("50 MB coloured", format!("cat {}", colours.display())),
    ];
    for (n, (what, command)) in runs.iter().enumerate() {
        let (mut bw, mut tw) = (Vec::new(), Vec::new());
        for round in 0..3 {
            for (outer, out) in [(&mut t, &mut tw), (&mut b, &mut bw)] {
                outer.drain_quick();
                let t0 = Instant::now();
                outer.send(format!("{command}; echo end-{n}-{round}-$((6*7))\r").as_bytes());
                // The screen, not the bytes: where the last round's line
                // was, only the cells that differ are redrawn.
                if let Some(at) =
                    outer.wait_screen(&format!("end-{n}-{round}-42"), Duration::from_secs(180))
                {
                    out.push(at.duration_since(t0));
                }
                outer.drain();
            }
        }
        let tp = report("tmux", what, tw);
        let bp = report("bb", what, bw);
        ratio(bp, tp);
    }
    let _ = std::process::Command::new("tmux")
        .args(["-L", "bb-bench-seq", "kill-server"])
        .status();
    drop((t, b));

    // Idle: ten sessions with a shell each, nothing happening.
    let socket = "bb-bench-idle";
    let t = tmux_running(dir.path(), socket, shell);
    for _ in 1..IDLE_SESSIONS {
        let _ = std::process::Command::new("tmux")
            .args(["-L", socket, "new-window", "-d", shell])
            .status();
    }
    let server = std::process::Command::new("tmux")
        .args(["-L", socket, "display-message", "-p", "#{pid}"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        });
    let mut b = bb_running(dir.path(), shell);
    for _ in 1..IDLE_SESSIONS {
        open_agent(&mut b);
    }
    let tmux_pids: Vec<u32> = [t.child.process_id(), server]
        .into_iter()
        .flatten()
        .collect();
    let bb_pids: Vec<u32> = b.child.process_id().into_iter().collect();
    std::thread::sleep(Duration::from_secs(2));
    let (t0, b0) = (usage(&tmux_pids), usage(&bb_pids));
    std::thread::sleep(IDLE_FOR);
    let (t1, b1) = (usage(&tmux_pids), usage(&bb_pids));
    let _ = std::process::Command::new("tmux")
        .args(["-L", socket, "kill-server"])
        .status();
    // Threads that ended in between (a pool's idle ones) are not counted;
    // threads that began are, whole.
    let per_s = |(cpu0, w0): &(Duration, BTreeMap<String, u64>),
                 (cpu1, w1): &(Duration, BTreeMap<String, u64>)| {
        let s = IDLE_FOR.as_secs_f64();
        let woke: u64 = w1
            .iter()
            .map(|(tid, n)| n.saturating_sub(w0.get(tid).copied().unwrap_or(0)))
            .sum();
        (
            cpu1.saturating_sub(*cpu0).as_secs_f64() / s * 100.0,
            woke as f64 / s,
        )
    };
    let (tc, tw) = per_s(&t0, &t1);
    let (bc, bw) = per_s(&b0, &b1);
    println!(
        "idle, {IDLE_SESSIONS} sessions, {}s: tmux (server and client) CPU {tc:.2}% {tw:.1} wake-ups/s; bb CPU {bc:.2}% {bw:.1} wake-ups/s",
        IDLE_FOR.as_secs()
    );
}

const IDLE_SESSIONS: usize = 10;
const IDLE_FOR: Duration = Duration::from_secs(10);

/// CPU time of processes, and the context switches (each a sleep or a
/// preemption: the wake-ups) of each of their threads.
fn usage(pids: &[u32]) -> (Duration, BTreeMap<String, u64>) {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let (mut ticks, mut switches) = (0u64, BTreeMap::new());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command's name: state, then utime and stime are the
        // 12th and 13th fields.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        ticks += fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for task in tasks.into_iter().flatten().flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let n = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            switches.insert(format!("{pid}/{:?}", task.file_name()), n);
        }
    }
    (Duration::from_millis(ticks * 1000 / hz), switches)
}

/// 50 MB of text in 256 colours and in truecolour, with bold and
/// underlined runs, as a build's or a test runner's coloured output.
fn coloured(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("colours.txt");
    let mut text = Vec::with_capacity(51 << 20);
    let mut i = 0u32;
    while text.len() < 50_000_000 {
        let _ = writeln!(
            text,
            "\x1b[38;5;{}m{i:08}\x1b[0m \x1b[1;48;5;{}mcoloured\x1b[0m \x1b[4;38;2;{};{};{}mtext\x1b[0m and plain words after it",
            i % 256,
            (i / 7) % 256,
            i % 251,
            (i * 3) % 253,
            (i * 7) % 255
        );
        i += 1;
    }
    std::fs::write(&path, text).expect("coloured text");
    path
}
