//! The proposal queue on disk: `<state dir>/<slug>/proposals/<id>.json`,
//! answered by `<id>.decision.json` written beside it (temp file, then
//! rename, so the sidecar never reads half a decision).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::proposal::{Decision, Proposal};

pub fn dir(state_dir: &Path, slug: &str) -> PathBuf {
    state_dir.join(slug).join("proposals")
}

/// Undecided proposals of one bottle, oldest first. Unreadable files are
/// skipped: a half-written proposal shows up on the next scan.
pub fn pending(state_dir: &Path, slug: &str) -> Vec<Proposal> {
    let dir = dir(state_dir, slug);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Proposal> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".decision.json")
        })
        .filter(|p| !p.with_extension("decision.json").exists())
        .filter_map(|p| fs::read_to_string(&p).ok())
        .filter_map(|t| serde_json::from_str::<Proposal>(&t).ok())
        .collect();
    out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    out
}

/// File a proposal as the supervise sidecar does (temp file, then rename):
/// the operator's own, from the network view.
pub fn file(state_dir: &Path, proposal: &Proposal) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = dir(state_dir, &proposal.slug);
    // As supervise makes it: its group (bb's) writes decisions in it.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o770)
        .create(&dir)?;
    let path = dir.join(format!("{}.json", proposal.id));
    let tmp = dir.join(format!(".{}.tmp", proposal.id));
    let text = serde_json::to_vec_pretty(proposal).map_err(io::Error::other)?;
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &path)
}

pub fn decide(state_dir: &Path, proposal: &Proposal, decision: &Decision) -> io::Result<()> {
    let dir = dir(state_dir, &proposal.slug);
    let path = dir.join(format!("{}.decision.json", proposal.id));
    let tmp = dir.join(format!(".{}.decision.tmp", proposal.id));
    let text = serde_json::to_vec_pretty(decision).map_err(io::Error::other)?;
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::super::proposal::{EgressRequest, Request};
    use super::*;

    #[test]
    fn pending_until_decided() {
        let d = tempfile::tempdir().unwrap();
        let qdir = dir(d.path(), "a-1");
        let p = Proposal {
            id: "p1".into(),
            slug: "a-1".into(),
            agent: "a".into(),
            created_at: "t1".into(),
            reason: "r".into(),
            request: Request::Egress(EgressRequest {
                host: "x.example".into(),
                path_allowlist: vec![],
            }),
        };
        file(d.path(), &p).unwrap();
        fs::write(qdir.join("broken.json"), "{").unwrap();
        assert_eq!(pending(d.path(), "a-1"), vec![p.clone()]);
        decide(
            d.path(),
            &p,
            &Decision::Rejected {
                reason: "no".into(),
            },
        )
        .unwrap();
        assert!(pending(d.path(), "a-1").is_empty());
        let text = fs::read_to_string(qdir.join("p1.decision.json")).unwrap();
        assert!(text.contains("\"decision\": \"rejected\""), "{text}");
    }
}
