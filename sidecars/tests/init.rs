//! `bb-sidecar init` as the bundle's PID 1 would run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

#[test]
fn a_dying_daemon_is_logged_and_sigterm_stops_everything() {
    // egress dies at once here (no /etc/bb/egress.json); init must go on.
    let mut child = Command::new(env!("CARGO_BIN_EXE_bb-sidecar"))
        .args(["init", "--daemons", "egress,no-such-daemon", "--grace", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("egress exited")) {
        seen.push(
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .expect("init went quiet"),
        );
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("no-such-daemon is not in this build")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("the other daemons keep running")),
        "{seen:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "init outlives its daemons"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
