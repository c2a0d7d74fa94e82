//! The audit log: one JSON line per decision, never a secret's value.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u128,
    pub client: String,
    pub host: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// allowed, blocked, tunnel, intercept
    pub decision: &'a str,
    pub rule: Option<String>,
}

pub struct Audit {
    file: Option<Mutex<std::fs::File>>,
}

impl Audit {
    pub fn open(path: Option<&Path>) -> Audit {
        let file = path.and_then(|p| {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
                .map(Mutex::new)
        });
        Audit { file }
    }

    pub fn record(&self, r: Record<'_>) {
        if let Some(f) = &self.file {
            if let Ok(mut line) = serde_json::to_vec(&r) {
                line.push(b'\n');
                let _ = f.lock().unwrap_or_else(|p| p.into_inner()).write_all(&line);
            }
        }
    }
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
