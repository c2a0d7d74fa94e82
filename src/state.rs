//! A bottle's state dir on the host: `<bb home>/state/<slug>/` (0700), with
//! metadata.json, rendered configs and the CA (files 0600 unless the agent
//! may see them). A `.preserve` file keeps the dir when the bottle stops.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a later bb needs to re-attach to a bottle it did not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub slug: String,
    pub agent: String,
    pub bottle: String,
    pub backend: String,
    pub template: String,
    /// RFC 3339 (UTC).
    pub started_at: String,
    pub workdir: String,
    pub ca_fingerprint: String,
    pub workspace_source: Option<String>,
    /// For restarting the sidecar bundle (bottles from before: none).
    #[serde(default)]
    pub secret_sources: Option<crate::plan::SecretSources>,
}

pub fn dir(home: &Path, slug: &str) -> PathBuf {
    crate::home::state_dir(home).join(slug)
}

/// The state dir's mode: the bundle's daemons (each its own user, in the
/// user's group) write the audit log and proposals there; sticky, so none
/// can remove or replace a file it does not own. Its parent is private to
/// the user, so the group is no wider door.
pub const MODE: u32 = 0o1770;

/// Make the state dir, private to the user.
pub fn create(home: &Path, slug: &str) -> io::Result<PathBuf> {
    let parent = crate::home::state_dir(home);
    fs::create_dir_all(&parent)?;
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o700))?;
    let d = dir(home, slug);
    fs::create_dir_all(&d)?;
    fs::set_permissions(&d, fs::Permissions::from_mode(MODE))?;
    // supervise files proposals here and bb answers beside them.
    let proposals = d.join("proposals");
    fs::create_dir_all(&proposals)?;
    fs::set_permissions(&proposals, fs::Permissions::from_mode(0o770))?;
    Ok(d)
}

pub fn write_metadata(dir: &Path, meta: &Metadata) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
    crate::ca::write_file(&dir.join("metadata.json"), &text, 0o600).map_err(io::Error::other)
}

pub fn read_metadata(home: &Path, slug: &str) -> Option<Metadata> {
    let text = fs::read_to_string(dir(home, slug).join("metadata.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The logs a stopped bottle leaves behind: what its agent tried to reach
/// and what the operator decided.
const KEPT_LOGS: [&str; 3] = ["audit.jsonl", "audit.jsonl.1", "decisions.jsonl"];

/// Remove a stopped bottle's state dir unless it is marked `.preserve`,
/// first moving its audit and decision logs to `<home>/archive/<slug>/`.
/// Returns whether it was removed.
pub fn settle(home: &Path, slug: &str) -> io::Result<bool> {
    let d = dir(home, slug);
    if !d.exists() || d.join(".preserve").exists() {
        return Ok(false);
    }
    let logs: Vec<PathBuf> = KEPT_LOGS
        .iter()
        .map(|name| d.join(name))
        .filter(|p| p.exists())
        .collect();
    if !logs.is_empty() {
        let archive = crate::home::archive_dir(home).join(slug);
        fs::create_dir_all(&archive)?;
        fs::set_permissions(&archive, fs::Permissions::from_mode(0o700))?;
        for log in logs {
            let to = archive.join(log.file_name().unwrap_or_default());
            // The daemons wrote them; bb owns the (sticky) dir, so it may
            // move them; on another filesystem, copy.
            if fs::rename(&log, &to).is_err() {
                fs::copy(&log, &to)?;
            }
        }
    }
    fs::remove_dir_all(&d)?;
    Ok(true)
}

/// The file a launch in progress keeps fresh in its state dir.
const LEASE: &str = ".launching";
/// A lease not refreshed for this long was left by a launch that died.
const LEASE_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// A launch in progress holds its bottle's lease, so `cleanup` leaves what
/// it has made so far alone; it lapses by itself if the launch dies.
pub struct Lease {
    path: PathBuf,
    refresh: tokio::task::JoinHandle<()>,
}

impl Lease {
    pub fn take(state_dir: &Path) -> io::Result<Lease> {
        let path = state_dir.join(LEASE);
        fs::write(&path, std::process::id().to_string())?;
        let touch = path.clone();
        let refresh = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_FRESH / 6).await;
                if let Ok(f) = fs::File::options().write(true).open(&touch) {
                    let _ = f.set_modified(std::time::SystemTime::now());
                }
            }
        });
        Ok(Lease { path, refresh })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.refresh.abort();
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a launch in progress holds `slug`'s lease.
pub fn leased(home: &Path, slug: &str) -> bool {
    fs::metadata(dir(home, slug).join(LEASE))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < LEASE_FRESH))
}

/// Whether `slug`'s launch died before the bottle was ready: its lease is
/// still there but no longer refreshed (bb was killed while making it).
pub fn interrupted(home: &Path, slug: &str) -> bool {
    dir(home, slug).join(LEASE).exists() && !leased(home, slug)
}

/// Slugs that have a state dir.
pub fn slugs(home: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(crate::home::state_dir(home)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    out.sort();
    out
}

/// Now, as RFC 3339 UTC, without a date crate: seconds are enough here.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the Unix epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_no_longer_refreshed_marks_an_interrupted_launch() {
        let home = tempfile::tempdir().unwrap();
        let d = create(home.path(), "a-1").unwrap();
        assert!(!interrupted(home.path(), "a-1"), "no lease: not launching");
        std::fs::write(d.join(LEASE), "1").unwrap();
        assert!(leased(home.path(), "a-1"));
        assert!(!interrupted(home.path(), "a-1"), "a fresh lease: launching");
        let old = std::time::SystemTime::now() - 2 * LEASE_FRESH;
        std::fs::File::options()
            .write(true)
            .open(d.join(LEASE))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(interrupted(home.path(), "a-1"));
    }

    #[test]
    fn state_dirs_are_private_and_settle_unless_preserved() {
        let d = tempfile::tempdir().unwrap();
        let s = create(d.path(), "a-1").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&s), MODE);
        assert_eq!(mode(s.parent().unwrap()), 0o700);
        assert_eq!(slugs(d.path()), vec!["a-1"]);
        fs::write(s.join(".preserve"), "").unwrap();
        assert!(!settle(d.path(), "a-1").unwrap());
        fs::remove_file(s.join(".preserve")).unwrap();
        fs::write(s.join("audit.jsonl"), "{\"verdict\":\"blocked\"}\n").unwrap();
        fs::write(s.join("decisions.jsonl"), "{\"decision\":\"approved\"}\n").unwrap();
        fs::write(s.join("ca.crt"), "cert").unwrap();
        assert!(settle(d.path(), "a-1").unwrap());
        assert!(slugs(d.path()).is_empty());
        // The logs are kept, privately; nothing else is.
        let kept = crate::home::archive_dir(d.path()).join("a-1");
        assert_eq!(mode(&kept), 0o700);
        assert!(fs::read_to_string(kept.join("audit.jsonl"))
            .unwrap()
            .contains("blocked"));
        assert!(kept.join("decisions.jsonl").exists());
        assert!(!kept.join("ca.crt").exists());
    }

    #[tokio::test]
    async fn a_lease_is_held_while_its_launch_runs_and_lapses_after() {
        let d = tempfile::tempdir().unwrap();
        let s = create(d.path(), "a-1").unwrap();
        assert!(!leased(d.path(), "a-1"));
        let lease = Lease::take(&s).unwrap();
        assert!(leased(d.path(), "a-1"));
        drop(lease);
        assert!(!leased(d.path(), "a-1"));
        // A launch killed with its lease in place: it lapses.
        fs::write(s.join(LEASE), "1").unwrap();
        let old = std::time::SystemTime::now() - LEASE_FRESH * 2;
        fs::File::options()
            .write(true)
            .open(s.join(LEASE))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!leased(d.path(), "a-1"));
    }

    #[test]
    fn timestamps_look_right() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
