//! What bb knows of a bottle's state. The state itself (metadata, the
//! CA's certificate, the audit log, the proposal queue) lives with the
//! bottle, in its volume on its engine, and is reached over the engine's
//! API. On the operator's machine: a lease while a launch runs, and the
//! logs of stopped bottles in the archive.

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

impl Metadata {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Option<Metadata> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Where an older bb kept a bottle's state on the operator's machine
/// (`<bb home>/state/<slug>/`); bottles keep it with them now, and what
/// an older bb left here is settled by `bb cleanup`.
pub fn legacy_dir(home: &Path, slug: &str) -> PathBuf {
    crate::home::state_dir(home).join(slug)
}

/// The logs a stopped bottle leaves behind: what its agent tried to reach
/// and what the operator decided.
pub use bb_contract::operator::KEPT_LOGS;

/// Keep a stopped bottle's logs in `<home>/archive/<slug>/` (private).
pub fn keep_logs(home: &Path, slug: &str, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let archive = crate::home::archive_dir(home).join(slug);
    fs::create_dir_all(&archive)?;
    fs::set_permissions(&archive, fs::Permissions::from_mode(0o700))?;
    for (name, bytes) in files {
        // Only the kept logs' names: never a path from a bottle.
        if KEPT_LOGS.contains(&name.as_str()) {
            crate::ca::write_file(&archive.join(name), bytes, 0o600).map_err(io::Error::other)?;
        }
    }
    Ok(())
}

/// Settle a state dir an older bb left: its logs kept in the archive, the
/// rest removed. Returns whether there was one.
pub fn settle_legacy(home: &Path, slug: &str) -> io::Result<bool> {
    let d = legacy_dir(home, slug);
    if !d.is_dir() {
        return Ok(false);
    }
    let logs: Vec<(String, Vec<u8>)> = KEPT_LOGS
        .iter()
        .filter_map(|name| Some((name.to_string(), fs::read(d.join(name)).ok()?)))
        .collect();
    keep_logs(home, slug, &logs)?;
    fs::remove_dir_all(&d)?;
    Ok(true)
}

/// Slugs of state dirs an older bb left.
pub fn legacy_slugs(home: &Path) -> Vec<String> {
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

/// Where launches in progress keep their leases: the one thing of a
/// bottle on the operator's machine, while bb makes it.
fn leases(home: &Path) -> PathBuf {
    home.join("launching")
}

/// A lease not refreshed for this long was left by a launch that died.
const LEASE_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// A launch in progress holds its bottle's lease, so `cleanup` leaves what
/// it has made so far alone; it lapses by itself if the launch dies.
pub struct Lease {
    path: PathBuf,
    refresh: tokio::task::JoinHandle<()>,
}

impl Lease {
    pub fn take(home: &Path, slug: &str) -> io::Result<Lease> {
        let dir = leases(home);
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let path = dir.join(slug);
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
        let mut scratch = self.path.clone().into_os_string();
        scratch.push(".d");
        let _ = fs::remove_dir_all(scratch);
    }
}

/// Whether a launch in progress holds `slug`'s lease.
pub fn leased(home: &Path, slug: &str) -> bool {
    fs::metadata(leases(home).join(slug))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < LEASE_FRESH))
}

/// Whether `slug`'s launch died before the bottle was ready: its lease is
/// still there but no longer refreshed (bb was killed while making it).
pub fn interrupted(home: &Path, slug: &str) -> bool {
    leases(home).join(slug).exists() && !leased(home, slug)
}

/// A bottle that is gone: its lease too, and its launch's scratch files.
pub fn forget_lease(home: &Path, slug: &str) {
    let _ = fs::remove_file(leases(home).join(slug));
    let _ = fs::remove_dir_all(scratch_path(home, slug));
}

fn scratch_path(home: &Path, slug: &str) -> PathBuf {
    leases(home).join(format!("{slug}.d"))
}

/// A private dir for what a launch needs on this machine for a while (an
/// image archive for smolvm); gone with the lease's end.
pub fn scratch(home: &Path, slug: &str) -> io::Result<PathBuf> {
    let d = scratch_path(home, slug);
    fs::create_dir_all(&d)?;
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700))?;
    Ok(d)
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
        assert!(!interrupted(home.path(), "a-1"), "no lease: not launching");
        fs::create_dir_all(leases(home.path())).unwrap();
        let lease = leases(home.path()).join("a-1");
        fs::write(&lease, "1").unwrap();
        assert!(leased(home.path(), "a-1"));
        assert!(!interrupted(home.path(), "a-1"), "a fresh lease: launching");
        let old = std::time::SystemTime::now() - 2 * LEASE_FRESH;
        fs::File::options()
            .write(true)
            .open(&lease)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(interrupted(home.path(), "a-1"));
        forget_lease(home.path(), "a-1");
        assert!(!interrupted(home.path(), "a-1"));
    }

    #[test]
    fn an_older_bbs_state_dir_settles_into_the_archive() {
        let d = tempfile::tempdir().unwrap();
        let s = legacy_dir(d.path(), "a-1");
        fs::create_dir_all(&s).unwrap();
        assert_eq!(legacy_slugs(d.path()), vec!["a-1"]);
        fs::write(s.join("audit.jsonl"), "{\"verdict\":\"blocked\"}\n").unwrap();
        fs::write(s.join("decisions.jsonl"), "{\"decision\":\"approved\"}\n").unwrap();
        fs::write(s.join("ca.crt"), "cert").unwrap();
        assert!(settle_legacy(d.path(), "a-1").unwrap());
        assert!(legacy_slugs(d.path()).is_empty());
        // The logs are kept, privately; nothing else is.
        let kept = crate::home::archive_dir(d.path()).join("a-1");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&kept), 0o700);
        assert!(fs::read_to_string(kept.join("audit.jsonl"))
            .unwrap()
            .contains("blocked"));
        assert!(kept.join("decisions.jsonl").exists());
        assert!(!kept.join("ca.crt").exists());
        // A bottle's file names are only ever the kept logs'.
        keep_logs(d.path(), "a-2", &[("../x".into(), b"x".to_vec())]).unwrap();
        assert!(!crate::home::archive_dir(d.path()).join("x").exists());
    }

    #[tokio::test]
    async fn a_lease_is_held_while_its_launch_runs_and_goes_after() {
        let d = tempfile::tempdir().unwrap();
        assert!(!leased(d.path(), "a-1"));
        let lease = Lease::take(d.path(), "a-1").unwrap();
        assert!(leased(d.path(), "a-1"));
        drop(lease);
        assert!(!leased(d.path(), "a-1"));
        assert!(!interrupted(d.path(), "a-1"));
    }

    #[test]
    fn timestamps_look_right() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
