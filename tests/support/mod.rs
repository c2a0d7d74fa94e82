//! Running the real `bb` binary in a pseudo-terminal and reading its screen
//! the way a person would see it, through a vt100 emulator.

#![allow(dead_code)]

pub mod docker;
pub mod engines;
pub mod tmux;
pub mod upstream;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

pub struct Bb {
    pub parser: Arc<Mutex<vt100::Parser>>,
    /// Set to make the reader let go of the terminal (see `hang_up`).
    closing: Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Shared with the reader, which answers the terminal queries bb sends
    /// its outer terminal, as a real terminal does.
    writer: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    master: Option<Box<dyn MasterPty + Send>>,
    pub child: Box<dyn Child + Send + Sync>,
    /// Everything bb wrote to its terminal, as bytes.
    raw: Arc<Mutex<Vec<u8>>>,
}

/// How long a wait for the screen may take before the test fails. Generous:
/// it bounds a hang, it is not a speed requirement.
pub const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

impl Bb {
    pub fn spawn(args: &[&str], env: &[(&str, &str)], cwd: &Path, rows: u16, cols: u16) -> Bb {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_bb"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("BB_HOME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.cwd(cwd);
        let child = pair.slave.spawn_command(cmd).expect("spawn bb");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = Arc::new(Mutex::new(Some(pair.master.take_writer().expect("writer"))));
        let answer = writer.clone();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
            0,
        )));
        let p = parser.clone();
        let raw = Arc::new(Mutex::new(Vec::new()));
        let r = raw.clone();
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = closing.clone();
        let fd = pair.master.as_raw_fd().expect("a unix pty");
        // Wait for output with poll, not in read, so that `hang_up` can
        // make this thread drop its copy of the terminal.
        let reader_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for the length given.
                let ready = unsafe { libc::poll(&mut pfd, 1, 20) };
                if ready <= 0 {
                    continue;
                }
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        p.lock().unwrap().process(&buf[..n]);
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                        // DA1, as every terminal answers it (bb asks at
                        // start, after its colour queries, which this one
                        // does not know).
                        if buf[..n].windows(3).any(|w| w == b"\x1b[c") {
                            if let Some(w) = answer.lock().unwrap().as_mut() {
                                let _ = w.write_all(b"\x1b[?62;22c").and_then(|_| w.flush());
                            }
                        }
                    }
                }
            }
        });
        Bb {
            parser,
            closing,
            reader: Some(reader_thread),
            writer,
            master: Some(pair.master),
            child,
            raw,
        }
    }

    /// Everything bb has written to its terminal so far.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Wait until bb has written `bytes` to its terminal (a bell, a
    /// notification: what the screen does not show).
    pub fn wait_output(&self, what: &str, bytes: &[u8]) {
        let tries = PATIENCE.as_millis() / POLL.as_millis();
        for _ in 0..tries {
            if self
                .raw
                .lock()
                .unwrap()
                .windows(bytes.len())
                .any(|w| w == bytes)
            {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!("bb never wrote {what} ({bytes:?}) to its terminal");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let mut w = self.writer.lock().unwrap();
        let w = w.as_mut().expect("the terminal is open");
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
        // Give bb a moment so separate writes arrive as separate reads.
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn keys(&mut self, text: &str) {
        self.send(text.as_bytes());
    }

    /// The prefix, then a key.
    pub fn prefix(&mut self, key: &str) {
        self.send(b"\x02");
        self.send(key.as_bytes());
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, PATIENCE, pred)
    }

    /// As `wait_for`, for what takes longer (a first build on another
    /// engine).
    pub fn wait_for_within(
        &self,
        what: &str,
        patience: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        self.seen_within(patience, pred)
            .unwrap_or_else(|| panic!("waited for {what}; the screen shows:\n{}", self.screen()))
    }

    /// The screen once `pred` holds, or None after `patience`.
    pub fn seen_within(&self, patience: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let tries = patience.as_millis() / POLL.as_millis();
        for _ in 0..tries {
            let s = self.screen();
            if pred(&s) {
                return Some(s);
            }
            std::thread::sleep(POLL);
        }
        None
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.lock().unwrap().screen_mut().set_size(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
        );
        self.master
            .as_ref()
            .expect("the terminal is open")
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    /// Close the outer terminal, as closing its window does: bb gets
    /// SIGHUP and its terminal is gone.
    pub fn hang_up(&mut self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        *self.writer.lock().unwrap() = None;
        self.master = None;
    }

    /// Kill bb with SIGKILL: no chance to clean up, as in a crash.
    pub fn kill_hard(&mut self) {
        if let Some(pid) = self.child.process_id() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        let _ = self.child.wait();
    }

    /// Wait for bb to exit; its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let tries = PATIENCE.as_millis() / POLL.as_millis();
        for _ in 0..tries {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader drain what bb wrote last.
                std::thread::sleep(Duration::from_millis(100));
                return status.exit_code();
            }
            std::thread::sleep(POLL);
        }
        panic!("bb did not exit; the screen shows:\n{}", self.screen());
    }
}

impl Bb {
    /// The pids of the programs named `comm` that bb started (at any
    /// depth), from /proc.
    pub fn descendants(&self, comm: &str) -> Vec<u32> {
        let Some(bb) = self.child.process_id() else {
            return Vec::new();
        };
        let stat = |pid: u32| -> Option<(String, u32)> {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // comm is in parentheses and may hold spaces; ppid follows the
            // state after the last ')'.
            let (head, tail) = s.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let ppid = tail.split_whitespace().nth(1)?.parse().ok()?;
            Some((name, ppid))
        };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                let Some((name, mut ppid)) = stat(pid) else {
                    return false;
                };
                if name != comm {
                    return false;
                }
                while ppid > 1 {
                    if ppid == bb {
                        return true;
                    }
                    ppid = stat(ppid).map_or(0, |(_, p)| p);
                }
                false
            })
            .collect()
    }

    /// Wait until the program `comm` that bb started is blocked in
    /// `read`: waiting for a key. What a program shows is not proof that
    /// it reads yet (less draws, then may still take a signal), and a key
    /// sent before it reads can be lost to it.
    pub fn wait_reading(&self, comm: &str) {
        eventually(&format!("{comm} to wait for a key"), || {
            self.descendants(comm).iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/syscall"))
                    .is_ok_and(|s| s.split_whitespace().next() == Some("0"))
            })
        });
    }
}

impl Drop for Bb {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Wait until `done` holds, failing after the same patience as a screen
/// wait.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    let tries = PATIENCE.as_millis() / POLL.as_millis();
    for _ in 0..tries {
        if done() {
            return;
        }
        std::thread::sleep(POLL);
    }
    panic!("waited for {what}");
}

/// A bb home with one plain bottle and the given agents.
pub fn home(dir: &Path, agents: &[&str]) {
    std::fs::create_dir_all(dir.join("bottles")).unwrap();
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(
        dir.join("bottles/dev.md"),
        "---\negress:\n  allowlist: [example.com]\n---\n",
    )
    .unwrap();
    for a in agents {
        std::fs::write(
            dir.join(format!("agents/{a}.md")),
            "---\nbottle: dev\n---\nTest agent.\n",
        )
        .unwrap();
    }
}

/// `git ARGS` in `dir` as the user; its stdout (a failure fails the test).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "User")
        .env("GIT_AUTHOR_EMAIL", "user@example.com")
        .env("GIT_COMMITTER_NAME", "User")
        .env("GIT_COMMITTER_EMAIL", "user@example.com")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The stdout of a command that must have succeeded.
pub fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
