//! Key to screen and resize to SIGWINCH, in bb and in tmux (the reference)
//! side by side, in one run. Both run, at 120x38 in a PTY, a program that
//! prints its size on SIGWINCH and otherwise waits (keys are echoed by the
//! pane's terminal, as for `cat`). A key is written to the outer terminal
//! and the clock stops at the first output that carries its echo; the
//! outer terminal is resized and the clock stops when the program's line
//! about it shows. Printed as p50 / p90 and the ratio to tmux.
//!
//! `cargo bench --bench panes` (tmux must be installed: it is the
//! reference, and is used nowhere else). `BENCH_KEYS` sets the number of
//! keys (default 200); `BENCH_BB` runs another bb binary (a build to
//! compare with).

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const ROWS: u16 = 38;
const COLS: u16 = 120;
/// Keys whose echo is looked for: none of them is in bb's chrome around
/// a pane that only changes where the key lands.
const KEYS: &[u8] = b"0123456789";
/// The program in the pane: its size on each SIGWINCH, else it waits.
const PROGRAM: &str =
    "n=0; trap 'n=$((n+1)); echo \"winch-$n $(stty size)\"' WINCH; while :; do sleep 1 & wait; done";

struct Outer {
    /// The outer terminal's screen, from everything read: what a person
    /// would see (the workspace redraws only cells that change, so a
    /// line's text need not be in the bytes that make it visible).
    screen: vt100::Parser,
    /// SIGWINCHs the program has been sent.
    winches: usize,
    master: Box<dyn portable_pty::MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    reads: mpsc::Receiver<(Instant, Vec<u8>)>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Outer {
    fn spawn(cmd: CommandBuilder) -> Outer {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let child = pair.slave.spawn_command(cmd).expect("spawn");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let (tx, reads) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        Outer {
            screen: vt100::Parser::new(
                std::num::NonZeroU16::new(ROWS).unwrap_or(std::num::NonZeroU16::MIN),
                std::num::NonZeroU16::new(COLS).unwrap_or(std::num::NonZeroU16::MIN),
                0,
            ),
            winches: 0,
            master: pair.master,
            writer,
            reads,
            child,
        }
    }

    /// Read until `text` has been seen (or give up after `patience`).
    fn wait_for(&mut self, text: &[u8], patience: Duration) -> Option<Instant> {
        let end = Instant::now() + patience;
        let mut seen = Vec::new();
        while let Ok((at, bytes)) = self
            .reads
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.screen.process(&bytes);
            seen.extend_from_slice(&bytes);
            if seen.windows(text.len()).any(|w| w == text) {
                return Some(at);
            }
        }
        None
    }

    fn drain(&mut self) {
        while let Ok((_, bytes)) = self.reads.recv_timeout(Duration::from_millis(300)) {
            self.screen.process(&bytes);
        }
    }

    /// Read until the screen shows `text`.
    fn wait_screen(&mut self, text: &str, patience: Duration) -> Option<Instant> {
        let end = Instant::now() + patience;
        while let Ok((at, bytes)) = self
            .reads
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.screen.process(&bytes);
            if self.screen.screen().contents().contains(text) {
                return Some(at);
            }
        }
        None
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
        self.writer.flush().expect("flush");
    }

    /// Echo latency of `n` keys, each after the screen has settled.
    fn echoes(&mut self, n: usize) -> Vec<Duration> {
        let mut out = Vec::new();
        for i in 0..n {
            let key = KEYS[i % KEYS.len()];
            // A fresh line now and then keeps the cursor on the screen.
            if i % 60 == 59 {
                self.send(b"\r");
                self.drain();
            }
            let t0 = Instant::now();
            self.send(&[key]);
            if let Some(at) = self.wait_for(&[key], Duration::from_secs(2)) {
                out.push(at.duration_since(t0));
            }
            std::thread::sleep(Duration::from_millis(30));
            self.drain_quick();
        }
        out
    }

    /// Resize-to-SIGWINCH latency of `n` resizes, alternating between two
    /// sizes, each after the screen has settled.
    fn resizes(&mut self, n: usize) -> Vec<Duration> {
        let mut out = Vec::new();
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
            self.master
                .resize(PtySize {
                    rows,
                    cols,
                    pixel_width: 0,
                    pixel_height: 0,
                })
                .expect("resize");
            self.winches += 1;
            let token = format!("winch-{} ", self.winches);
            if let Some(at) = self.wait_screen(&token, Duration::from_secs(2)) {
                out.push(at.duration_since(t0));
            }
            std::thread::sleep(Duration::from_millis(150));
            self.drain_quick();
        }
        out
    }

    fn drain_quick(&mut self) {
        while let Ok((_, bytes)) = self.reads.try_recv() {
            self.screen.process(&bytes);
        }
    }
}

impl Drop for Outer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let (p50, p90) = (percentile(&samples, 0.5), percentile(&samples, 0.9));
    println!(
        "{name:<6} {what:<16} p50 {:>6.2} ms  p90 {:>6.2} ms  ({} samples)",
        p50.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        samples.len()
    );
    p50
}

fn bb(dir: &std::path::Path) -> Outer {
    bb_running(dir, PROGRAM)
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
    let mut outer = Outer::spawn(cmd);
    outer.wait_for(b"No agent", Duration::from_secs(10));
    outer.send(b"\x02n");
    outer.wait_for(b"New agent", Duration::from_secs(10));
    outer.send(b"\r");
    outer.wait_for(b"y/N", Duration::from_secs(10));
    outer.send(b"y");
    outer.wait_for(b"is running", Duration::from_secs(10));
    outer.drain();
    outer
}

fn tmux(dir: &std::path::Path) -> Outer {
    tmux_running(dir, "bb-bench", PROGRAM)
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
    let mut outer = Outer::spawn(cmd);
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
    for _ in 0..2 {
        ts.extend(t.echoes(n / 2));
        bs.extend(b.echoes(n / 2));
        tr.extend(t.resizes(n / 10));
        br.extend(b.resizes(n / 10));
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
    let tp = report("tmux", "resize -> SIGWINCH", tr);
    let bp = report("bb", "resize -> SIGWINCH", br);
    ratio(bp, tp);

    // Throughput: a shell in each prints 2,000,000 lines; the clock stops
    // when the line after them shows on the outer terminal.
    let shell = "exec bash --norc --noprofile";
    let mut t = tmux_running(dir.path(), "bb-bench-seq", shell);
    let mut b = bb_running(dir.path(), shell);
    let (mut bw, mut tw) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for (outer, out) in [(&mut t, &mut tw), (&mut b, &mut bw)] {
            outer.drain_quick();
            let t0 = Instant::now();
            outer.send(format!("seq 1 2000000; echo end-{round}-$((6*7))\r").as_bytes());
            // The screen, not the bytes: where the last round's line was,
            // only the cells that differ are redrawn.
            if let Some(at) =
                outer.wait_screen(&format!("end-{round}-42"), Duration::from_secs(120))
            {
                out.push(at.duration_since(t0));
            }
            outer.drain();
        }
    }
    let _ = std::process::Command::new("tmux")
        .args(["-L", "bb-bench-seq", "kill-server"])
        .status();
    let tp = report("tmux", "seq 1 2000000", tw);
    let bp = report("bb", "seq 1 2000000", bw);
    ratio(bp, tp);
}
