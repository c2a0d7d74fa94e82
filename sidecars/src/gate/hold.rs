//! Pushes held for review (a remote's `ReviewPushes`): once a push has
//! passed the gate's checks, the hook files it in the proposal queue bb
//! reads (what it updates, its commits, their patch) and waits for the
//! operator. Approved, it goes upstream with the gate's key; rejected,
//! the agent's git is told why; unanswered in time, it is withdrawn and
//! the agent may push again. Nothing reaches upstream before the operator
//! says so, and a held push outlives a restart of bb (the queue is on
//! disk; the hook waits).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bb_contract::proposal::{Decision, Proposal, PushRequest, PushedCommit, PushedRef, Request};

use super::push::ZERO;

/// How long a push waits for the operator unless the gate says otherwise.
const HOLD: Duration = Duration::from_secs(30 * 60);
/// How often the hook looks for the decision.
const POLL: Duration = Duration::from_millis(500);
/// The most of the patch a proposal carries.
const PATCH_BYTES: usize = 512 * 1024;

/// What the hook knows of where it runs (from the gate's environment).
pub struct Holding {
    pub queue: PathBuf,
    pub slug: String,
    pub agent: String,
    pub remote: String,
    pub upstream: String,
    pub wait: Duration,
}

impl Holding {
    /// Whether this push is to be held, and where.
    pub fn from_env() -> Option<Holding> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if var("BB_GATE_REVIEW").as_deref() != Some("1") {
            return None;
        }
        Some(Holding {
            queue: PathBuf::from(var("BB_GATE_QUEUE")?),
            slug: var("BB_SLUG").unwrap_or_default(),
            agent: var("BB_AGENT").unwrap_or_default(),
            remote: var("BB_GATE_REMOTE").unwrap_or_default(),
            upstream: var("BB_GATE_UPSTREAM").unwrap_or_default(),
            wait: var("BB_GATE_HOLD_SECS")
                .and_then(|s| s.parse().ok())
                .map_or(HOLD, Duration::from_secs),
        })
    }

    /// File the push and wait: Ok once approved, else what to tell the
    /// agent's git.
    pub fn hold(&self, updates: &[(&str, &str, &str)]) -> Result<(), String> {
        let request = describe(self, updates)?;
        let id = format!(
            "push-{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            std::process::id()
        );
        let proposal = Proposal {
            id: id.clone(),
            slug: self.slug.clone(),
            agent: self.agent.clone(),
            // As supervise stamps its proposals.
            created_at: crate::egress::audit::now_ms().to_string(),
            reason: format!("a push to {} held for your review", self.remote),
            request: Request::Push(Box::new(request)),
        };
        let path = self.queue.join(format!("{id}.json"));
        write_private(&self.queue, &path, &proposal)
            .map_err(|e| format!("cannot hold the push for review ({e}); nothing went upstream"))?;
        eprintln!(
            "bb git-gate: holding this push for the operator's review (up to {} minutes); it goes upstream once approved.",
            self.wait.as_secs() / 60
        );
        let decision = self.queue.join(format!("{id}.decision.json"));
        let started = Instant::now();
        loop {
            if let Some(d) = std::fs::read_to_string(&decision)
                .ok()
                .and_then(|t| serde_json::from_str::<Decision>(&t).ok())
            {
                return match d {
                    Decision::Approved { .. } => Ok(()),
                    Decision::Rejected { reason } => Err(format!(
                        "the operator rejected this push: {}. Nothing went upstream.",
                        reason.replace(['\n', '\r'], " ")
                    )),
                };
            }
            if started.elapsed() >= self.wait {
                let _ = std::fs::remove_file(&path);
                return Err(format!(
                    "the operator did not review this push within {} minutes; it was withdrawn and nothing went upstream. Push again to ask again.",
                    self.wait.as_secs() / 60
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The push as the operator reviews it.
fn describe(h: &Holding, updates: &[(&str, &str, &str)]) -> Result<PushRequest, String> {
    let mut commits = Vec::new();
    let mut patch = String::new();
    for (_, new, _) in updates.iter().filter(|(_, new, _)| *new != ZERO) {
        let log = super::push::sh_git(&[
            "log",
            "--reverse",
            "--format=%H%x1f%an%x1f%s",
            new,
            "--not",
            "--all",
        ])?;
        for line in log.lines() {
            let mut f = line.split('\x1f');
            let (Some(sha), Some(author), Some(subject)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if !commits.iter().any(|c: &PushedCommit| c.sha == sha) {
                commits.push(PushedCommit {
                    sha: sha.to_string(),
                    author: author.to_string(),
                    subject: subject.to_string(),
                });
            }
        }
        if patch.len() < PATCH_BYTES {
            patch.push_str(&super::push::sh_git(&[
                "log",
                "--reverse",
                "-p",
                "--stat",
                "--no-color",
                "--format=commit %H%nAuthor: %an%n%n    %s%n",
                new,
                "--not",
                "--all",
            ])?);
        }
    }
    let truncated = patch.len() > PATCH_BYTES;
    if truncated {
        let mut cut = PATCH_BYTES;
        while !patch.is_char_boundary(cut) {
            cut -= 1;
        }
        patch.truncate(cut);
    }
    Ok(PushRequest {
        remote: h.remote.clone(),
        upstream: h.upstream.clone(),
        refs: updates
            .iter()
            .map(|(old, new, name)| PushedRef {
                name: name.to_string(),
                old: old.to_string(),
                new: new.to_string(),
            })
            .collect(),
        commits,
        patch,
        truncated,
    })
}

/// Write `value` as JSON to `path` (temp file, then rename), readable and
/// answerable by the queue's group (bb).
fn write_private(dir: &Path, path: &Path, value: &Proposal) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o660)
            .open(&tmp)?;
        f.write_all(&text)?;
    }
    std::fs::rename(&tmp, path)
}
