//! The console holder reached through a terminal, as a micro-VM's
//! `machine exec -it` reaches it: the real bb-sidecar binary, the relay in
//! a PTY of its own. Its size at the start and after each resize reaches
//! the agent, keys reach it, a second `serve --unless-held` leaves the
//! held agent alone, and a session that comes after one left finds the
//! same agent.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_bb-sidecar");

fn size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn wait_for(out: &Mutex<String>, what: &str) -> String {
    let start = Instant::now();
    loop {
        let text = out.lock().unwrap().clone();
        if text.contains(what) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for {what:?}: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Relay = (
    Box<dyn portable_pty::MasterPty + Send>,
    Box<dyn portable_pty::Child + Send + Sync>,
    Arc<Mutex<String>>,
);

/// `console attach --tty` in a PTY of its own, as `machine exec -it` runs
/// it; what it prints gathers in the string.
fn spawn_relay(socket: &std::path::Path, rows: u16, cols: u16) -> Relay {
    let pair = native_pty_system().openpty(size(rows, cols)).unwrap();
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(["console", "attach", "--tty", "--socket"]);
    cmd.arg(socket);
    let child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let out = Arc::new(Mutex::new(String::new()));
    let sink = out.clone();
    let mut reader = pair.master.try_clone_reader().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (pair.master, child, out)
}

#[test]
fn a_terminal_session_carries_keys_and_each_window_size_to_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("console.sock");
    let marks = dir.path().join("agents");
    // The agent: counts its starts, reports its size on start and on each
    // SIGWINCH, and echoes a line it reads.
    let agent = format!(
        "echo started >> '{}'; trap 'echo size $(stty size)' WINCH; echo size $(stty size); \
         while :; do read -r line && echo \"got $line\"; done",
        marks.display()
    );
    let mut holder = Command::new(BIN)
        .args(["console", "serve", "--socket"])
        .arg(&socket)
        .args(["--", "sh", "-c", &agent])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();

    let (master, mut relay, out) = spawn_relay(&socket, 21, 56);
    let mut keys = master.take_writer().unwrap();

    wait_for(&out, "size 21 56");
    master.resize(size(37, 90)).unwrap();
    wait_for(&out, "size 37 90");
    keys.write_all(b"hello\r").unwrap();
    keys.flush().unwrap();
    wait_for(&out, "got hello");

    // A second holder started while this one holds the agent does nothing.
    let again = Command::new(BIN)
        .args(["console", "serve", "--unless-held", "--socket"])
        .arg(&socket)
        .args(["--", "sh", "-c", &agent])
        .status()
        .unwrap();
    assert!(again.success());
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "started\n");

    // The session leaves (bb exits); a new one, at another size, finds the
    // same agent, its screen sent first.
    let _ = relay.kill();
    let _ = relay.wait();
    let (_master, mut relay, out) = spawn_relay(&socket, 30, 100);
    let text = wait_for(&out, "size 30 100");
    assert!(text.contains("got hello"), "the screen so far: {text:?}");
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "started\n");

    let _ = relay.kill();
    let _ = holder.kill();
    let _ = holder.wait();
}
