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

/// The user each daemon runs as (images/sidecars.Dockerfile names them):
/// distinct, so none can read another's memory, environment or files.
pub fn uid_of(name: &str) -> Option<u32> {
    match name {
        "egress" => Some(10901),
        "git-gate" => Some(10902),
        "supervise" => Some(10903),
        _ => None,
    }
}

/// Where the bottle's state lives (its volume); egress (audit log),
/// supervise and a gate that holds pushes (proposals) write there, in its
/// group. bb reaches it through the operator channel, as root.
const STATE_DIR: &str = bb_contract::operator::STATE_DIR;

pub use bb_contract::operator::STATE_GID;

/// As root, make the state dir the daemons' own: theirs to write (group),
/// sticky (none removes what another wrote), the queue inheriting its
/// group. bb's own files there (metadata, the CA) stay root's.
fn prepare_state_dir() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return;
    }
    let dir = std::path::Path::new(STATE_DIR);
    let queue = dir.join("proposals");
    // Modes before owners: without CAP_FSETID (the bundle drops it) a
    // chmod by a non-member of the group clears setgid; a chown of a
    // directory keeps it.
    let made = std::fs::create_dir_all(&queue)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1770)))
        .and_then(|()| std::os::unix::fs::chown(dir, Some(0), Some(STATE_GID)))
        .and_then(|()| std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o2770)))
        .and_then(|()| std::os::unix::fs::chown(&queue, Some(0), Some(STATE_GID)));
    if let Err(e) = made {
        log(&format!("cannot prepare {STATE_DIR}: {e}"));
    }
}

/// Set by bb when some remote's pushes wait for review: the gate then
/// writes proposals in the state dir, so it runs in that dir's group.
pub const GATE_HOLDS_ENV: &str = "BB_GATE_HOLDS";

/// Who a daemon runs as, and its own directory on the bundle's tmpfs.
struct Identity {
    uid: u32,
    gid: u32,
    runtime: Option<std::path::PathBuf>,
}

/// As root, give the daemon its user, group and a private runtime dir;
/// otherwise (an older bundle run as the host user) it runs as init does.
fn identity(name: &str) -> Option<Identity> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let uid = uid_of(name)?;
    let gid = match name {
        // The gate touches the state dir only to file held pushes.
        "git-gate" if std::env::var(GATE_HOLDS_ENV).as_deref() != Ok("1") => uid,
        _ => std::fs::metadata(STATE_DIR).map(|m| m.gid()).unwrap_or(uid),
    };
    let runtime = std::env::var_os("BB_RUNTIME_DIR").map(|base| {
        let dir = std::path::Path::new(&base).join(name);
        let made = std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })
            .and_then(|()| std::os::unix::fs::chown(&dir, Some(uid), Some(gid)));
        if let Err(e) = made {
            log(&format!("cannot make {}: {e}", dir.display()));
        }
        dir
    });
    Some(Identity { uid, gid, runtime })
}

fn start(name: &str, secrets: &BTreeMap<String, String>) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg(name);
    // Each daemon gets only its own secrets (route tokens are egress's,
    // remote keys the gate's; bb lists their names), on its stdin: never in
    // an environment, which every process it starts would inherit.
    let own: BTreeMap<&str, &str> = owned_by(name)
        .iter()
        .filter_map(|k| secrets.get_key_value(k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (_, list) in [
        ("egress", "BB_EGRESS_SECRETS"),
        ("git-gate", "BB_GATE_SECRETS"),
    ] {
        for secret in std::env::var(list)
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
        {
            cmd.env_remove(secret);
        }
    }
    cmd.env(crate::secrets::ON_STDIN, "1")
        .env_remove("BB_SECRETS_ON_STDIN")
        .stdin(std::process::Stdio::piped());
    if let Some(id) = identity(name) {
        // std drops the supplementary groups before setuid.
        cmd.uid(id.uid).gid(id.gid);
        if let Some(dir) = id.runtime {
            cmd.env("BB_RUNTIME_DIR", dir);
        }
        // What they write in the state dir is the owner's group's too.
        // SAFETY: umask is async-signal-safe and cannot fail.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o007);
                Ok(())
            });
        }
    }
    match cmd.spawn() {
        Ok(mut c) => {
            log(&format!("started {name} (pid {})", c.id()));
            if let Some(mut stdin) = c.stdin.take() {
                let mut line = serde_json::to_vec(&own).unwrap_or_else(|_| b"{}".to_vec());
                line.push(b'\n');
                // A daemon that died at once cannot read it: it is logged
                // as exited anyway.
                let _ = std::io::Write::write_all(&mut stdin, &line);
            }
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

pub fn run(requested: &[String], grace: Duration) -> ExitCode {
    let secrets = read_secrets();
    prepare_state_dir();
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
