//! bb's saved copy of an agent's work: `<bb home>/archive/<slug>/work.git`,
//! a bare repository bb alone writes. It starts at launch with the
//! workspace as copied (`refs/bb/base`) and takes in what the bottle sends
//! (`refs/bottle/...`: the agent's branches, tags, HEAD, and its
//! uncommitted work as a commit, `refs/bottle/bb/work`), as objects only.
//! It outlives the bottle: `bb stop` saves into it last, and `bb take`,
//! `bb diff` and `bb apply` read it. Only `bb archive prune` removes it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::git::{Git, GitError};

/// One bottle's saved work.
#[derive(Debug, Clone)]
pub struct Saved {
    dir: PathBuf,
}

/// What bb recorded at launch about where the work starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub agent: String,
    /// The host directory the workspace was copied from.
    pub source: PathBuf,
    /// Whether that directory is a git repository (`bb take` makes a
    /// branch in it).
    pub git: bool,
    /// The workspace as copied.
    pub base: String,
    /// The commit checked out at launch (the base itself when the
    /// workspace had no uncommitted changes, or no repository).
    pub start: String,
}

/// The agent's work, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Commits the agent made since launch.
    pub commits: usize,
    /// Files that differ from the workspace as copied.
    pub files: usize,
    /// Whether the work (as last saved) has been taken or applied.
    pub taken: bool,
    /// Whether any of it is not committed by the agent.
    pub uncommitted: bool,
}

/// A changed file: its path, lines added and removed (None: binary).
pub type FileChange = (String, Option<u64>, Option<u64>);

/// Where the work stands: the commits bb and the bottle named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Points {
    /// The workspace as copied.
    pub base: String,
    /// The commit checked out at launch.
    pub start: String,
    /// The agent's HEAD, as last saved.
    pub head: Option<String>,
    /// Its uncommitted work as a commit on HEAD, as last saved.
    pub work: Option<String>,
    /// Every commit the bottle's refs named, as last saved.
    pub sent: Vec<String>,
}

impl Points {
    pub fn tip(&self) -> &str {
        self.work
            .as_deref()
            .or(self.head.as_deref())
            .unwrap_or(&self.base)
    }

    /// The commits bb has, the base first: the bottle sends only what is
    /// new since them.
    pub fn known(&self) -> Vec<String> {
        let mut known = vec![self.base.clone()];
        known.extend(self.sent.iter().filter(|s| **s != self.base).cloned());
        known
    }

    pub fn uncommitted(&self) -> bool {
        self.work.is_some() && self.work != self.head
    }
}

/// A patch as `git diff` makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patch {
    /// Its summary.
    Stat,
    /// One `git apply` takes, binary files whole.
    Binary,
    /// One a person reads: binary files said to differ.
    Text,
}

/// What a bottle sends: its refs, then (when there are new objects) a
/// git bundle of them.
const HEADER: &str = "bb-work 1";

/// The refs a bottle may send, by prefix.
const SENT: &[&str] = &["HEAD", "refs/heads/", "refs/tags/", "refs/bb/"];

impl Saved {
    pub fn at(home: &Path, slug: &str) -> Saved {
        Saved {
            dir: crate::home::archive_dir(home).join(slug),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.join("work.git")
    }

    pub fn exists(&self) -> bool {
        self.dir.join("work.json").exists() && self.repo().join("HEAD").exists()
    }

    fn git(&self) -> Git {
        Git::bare(&self.repo())
    }

    /// A launch that failed: what it made of the saved work goes (logs a
    /// launch may have left beside it stay).
    pub fn forget(&self) {
        for f in ["work.git", "launch-git"] {
            let _ = std::fs::remove_dir_all(self.dir.join(f));
        }
        for f in ["work.json", "taken", ".launch-index"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }

    pub fn write_meta(&self, meta: &Meta) -> Result<(), GitError> {
        let text = serde_json::to_vec_pretty(meta).unwrap_or_default();
        std::fs::write(self.dir.join("work.json"), text).map_err(|e| GitError::Failed {
            args: format!("write {}", self.dir.join("work.json").display()),
            why: e.to_string(),
        })
    }

    pub fn meta(&self) -> Option<Meta> {
        let text = std::fs::read(self.dir.join("work.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Take in what the bottle sent (`snapshot::SCRIPT`'s output): its
    /// objects fetched (and fsck-checked), its refs set under
    /// `refs/bottle/` exactly as sent. Nothing of it is run.
    pub fn take_in(&self, sent: &[u8]) -> Result<(), GitError> {
        let bad = |why: &str| GitError::Failed {
            args: "take in the bottle's work".into(),
            why: why.to_string(),
        };
        let (refs, bundle) = parse(sent).map_err(|e| bad(&e))?;
        let g = self.git();
        if !bundle.is_empty() {
            let file = self.dir.join(".incoming.bundle");
            std::fs::write(&file, bundle).map_err(|e| bad(&e.to_string()))?;
            let fetched = g.run(&[
                "fetch",
                "-q",
                "--no-tags",
                "--no-write-fetch-head",
                file.to_str().unwrap_or_default(),
                "+refs/*:refs/incoming/*",
            ]);
            let _ = std::fs::remove_file(&file);
            fetched?;
        }
        // The refs as sent, each naming an object now here.
        let mut script = String::new();
        for (sha, name) in &refs {
            if !g.has(sha) {
                return Err(bad(&format!("{name} names {sha}, which it did not send")));
            }
            let local = match name.as_str() {
                "HEAD" => "refs/bottle/HEAD".to_string(),
                n => format!("refs/bottle/{}", n.trim_start_matches("refs/")),
            };
            script.push_str(&format!("update {local} {sha}\n"));
        }
        let existing = g.run(&[
            "for-each-ref",
            "--format=%(refname)",
            "refs/bottle/",
            "refs/incoming/",
        ])?;
        for name in existing.lines() {
            let kept =
                name.starts_with("refs/bottle/") && script.contains(&format!("update {name} "));
            if !kept {
                script.push_str(&format!("delete {name}\n"));
            }
        }
        g.output(&["update-ref", "--stdin"], Some(script.as_bytes()))?;
        Ok(())
    }

    /// Where the work stands, from one look at the refs.
    pub fn points(&self) -> Result<Points, GitError> {
        let listed = self.git().run(&[
            "for-each-ref",
            "--format=%(refname) %(objecttype) %(objectname) %(*objecttype) %(*objectname)",
            "refs/bb/",
            "refs/bottle/",
        ])?;
        let mut found = std::collections::HashMap::new();
        let mut sent = Vec::new();
        for line in listed.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            // A commit, or a tag of one; anything else a bottle sent as
            // its HEAD is no commit and counts as absent.
            let commit = match f.as_slice() {
                [name, "commit", sha, ..] => Some((*name, *sha)),
                [name, _, _, "commit", sha] => Some((*name, *sha)),
                _ => None,
            };
            if let Some((name, sha)) = commit {
                if name.starts_with("refs/bottle/") && !sent.iter().any(|s| s == sha) {
                    sent.push(sha.to_string());
                }
                found.insert(name.to_string(), sha.to_string());
            }
        }
        let base = found
            .remove("refs/bb/base")
            .ok_or_else(|| GitError::Failed {
                args: "for-each-ref".into(),
                why: format!("{} holds no work", self.repo().display()),
            })?;
        Ok(Points {
            start: found
                .remove("refs/bb/start")
                .unwrap_or_else(|| base.clone()),
            base,
            head: found.remove("refs/bottle/HEAD"),
            work: found.remove("refs/bottle/bb/work"),
            sent,
        })
    }

    /// The tip of the work as last saved: the agent's uncommitted work as
    /// a commit on its HEAD, or its HEAD; the base before anything came.
    pub fn tip(&self) -> Result<String, GitError> {
        Ok(self.points()?.tip().to_string())
    }

    pub fn base(&self) -> Result<String, GitError> {
        Ok(self.points()?.base)
    }

    /// The agent's commits since launch, newest first: (sha, subject).
    pub fn commits(&self) -> Result<Vec<(String, String)>, GitError> {
        self.commits_at(&self.points()?)
    }

    pub fn commits_at(&self, p: &Points) -> Result<Vec<(String, String)>, GitError> {
        let Some(head) = &p.head else {
            return Ok(Vec::new());
        };
        let log = self.git().run(&[
            "log",
            "--format=%H %s",
            head,
            &format!("^{}", p.start),
            &format!("^{}", p.base),
        ])?;
        Ok(log
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(h, s)| (h.to_string(), s.to_string()))
            .collect())
    }

    /// The patch of everything changed since launch (`--stat`: its
    /// summary), committed and not.
    pub fn diff(&self, stat: bool) -> Result<Vec<u8>, GitError> {
        let p = self.points()?;
        self.diff_at(&p, if stat { Patch::Stat } else { Patch::Binary })
    }

    pub fn diff_at(&self, p: &Points, how: Patch) -> Result<Vec<u8>, GitError> {
        let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M"];
        match how {
            Patch::Stat => args.push("--stat=120"),
            Patch::Binary => args.push("--binary"),
            Patch::Text => {}
        }
        args.extend([p.base.as_str(), p.tip()]);
        self.git().output(&args, None)
    }

    /// Each changed file: (path, lines added, lines removed); binary files
    /// count None.
    pub fn files(&self) -> Result<Vec<FileChange>, GitError> {
        let p = self.points()?;
        let out =
            self.git()
                .run(&["diff", "--numstat", "-M", "--no-textconv", &p.base, p.tip()])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                let (a, d, path) = (f.next()?, f.next()?, f.next()?);
                Some((path.to_string(), a.parse().ok(), d.parse().ok()))
            })
            .collect())
    }

    pub fn summary(&self) -> Result<Summary, GitError> {
        let p = self.points()?;
        Ok(Summary {
            commits: self.commits_at(&p)?.len(),
            files: self.files()?.len(),
            taken: self.is_taken(&p),
            uncommitted: p.uncommitted(),
        })
    }

    /// Whether the work as last saved has been taken or applied.
    pub fn is_taken(&self, p: &Points) -> bool {
        self.taken().as_deref() == Some(p.tip())
    }

    /// The tip last taken or applied.
    pub fn taken(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("taken"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn mark_taken(&self, tip: &str) {
        let _ = std::fs::write(self.dir.join("taken"), format!("{tip}\n"));
    }
}

/// The refs a bottle sent (sha, name) and its bundle.
type Sent<'a> = (Vec<(String, String)>, &'a [u8]);

/// A bottle's answer: the header, `SHA NAME` lines, an empty line, then
/// the bundle (maybe empty). Names outside what a bottle may send, and
/// malformed lines, are refused.
fn parse(sent: &[u8]) -> Result<Sent<'_>, String> {
    let end = sent
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no end to the list of refs")?;
    let head = std::str::from_utf8(&sent[..end]).map_err(|_| "refs are not text")?;
    let bundle = &sent[end + 2..];
    let mut lines = head.lines();
    if lines.next() != Some(HEADER) {
        return Err("not bb's work snapshot (is git in the agent's image?)".into());
    }
    let mut refs = Vec::new();
    for line in lines {
        let (sha, name) = line.split_once(' ').ok_or("a malformed ref line")?;
        let hex = sha.len() >= 40 && sha.len() <= 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let allowed = SENT
            .iter()
            .any(|p| name == *p || (p.ends_with('/') && name.starts_with(p)))
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b))
            && !name.contains("..");
        if !hex {
            return Err(format!("a malformed object name for {name:?}"));
        }
        if allowed {
            refs.push((sha.to_ascii_lowercase(), name.to_string()));
        }
    }
    Ok((refs, bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_bottle_sends_is_read_strictly() {
        let sha = "a".repeat(40);
        let sent = format!("{HEADER}\n{sha} HEAD\n{sha} refs/heads/main\n{sha} refs/notes/x\n{sha} refs/heads/../../x\n\nBUNDLE");
        let (refs, bundle) = parse(sent.as_bytes()).unwrap();
        assert_eq!(
            refs,
            [
                (sha.clone(), "HEAD".to_string()),
                (sha.clone(), "refs/heads/main".to_string())
            ]
        );
        assert_eq!(bundle, b"BUNDLE");
        assert!(parse(b"nonsense\n\n").is_err());
        assert!(parse(format!("{HEADER}\nxyz HEAD\n\n").as_bytes()).is_err());
        assert!(parse(HEADER.as_bytes()).is_err());
    }
}
