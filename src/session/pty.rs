//! Sessions whose program runs in a local pseudo-terminal: the test backend
//! and smolvm's `machine exec -t`. One reader thread per PTY (a blocking
//! read never ties up a tokio worker). A key is written straight to the
//! PTY, which is non-blocking: it reaches the program with no thread in
//! between. What does not fit at once (a paste into a program that stops
//! reading) goes to a writer thread, so the keyboard never blocks.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use portable_pty::{native_pty_system, ChildKiller, CommandBuilder, MasterPty, PtySize};

use super::{Notify, Session, SessionEvent, SessionId, SessionIo, SharedTerm, Term};

/// A program to run in a PTY.
#[derive(Debug, Clone, Default)]
pub struct PtyCommand {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Open(String),
    #[error("cannot start {program}: {detail}")]
    Spawn { program: String, detail: String },
}

/// Bytes for the program that did not go straight in, in order.
#[derive(Clone)]
struct Queue {
    tx: mpsc::Sender<Vec<u8>>,
    /// Chunks sent to the writer thread and not yet written: while there
    /// are any, a new write must queue behind them.
    pending: Arc<AtomicUsize>,
}

impl Queue {
    fn push(&self, bytes: Vec<u8>) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        // The writer thread is gone only when the program is; dropping
        // input for a dead program is right.
        if self.tx.send(bytes).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn empty(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }
}

struct PtyIo {
    queue: Queue,
    /// The master's descriptor, non-blocking; valid while `master` is.
    fd: RawFd,
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
}

impl SessionIo for PtyIo {
    fn write(&self, bytes: &[u8]) {
        let mut rest = bytes;
        if self.queue.empty() {
            // SAFETY: `fd` belongs to `self.master`, which outlives `self`'s
            // use of it here.
            let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
            match write_some(fd, rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The program is gone.
                Err(_) => return,
            }
        }
        if !rest.is_empty() {
            self.queue.push(rest.to_vec());
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let master = self.master.lock().unwrap_or_else(|p| p.into_inner());
        let _ = master.resize(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        });
    }

    fn kill(&self) {
        let _ = self.killer.lock().unwrap_or_else(|p| p.into_inner()).kill();
    }
}

/// Start `cmd` in a PTY of `rows` x `cols`.
pub fn spawn(
    id: SessionId,
    cmd: &PtyCommand,
    rows: u16,
    cols: u16,
    scrollback: usize,
    notify: Notify,
) -> Result<Session, PtyError> {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: rows.max(1),
            cols: cols.max(1),
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| PtyError::Open(e.to_string()))?;
    let mut builder = CommandBuilder::new(&cmd.program);
    builder.args(&cmd.args);
    builder.env("TERM", "xterm-256color");
    builder.env("COLORTERM", "truecolor");
    for (k, v) in &cmd.env {
        builder.env(k, v);
    }
    if let Some(cwd) = &cmd.cwd {
        builder.cwd(cwd);
    }
    let spawn_err = |e: &dyn std::fmt::Display| PtyError::Spawn {
        program: cmd.program.clone(),
        detail: e.to_string(),
    };
    let mut child = pair
        .slave
        .spawn_command(builder)
        .map_err(|e| spawn_err(&e))?;
    // The reader sees EOF only once no slave handle is left open here.
    drop(pair.slave);
    let fd = pair
        .master
        .as_raw_fd()
        .ok_or_else(|| spawn_err(&"the PTY has no descriptor"))?;
    // SAFETY: the master is alive here; the clones own their descriptors.
    let master_fd = unsafe { BorrowedFd::borrow_raw(fd) };
    set_nonblocking(master_fd).map_err(|e| spawn_err(&e))?;
    let mut reader = File::from(master_fd.try_clone_to_owned().map_err(|e| spawn_err(&e))?);
    let mut writer = File::from(master_fd.try_clone_to_owned().map_err(|e| spawn_err(&e))?);
    let killer = child.clone_killer();

    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let queue = Queue {
        tx,
        pending: Arc::new(AtomicUsize::new(0)),
    };
    let pending = queue.pending.clone();
    std::thread::Builder::new()
        .name(format!("pty-writer-{id}"))
        .spawn(move || {
            while let Ok(bytes) = rx.recv() {
                let wrote = write_all(&mut writer, &bytes);
                pending.fetch_sub(1, Ordering::AcqRel);
                if wrote.is_err() {
                    break;
                }
            }
        })
        .map_err(|e| spawn_err(&e))?;

    let term = SharedTerm::new(Term::new(rows, cols, scrollback));
    let reader_term = term.clone();
    let replies = queue.clone();
    std::thread::Builder::new()
        .name(format!("pty-reader-{id}"))
        .spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let (answer, first) = reader_term.feed(&buf[..n]);
                        if !answer.is_empty() {
                            replies.push(answer);
                        }
                        if first {
                            notify(SessionEvent::Output(id));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if wait(reader.as_fd(), libc::POLLIN).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EIO: the program and everything it started are gone.
                    Err(_) => break,
                }
            }
            let code = child.wait().ok().map(|s| s.exit_code() as i32);
            notify(SessionEvent::Exited(id, code));
        })
        .map_err(|e| spawn_err(&e))?;

    Ok(Session::new(
        id,
        term,
        Box::new(PtyIo {
            queue,
            fd,
            master: Mutex::new(pair.master),
            killer: Mutex::new(killer),
        }),
    ))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we hold; no memory is passed.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One write on the non-blocking master: how much went in.
fn write_some(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: writes at most bytes.len() bytes from a slice we hold.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// All of `bytes`, waiting for room as the program reads.
fn write_all(writer: &mut File, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match writer.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(writer.as_fd(), libc::POLLOUT)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Block until the descriptor is ready for `events` (or hung up: the
/// read or write that follows says so).
fn wait(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, alive for the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn wait_for(
        events: &Arc<Mutex<Vec<SessionEvent>>>,
        pred: impl Fn(&[SessionEvent]) -> bool,
    ) -> bool {
        // Bounded by count, not by a wall-clock assertion.
        for _ in 0..500 {
            if pred(&events.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// A notify that keeps what it is told.
    fn recorder() -> (Arc<Mutex<Vec<SessionEvent>>>, Notify) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        (events, Arc::new(move |e| sink.lock().unwrap().push(e)))
    }

    /// Whether the session's screen comes to show `text`.
    fn shows(s: &Session, text: &str) -> bool {
        for _ in 0..500 {
            if s.term.lock().text().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn runs_a_program_sizes_it_and_reports_its_exit() {
        let (events, notify) = recorder();
        let cmd = PtyCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "stty size; read line; echo got:$line; exit 3".into(),
            ],
            ..Default::default()
        };
        let mut s = spawn(1, &cmd, 10, 40, 100, notify).unwrap();
        assert!(wait_for(&events, |e| e.contains(&SessionEvent::Output(1))));
        assert!(shows(&s, "10 40"), "{}", s.term.lock().text());
        s.write(b"hello\r");
        assert!(wait_for(&events, |e| e.contains(&SessionEvent::Exited(1, Some(3)))));
        s.exit = Some(Some(3));
        assert!(s.term.lock().text().contains("got:hello"));
    }

    /// More than the PTY holds, written while the program is not reading:
    /// what does not go in at once queues, and later writes queue behind
    /// it, so the program gets every byte in order.
    #[test]
    fn a_big_paste_to_a_busy_program_arrives_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let (events, notify) = recorder();
        let cmd = PtyCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                format!(
                    "stty raw -echo; echo ready; sleep 0.3; head -c 300000 > {}; echo done",
                    out.display()
                ),
            ],
            ..Default::default()
        };
        let s = spawn(1, &cmd, 10, 40, 100, notify).unwrap();
        assert!(shows(&s, "ready"));
        let sent: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in sent.chunks(1000) {
            s.write(chunk);
        }
        assert!(wait_for(&events, |e| e.contains(&SessionEvent::Exited(1, Some(0)))));
        assert!(s.term.lock().text().contains("done"));
        assert!(
            std::fs::read(&out).unwrap() == sent,
            "bytes lost or reordered"
        );
    }
}
