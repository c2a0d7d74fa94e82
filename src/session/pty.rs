//! Sessions whose program runs in a local pseudo-terminal: the test backend
//! and smolvm's `machine exec -t`. One reader thread per PTY (a blocking
//! read never ties up a tokio worker) and one writer thread, so a program
//! that stops reading never blocks the keyboard.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;

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

struct PtyIo {
    input: mpsc::Sender<Vec<u8>>,
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
}

impl SessionIo for PtyIo {
    fn write(&self, bytes: &[u8]) {
        // The writer thread is gone only when the program is; dropping
        // input for a dead program is right.
        let _ = self.input.send(bytes.to_vec());
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
    let mut reader = pair.master.try_clone_reader().map_err(|e| spawn_err(&e))?;
    let mut writer = pair.master.take_writer().map_err(|e| spawn_err(&e))?;
    let killer = child.clone_killer();

    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::Builder::new()
        .name(format!("pty-writer-{id}"))
        .spawn(move || {
            while let Ok(bytes) = rx.recv() {
                if writer
                    .write_all(&bytes)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    break;
                }
            }
        })
        .map_err(|e| spawn_err(&e))?;

    let term = SharedTerm::new(Term::new(rows, cols, scrollback));
    let reader_term = term.clone();
    let replies = tx.clone();
    std::thread::Builder::new()
        .name(format!("pty-reader-{id}"))
        .spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let (answer, first) = reader_term.feed(&buf[..n]);
                        if !answer.is_empty() {
                            let _ = replies.send(answer);
                        }
                        if first {
                            notify(SessionEvent::Output(id));
                        }
                    }
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
            input: tx,
            master: Mutex::new(pair.master),
            killer: Mutex::new(killer),
        }),
    ))
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

    #[test]
    fn runs_a_program_sizes_it_and_reports_its_exit() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let notify: Notify = Arc::new(move |e| sink.lock().unwrap().push(e));
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
        let mut seen = String::new();
        for _ in 0..500 {
            seen = s.term.lock().text();
            if seen.contains("10 40") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(seen.contains("10 40"), "{seen}");
        s.write(b"hello\r");
        assert!(wait_for(&events, |e| e.contains(&SessionEvent::Exited(1, Some(3)))));
        s.exit = Some(Some(3));
        assert!(s.term.lock().text().contains("got:hello"));
    }
}
