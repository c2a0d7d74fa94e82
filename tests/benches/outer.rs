//! The outer terminal of a bench: a program in a PTY, every read timed
//! as it arrives and kept on a vt100 screen, so a bench stops its clock
//! when what a person would see first shows.

// Shared by benches that each use part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

/// Keys whose echo is looked for: none of them is in bb's chrome around
/// a pane that only changes where the key lands.
const KEYS: &[u8] = b"0123456789";

pub struct Outer {
    /// The outer terminal's screen, from everything read: what a person
    /// would see (the workspace redraws only cells that change, so a
    /// line's text need not be in the bytes that make it visible).
    pub screen: vt100::Parser,
    pub master: Box<dyn portable_pty::MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    reads: mpsc::Receiver<(Instant, Vec<u8>)>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Outer {
    pub fn spawn(cmd: CommandBuilder, rows: u16, cols: u16) -> Outer {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
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
                std::num::NonZeroU16::new(rows).unwrap_or(std::num::NonZeroU16::MIN),
                std::num::NonZeroU16::new(cols).unwrap_or(std::num::NonZeroU16::MIN),
                0,
            ),
            master: pair.master,
            writer,
            reads,
            child,
        }
    }

    /// Read until `text` has been seen (or give up after `patience`).
    pub fn wait_for(&mut self, text: &[u8], patience: Duration) -> Option<Instant> {
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

    pub fn drain(&mut self) {
        while let Ok((_, bytes)) = self.reads.recv_timeout(Duration::from_millis(300)) {
            self.screen.process(&bytes);
        }
    }

    /// Read until the screen shows `text`.
    pub fn wait_screen(&mut self, text: &str, patience: Duration) -> Option<Instant> {
        self.wait_until(patience, |screen| screen.contains(text))
    }

    /// Read until the screen is as `pred` wants it.
    pub fn wait_until(
        &mut self,
        patience: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<Instant> {
        let end = Instant::now() + patience;
        while let Ok((at, bytes)) = self
            .reads
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.screen.process(&bytes);
            if pred(&self.screen.screen().contents()) {
                return Some(at);
            }
        }
        None
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
        self.writer.flush().expect("flush");
    }

    /// Echo latency of `n` keys, each after the screen has settled.
    pub fn echoes(&mut self, n: usize) -> Vec<Duration> {
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

    pub fn drain_quick(&mut self) {
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

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn report(name: &str, what: &str, mut samples: Vec<Duration>) -> Duration {
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
