//! A daemon's secrets. init hands each daemon its own on stdin, as one JSON
//! object line, so they are in no environment: an environment is inherited
//! by every process a daemon starts (git, ssh, hooks) and shown in /proc.
//! A daemon run by hand (or by tests) reads them from its environment.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Set by init for the daemons it starts.
pub const ON_STDIN: &str = "BB_DAEMON_SECRETS_ON_STDIN";

static HANDED: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// Read the secrets init writes on stdin, when it says it does.
pub fn load() {
    if std::env::var(ON_STDIN).as_deref() != Ok("1") {
        return;
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    let secrets = match read.map(|_| serde_json::from_str::<BTreeMap<String, String>>(line.trim()))
    {
        Ok(Ok(s)) => s,
        _ => {
            eprintln!("bb-sidecar: the secrets on stdin are unreadable; running without them");
            BTreeMap::new()
        }
    };
    let _ = HANDED.set(secrets);
}

/// The secret named `name`.
pub fn get(name: &str) -> Option<String> {
    match HANDED.get() {
        Some(handed) => handed.get(name).cloned(),
        None => std::env::var(name).ok(),
    }
}
