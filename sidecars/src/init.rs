//! PID 1 of the sidecar bundle. It starts each daemon as a child, logs a
//! daemon's death and keeps the others running, passes SIGHUP on to egress
//! (config reload), reaps every child, and on SIGTERM stops them all: TERM
//! first, KILL after a grace period.

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

/// Daemons this build of bb-sidecar can run, as subcommands of itself.
const AVAILABLE: &[&str] = &["egress", "git-gate", "supervise"];

fn log(msg: &str) {
    eprintln!("bb-sidecar init: {msg}");
}

/// The secrets bb hands over on stdin as one JSON object line, so they
/// are in no container config (`docker inspect` would show those) and on
/// no disk. Empty when bb sends none or stdin is closed.
fn read_secrets() -> BTreeMap<String, String> {
    if std::env::var("BB_SECRETS_ON_STDIN").as_deref() != Ok("1") {
        return BTreeMap::new();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
        log("no secrets arrived on stdin within 60 s; daemons start without them");
        return BTreeMap::new();
    };
    match serde_json::from_str::<BTreeMap<String, String>>(line.trim()) {
        Ok(s) => {
            log(&format!("received {} secret(s)", s.len()));
            s
        }
        Err(e) => {
            log(&format!("the secrets on stdin are not a JSON object of strings ({e}); daemons start without them"));
            BTreeMap::new()
        }
    }
}

/// The names of the secrets a daemon may hold.
fn owned_by(name: &str) -> Vec<String> {
    let list = match name {
        "egress" => "BB_EGRESS_SECRETS",
        "git-gate" => "BB_GATE_SECRETS",
        _ => return Vec::new(),
    };
    std::env::var(list)
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn start(name: &str, secrets: &BTreeMap<String, String>) -> Option<Child> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg(name);
    for secret in owned_by(name) {
        if let Some(value) = secrets.get(&secret) {
            cmd.env(&secret, value);
        }
    }
    // Each daemon gets only its own secrets: route tokens are egress's,
    // remote keys the gate's (bb lists their names).
    for (owner, list) in [
        ("egress", "BB_EGRESS_SECRETS"),
        ("git-gate", "BB_GATE_SECRETS"),
    ] {
        if name != owner {
            for secret in std::env::var(list)
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
            {
                cmd.env_remove(secret);
            }
        }
    }
    match cmd.spawn() {
        Ok(c) => {
            log(&format!("started {name} (pid {})", c.id()));
            Some(c)
        }
        Err(e) => {
            log(&format!("cannot start {name}: {e}"));
            None
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid we spawned and still hold.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

/// Reap every exited process (PID 1 inherits orphans); report ours.
fn reap(children: &mut BTreeMap<String, Child>) {
    let mut dead = Vec::new();
    for (name, child) in children.iter_mut() {
        if let Ok(Some(status)) = child.try_wait() {
            log(&format!(
                "{name} exited ({status}); the other daemons keep running"
            ));
            dead.push(name.clone());
        }
    }
    for name in dead {
        children.remove(&name);
    }
    loop {
        let mut status = 0;
        // SAFETY: waitpid on any child, non-blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// ssh (for the git gate) refuses to run for a uid with no passwd entry;
/// the bundle runs as the host user's uid, which the image does not know.
fn ensure_passwd_entry() {
    // SAFETY: getuid/getgid/getpwuid have no preconditions; the result is
    // only checked for null.
    let (uid, gid, known) = unsafe {
        let uid = libc::getuid();
        (uid, libc::getgid(), !libc::getpwuid(uid).is_null())
    };
    if known {
        return;
    }
    let line = format!("bb:x:{uid}:{gid}:bb sidecars:/tmp:/bin/sh\n");
    match std::fs::OpenOptions::new().append(true).open("/etc/passwd") {
        Ok(mut f) => {
            let _ = std::io::Write::write_all(&mut f, line.as_bytes());
        }
        Err(e) => log(&format!("uid {uid} has no passwd entry and /etc/passwd is not writable ({e}); ssh to git remotes will fail")),
    }
}

pub fn run(requested: &[String], grace: Duration) -> ExitCode {
    ensure_passwd_entry();
    let secrets = read_secrets();
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1]) {
        Ok(s) => s,
        Err(e) => {
            log(&format!("cannot handle signals: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut children = BTreeMap::new();
    for name in requested.iter().filter(|n| !n.is_empty()) {
        if !AVAILABLE.contains(&name.as_str()) {
            log(&format!(
                "{name} is not in this build of bb-sidecar; the bundle runs without it"
            ));
            continue;
        }
        if let Some(c) = start(name, &secrets) {
            children.insert(name.clone(), c);
        }
    }
    log(&format!("running {} daemon(s)", children.len()));
    for sig in signals.forever() {
        match sig {
            SIGCHLD => reap(&mut children),
            SIGHUP => {
                if let Some(egress) = children.get("egress") {
                    log("reloading egress");
                    signal(egress, SIGHUP);
                }
            }
            SIGUSR1 => {
                // Restart daemons that died, leaving running ones alone.
                for name in requested.iter().filter(|n| AVAILABLE.contains(&n.as_str())) {
                    if !children.contains_key(name) {
                        if let Some(c) = start(name, &secrets) {
                            children.insert(name.clone(), c);
                        }
                    }
                }
            }
            SIGTERM | SIGINT => break,
            _ => {}
        }
    }
    log("stopping");
    for child in children.values() {
        signal(child, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while !children.is_empty() && Instant::now() < deadline {
        reap(&mut children);
        std::thread::sleep(Duration::from_millis(50));
    }
    for (name, child) in children.iter_mut() {
        log(&format!("{name} did not stop within {grace:?}; killing it"));
        let _ = child.kill();
        let _ = child.wait();
    }
    ExitCode::SUCCESS
}
