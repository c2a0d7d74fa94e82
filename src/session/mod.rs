//! Live agent sessions: bytes out of a program into an emulator, bytes in
//! from the keyboard, and resizes. The transport (a local PTY, a Docker
//! exec stream, a smolvm exec in a PTY) is hidden behind [`SessionIo`].

pub mod activity;
mod colours;
pub mod draw;
mod history;
mod input;
mod notice;
pub mod pty;
pub mod term;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use colours::{parse_outer_colours, set_outer_colours, OuterColours};
pub use term::{Calls, Term, DEFAULT_SCROLLBACK};

pub type SessionId = u64;

/// What a session tells the workspace, from whichever thread reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// New output was parsed (sent once until the workspace looks).
    Output(SessionId),
    /// The program ended; `None` when the code could not be read.
    Exited(SessionId, Option<i32>),
}

/// Where session events go; the workspace's event channel in practice.
pub type Notify = Arc<dyn Fn(SessionEvent) + Send + Sync>;

/// The input side of a transport.
pub trait SessionIo: Send {
    /// Queue bytes for the program; never blocks on a slow reader.
    fn write(&self, bytes: &[u8]);
    /// Tell the program its window size changed.
    fn resize(&self, rows: u16, cols: u16);
    /// End the program (the bottle itself is left alone).
    fn kill(&self);
}

/// The emulator shared between a transport's reader and the workspace.
#[derive(Clone)]
pub struct SharedTerm {
    term: Arc<Mutex<Term>>,
    dirty: Arc<AtomicBool>,
    /// When the synchronized frame being drawn began.
    sync_since: Arc<Mutex<Option<std::time::Instant>>>,
}

/// How long a synchronized frame may stay open before it is drawn anyway.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_millis(150);

impl SharedTerm {
    pub fn new(term: Term) -> SharedTerm {
        SharedTerm {
            term: Arc::new(Mutex::new(term)),
            dirty: Arc::new(AtomicBool::new(false)),
            sync_since: Arc::new(Mutex::new(None)),
        }
    }

    /// Lock the emulator. A reader that panicked mid-parse leaves a
    /// consistent-enough screen, so a poisoned lock is used as it is.
    pub fn lock(&self) -> MutexGuard<'_, Term> {
        self.term.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parse output; returns replies for the program and whether the
    /// workspace should be told (it was not already told since it looked).
    ///
    /// A frame the program synchronizes (`CSI ? 2026 h` ... `l`) is
    /// announced when it ends, so the workspace does not draw half of it;
    /// one left open longer than SYNC_WAIT is announced anyway.
    pub fn feed(&self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let (replies, synchronized) = {
            let mut term = self.lock();
            let replies = term.feed(bytes);
            (replies, term.synchronized())
        };
        let mut since = self.sync_since.lock().unwrap_or_else(|p| p.into_inner());
        if synchronized {
            let started = *since.get_or_insert_with(std::time::Instant::now);
            if started.elapsed() < SYNC_WAIT {
                return (replies, false);
            }
        } else {
            *since = None;
        }
        let first = !self.dirty.swap(true, Ordering::AcqRel);
        (replies, first)
    }

    /// The workspace has drawn the latest output.
    pub fn mark_seen(&self) {
        self.dirty.store(false, Ordering::Release);
    }
}

/// A running (or ended) session and its emulator.
pub struct Session {
    pub id: SessionId,
    pub term: SharedTerm,
    io: Box<dyn SessionIo>,
    pub exit: Option<Option<i32>>,
}

impl Session {
    pub fn new(id: SessionId, term: SharedTerm, io: Box<dyn SessionIo>) -> Session {
        Session {
            id,
            term,
            io,
            exit: None,
        }
    }

    pub fn write(&self, bytes: &[u8]) {
        if self.exit.is_none() && !bytes.is_empty() {
            self.io.write(bytes);
        }
    }

    /// Resize emulator and program together; a same-size resize does
    /// nothing (agents redraw on every resize).
    pub fn resize(&self, rows: u16, cols: u16) -> bool {
        let changed = self.term.lock().resize(rows, cols);
        if changed && self.exit.is_none() {
            self.io.resize(rows, cols);
        }
        changed
    }

    pub fn kill(&self) {
        self.io.kill();
    }

    pub fn exited(&self) -> bool {
        self.exit.is_some()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.io.kill();
    }
}

/// A transport that records what it was sent; for tests and views.
#[derive(Clone, Default)]
pub struct RecordingIo {
    pub written: Arc<Mutex<Vec<u8>>>,
    pub sizes: Arc<Mutex<Vec<(u16, u16)>>>,
}

impl SessionIo for RecordingIo {
    fn write(&self, bytes: &[u8]) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
    }
    fn resize(&self, rows: u16, cols: u16) {
        self.sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((rows, cols));
    }
    fn kill(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synchronized_frame_is_announced_when_it_is_whole() {
        let t = SharedTerm::new(Term::new(4, 20, 0));
        assert!(
            !t.feed(b"\x1b[?2026h\x1b[Hhalf a fr").1,
            "mid-frame: not yet"
        );
        assert!(!t.feed(b"ame").1);
        assert!(t.feed(b"\x1b[?2026l").1, "the frame is whole");
        t.mark_seen();
        assert!(t.feed(b"plain output").1);
    }
}
