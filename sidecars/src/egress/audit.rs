//! The audit log: one JSON line per decision, never a secret's value.
//! Every host, path and rule is checked by the DLP rules before it is
//! written, whatever the caller passed; the file is the user's alone
//! (0600) and rotates at a size cap, keeping one older file.
//!
//! A refusal is written at once (the workspace shows it). Allowed requests
//! are written in batches, at most `BATCH_DELAY` late: a write per request
//! was a twentieth of the proxy's CPU under keep-alive load. `flush` writes
//! what is held; egress calls it before it exits.

use std::borrow::Cow;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::dlp;

pub use bb_contract::audit::{AuditRecord as Record, Decision};

struct Open {
    file: std::fs::File,
    path: PathBuf,
    written: u64,
    /// Lines of allowed requests not written yet.
    held: Vec<u8>,
    /// A flush of `held` is scheduled.
    due: bool,
}

pub struct Audit {
    file: Option<Arc<Mutex<Open>>>,
    cap: u64,
}

/// How late an allowed request's line may reach the file.
const BATCH_DELAY: Duration = Duration::from_millis(100);
/// Held lines are written at once past this many bytes.
const BATCH_BYTES: usize = 16 * 1024;

const REDACTED: &str = "[redacted]";

/// The owner (egress) writes; the state dir's group (its host owner, bb)
/// reads; nobody else.
const LOG_MODE: u32 = 0o640;

fn open(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_MODE)
        .open(path)
        .ok()
}

/// A path (or query) as the log may hold it.
fn clean_path(path: &str) -> Cow<'_, str> {
    match dlp::scan(&dlp::percent_decode(path)) {
        Some(_) => Cow::Borrowed(REDACTED),
        None => Cow::Borrowed(path),
    }
}

/// A host name as the log may hold it (secrets smuggled in labels).
fn clean_host(host: &str) -> Cow<'_, str> {
    match dlp::scan_host(host) {
        Some(_) => Cow::Borrowed(REDACTED),
        None => Cow::Borrowed(host),
    }
}

/// A rule may quote what the agent sent (`sni-mismatch:NAME`).
fn clean_rule(rule: &str) -> String {
    match rule.split_once(':') {
        Some((name, detail)) if !name.starts_with("dlp") => {
            format!("{name}:{}", clean_host(detail))
        }
        _ => rule.to_string(),
    }
}

impl Audit {
    /// Open (or create, 0640) the log at `path`, rotating past `cap` bytes.
    pub fn open(path: Option<&Path>, cap: u64) -> Audit {
        let file = path.and_then(|p| {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let file = open(p)?;
            // A log made before this rule may be wider open.
            let _ =
                std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(LOG_MODE));
            let written = file.metadata().map(|m| m.len()).unwrap_or(0);
            Some(Arc::new(Mutex::new(Open {
                file,
                path: p.to_path_buf(),
                written,
                held: Vec::new(),
                due: false,
            })))
        });
        Audit { file, cap }
    }

    pub fn record(&self, r: Record<'_>) {
        let Some(f) = &self.file else { return };
        let clean = Record {
            host: Cow::Owned(clean_host(&r.host).into_owned()),
            path: Cow::Owned(clean_path(&r.path).into_owned()),
            rule: r.rule.as_deref().map(clean_rule),
            ..r
        };
        let Ok(mut line) = serde_json::to_vec(&clean) else {
            return;
        };
        line.push(b'\n');
        let mut open = f.lock().unwrap_or_else(|p| p.into_inner());
        open.held.extend_from_slice(&line);
        let later = clean.decision == Decision::Allowed && open.held.len() < BATCH_BYTES;
        if !later {
            self.write_held(&mut open);
            return;
        }
        if open.due {
            return;
        }
        // Outside a runtime (tests, tools) there is no one to write later.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.write_held(&mut open);
            return;
        };
        open.due = true;
        let (f, cap) = (f.clone(), self.cap);
        rt.spawn(async move {
            tokio::time::sleep(BATCH_DELAY).await;
            let audit = Audit { file: Some(f), cap };
            audit.flush();
        });
    }

    /// Write every line held back.
    pub fn flush(&self) {
        if let Some(f) = &self.file {
            self.write_held(&mut f.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    fn write_held(&self, f: &mut Open) {
        f.due = false;
        if f.held.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut f.held);
        if f.written + lines.len() as u64 > self.cap && f.written > 0 {
            let older = f.path.with_extension("jsonl.1");
            let _ = std::fs::rename(&f.path, &older);
            if let Some(fresh) = open(&f.path) {
                f.file = fresh;
                f.written = 0;
            }
        }
        if f.file.write_all(&lines).is_ok() {
            f.written += lines.len() as u64;
        }
    }
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record<'a>(host: &'a str, path: &'a str, rule: Option<&str>) -> Record<'a> {
        Record {
            time_ms: 0,
            client: "c".into(),
            host: host.into(),
            method: "GET".into(),
            path: path.into(),
            decision: Decision::Blocked,
            rule: rule.map(String::from),
        }
    }

    #[test]
    fn secrets_never_reach_the_file_and_it_is_private_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let audit = Audit::open(Some(&p), 600);
        audit.record(record(
            "evil.example",
            "/x/AKIAIOSFODNN7EXAMPLE",
            Some("host-not-allowed"),
        ));
        audit.record(record("akiaiosfodnn7example.example.com", "/", None));
        audit.record(record(
            "ok.example",
            "/",
            Some("sni-mismatch:akiaiosfodnn7example.evil.com"),
        ));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.to_ascii_lowercase().contains("akiaiosfodnn7example"),
            "{text}"
        );
        assert!(
            text.contains("evil.example") && text.contains("sni-mismatch:[redacted]"),
            "{text}"
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        for _ in 0..20 {
            audit.record(record("ok.example", "/a/fairly/ordinary/path", None));
        }
        let len = std::fs::metadata(&p).unwrap().len();
        assert!(len <= 600, "{len}");
        assert!(dir.path().join("audit.jsonl.1").exists());
    }

    #[tokio::test(start_paused = true)]
    async fn allowed_lines_are_written_in_batches_and_refusals_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let audit = Audit::open(Some(&p), 1 << 20);
        let lines = || std::fs::read_to_string(&p).unwrap().lines().count();
        let allowed = |path| Record {
            decision: Decision::Allowed,
            ..record("ok.example", path, None)
        };
        audit.record(allowed("/a"));
        audit.record(allowed("/b"));
        assert_eq!(lines(), 0, "held back");
        tokio::time::sleep(BATCH_DELAY * 2).await;
        assert_eq!(lines(), 2, "written within the batch delay");
        // A refusal goes out at once, with what was held before it.
        audit.record(allowed("/c"));
        audit.record(record("evil.example", "/", Some("host-not-allowed")));
        assert_eq!(lines(), 4);
        audit.record(allowed("/d"));
        audit.flush();
        assert_eq!(lines(), 5, "flush writes what is held");
        let text = std::fs::read_to_string(&p).unwrap();
        let order: Vec<&str> = text
            .lines()
            .map(|l| {
                if l.contains("evil") {
                    "refused"
                } else {
                    "allowed"
                }
            })
            .collect();
        assert_eq!(
            order,
            ["allowed", "allowed", "allowed", "refused", "allowed"]
        );
    }
}
