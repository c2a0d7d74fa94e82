//! An agent's work, out of its bottle: the bottle's repository made at
//! launch (`launch`), what the bottle sends (`snapshot`), bb's saved copy
//! (`saved`), and taking it into the user's repository or applying it to
//! their files (here). Every git command on the host runs with bb's own
//! settings (`git`): objects only, nothing of the agent's run.

pub mod git;
pub mod launch;
pub mod review;
pub mod saved;
pub mod snapshot;
pub mod source;

use std::path::Path;

pub use git::{Git, GitError};
pub use saved::{Saved, Summary};

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{0}")]
    Bottle(String),
    #[error("bottle {0} has no saved work (it was started before bb kept it, or it was pruned)")]
    NoWork(String),
    #[error("{0} is not a git repository: `bb take` makes a branch in one; `bb apply` puts the changes in the folder instead")]
    NotARepository(String),
    #[error("branch {branch} already exists in {repo}; pick another with --as NAME")]
    BranchExists { branch: String, repo: String },
    #[error("the agent's changes conflict with yours in {}; nothing was changed. Take them as a branch (`bb take`) and merge it yourself, or commit or set aside your changes there and apply again", .files.join(", "))]
    Conflict { files: Vec<String> },
}

/// Bring bottle `slug`'s saved work up to date from the bottle (as it is
/// now: running, or with its agent down); its summary. Git runs off the
/// async workers.
pub async fn refresh(
    backend: &dyn crate::backend::Backend,
    saved: &Saved,
    slug: &str,
) -> Result<Summary, WorkError> {
    let meta = saved
        .meta()
        .ok_or_else(|| WorkError::NoWork(slug.to_string()))?;
    let known = {
        let saved = saved.clone();
        tokio::task::spawn_blocking(move || saved.points())
            .await
            .map_err(|e| WorkError::Bottle(e.to_string()))??
            .known()
    };
    let sent = backend
        .send_work(slug, &meta.agent, &known)
        .await
        .map_err(|e| WorkError::Bottle(e.to_string()))?;
    let saved = saved.clone();
    tokio::task::spawn_blocking(move || {
        saved.take_in(&sent)?;
        Ok(saved.summary()?)
    })
    .await
    .map_err(|e| WorkError::Bottle(e.to_string()))?
}

/// Before a bottle stops: its work saved, and said in one line (how much,
/// where, and whether it was taken). None when the bottle has no saved
/// work to keep (started without a workspace, or by an older bb).
pub async fn save_before_stop(
    backend: &dyn crate::backend::Backend,
    home: &Path,
    slug: &str,
) -> Result<Option<String>, WorkError> {
    let saved = Saved::at(home, slug);
    if !saved.exists() {
        return Ok(None);
    }
    // A launch killed before its bottle was ready never started the agent
    // (that waits for the first session): what is saved is only the copy
    // the launch made, and it goes as a failed launch's does.
    if crate::state::interrupted(home, slug) {
        saved.forget();
        return Ok(None);
    }
    let s = refresh(backend, &saved, slug).await?;
    Ok(Some(saved_line(&saved, slug, &s)))
}

/// `saved the work of alpha: 2 commits, 3 files changed, in …; not taken
/// yet: bb take alpha-1 or bb apply alpha-1`.
pub fn saved_line(saved: &Saved, slug: &str, s: &Summary) -> String {
    let agent = saved.meta().map(|m| m.agent).unwrap_or_default();
    let what = describe(s);
    let taken = if s.taken || (s.commits == 0 && s.files == 0) {
        String::new()
    } else {
        format!("; not taken yet: `bb take {slug}` or `bb apply {slug}`")
    };
    format!(
        "saved the work of {agent} ({what}) in {}{taken}",
        saved.dir().display()
    )
}

/// `2 commits, 3 files changed`, `no changes`.
pub fn describe(s: &Summary) -> String {
    if s.commits == 0 && s.files == 0 {
        return "no changes".into();
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut out = format!(
        "{}, {} changed",
        plural(s.commits, "commit", "commits"),
        plural(s.files, "file", "files")
    );
    if s.uncommitted {
        out.push_str(", some not committed");
    }
    out
}

/// `bb take`: the saved work becomes branch `branch` in the repository the
/// workspace was copied from. Only a new ref is written there: its
/// checked-out branch, index and files stay exactly as they were.
pub fn take(saved: &Saved, branch: &str) -> Result<String, WorkError> {
    let meta = saved
        .meta()
        .ok_or_else(|| WorkError::NoWork(saved.dir().display().to_string()))?;
    let repo = meta.source.display().to_string();
    if !meta.git {
        return Err(WorkError::NotARepository(repo));
    }
    let host = Git::in_dir(&meta.source);
    let full = format!("refs/heads/{branch}");
    host.run(&["check-ref-format", &full])
        .map_err(|_| GitError::Failed {
            args: format!("check-ref-format {full}"),
            why: format!("{branch:?} is not a valid branch name"),
        })?;
    if host.has(&full) {
        return Err(WorkError::BranchExists {
            branch: branch.to_string(),
            repo,
        });
    }
    let tip = saved.tip()?;
    // Objects fetched from bb's saved copy (fsck-checked), then the one
    // new ref.
    host.run(&[
        "fetch",
        "-q",
        "--no-tags",
        "--no-write-fetch-head",
        saved.repo().to_str().unwrap_or_default(),
        &format!("{tip}:{full}"),
    ])?;
    saved.mark_taken(&tip);
    Ok(tip)
}

/// `bb apply`: the agent's changes since launch, merged into the files of
/// the folder the workspace was copied from, three ways (the workspace as
/// copied, the folder as it is now, the agent's work). On a conflict
/// nothing is written. The folder's repository, if any, is not touched:
/// its index and branch stay as they were, the changes are left
/// uncommitted for the user to review and commit. The files written.
pub fn apply(saved: &Saved) -> Result<Vec<String>, WorkError> {
    let meta = saved
        .meta()
        .ok_or_else(|| WorkError::NoWork(saved.dir().display().to_string()))?;
    let g = Git::bare(&saved.repo());
    let (base, tip) = (saved.base()?, saved.tip()?);
    // The folder as it is now, read with an index of bb's own.
    let now = snapshot_of(saved, &meta.source, "bb: the folder before bb apply")?;
    let (clean, out, err) = g.status(
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "--merge-base",
            &base,
            &now,
            &tip,
        ],
        None,
    )?;
    // The merged tree, then (on a conflict) the files in conflict.
    let out = String::from_utf8_lossy(&out);
    let mut lines = out.lines();
    let tree = lines.next().unwrap_or_default().to_string();
    if !clean {
        let mut files: Vec<String> = lines
            .take_while(|l| !l.is_empty())
            .map(String::from)
            .collect();
        files.dedup();
        if tree.len() < 40 || files.is_empty() {
            return Err(GitError::Failed {
                args: "merge-tree".into(),
                why: err,
            }
            .into());
        }
        return Err(WorkError::Conflict { files });
    }
    let patch = g.output(
        &[
            "diff",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            &now,
            &tree,
        ],
        None,
    )?;
    let files: Vec<String> = g
        .run(&["diff", "--name-only", "--no-renames", &now, &tree])?
        .lines()
        .map(String::from)
        .collect();
    if !patch.is_empty() {
        // Applied to the files alone (no index), relative to the folder.
        g.clone().with_work_tree(&meta.source).output(
            &["apply", "--binary", "--whitespace=nowarn", "-"],
            Some(&patch),
        )?;
    }
    saved.mark_taken(&tip);
    Ok(files)
}

/// A commit of the folder `dir` as it is (its .gitignore honoured), in
/// the saved repository, read with bb's own index.
fn snapshot_of(saved: &Saved, dir: &Path, message: &str) -> Result<String, GitError> {
    let index = saved.dir().join(".folder-index");
    let _ = std::fs::remove_file(&index);
    let g = Git::bare(&saved.repo())
        .with_work_tree(dir)
        .with_index(&index);
    let read = g
        .run(&["add", "-A", "--", "."])
        .and_then(|_| g.run(&["write-tree"]));
    let _ = std::fs::remove_file(&index);
    let tree = read?;
    Git::bare(&saved.repo()).run(&["commit-tree", &tree, "-m", message])
}

/// The default branch `bb take` makes: `bb/<agent>-<slug>`, the slug
/// already starting with the agent's name.
pub fn default_branch(agent: &str, slug: &str) -> String {
    if slug.starts_with(&format!("{agent}-")) {
        format!("bb/{slug}")
    } else {
        format!("bb/{agent}-{slug}")
    }
}

#[cfg(test)]
mod tests {
    use super::snapshot::command;
    use super::*;

    /// A user's repository with a commit and an uncommitted change, a
    /// bottle made from it (files and .git copied as a launch does), the
    /// agent's work (two commits, a change left, a new file) sent back.
    struct Rig {
        _d: tempfile::TempDir,
        host: std::path::PathBuf,
        bottle: std::path::PathBuf,
        saved: Saved,
    }

    fn rig() -> Rig {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("app");
        std::fs::create_dir_all(&host).unwrap();
        let h = Git::in_dir(&host);
        h.run(&["init", "-q", "-b", "main"]).unwrap();
        std::fs::write(host.join("lib.rs"), "fn a() {}\n").unwrap();
        std::fs::write(host.join("notes.txt"), "notes\n").unwrap();
        h.run(&["add", "-A"]).unwrap();
        h.run(&["commit", "-qm", "one"]).unwrap();
        std::fs::write(host.join("notes.txt"), "notes\nmine\n").unwrap();
        let source = source::inspect(&host).unwrap();
        let saved = Saved::at(&d.path().join("bb"), "alpha-1");
        let prepared = launch::prepare(&saved, &host, Some(&source), "alpha").unwrap();
        let bottle = d.path().join("bottle");
        std::fs::create_dir_all(&bottle).unwrap();
        for f in ["lib.rs", "notes.txt"] {
            std::fs::copy(host.join(f), bottle.join(f)).unwrap();
        }
        super::snapshot::tests_copy(&prepared.git_dir, &bottle.join(".git"));
        prepared.done();
        let b = Git::in_dir(&bottle);
        // The user's uncommitted change is there, as a change.
        assert_eq!(b.run(&["status", "--porcelain"]).unwrap(), "M notes.txt");
        std::fs::write(bottle.join("lib.rs"), "fn a() {}\nfn b() {}\n").unwrap();
        b.run(&["commit", "-qm", "add b", "lib.rs"]).unwrap();
        std::fs::write(bottle.join("lib.rs"), "fn a() {}\nfn b() {}\nfn c() {}\n").unwrap();
        b.run(&["commit", "-qm", "add c", "lib.rs"]).unwrap();
        std::fs::write(
            bottle.join("lib.rs"),
            "fn a() {}\nfn b() {}\nfn c() {}\nfn d() {}\n",
        )
        .unwrap();
        std::fs::write(bottle.join("new.rs"), "fn new() {}\n").unwrap();
        let rig = Rig {
            _d: d,
            host,
            bottle,
            saved,
        };
        rig.send();
        rig
    }

    impl Rig {
        fn send(&self) {
            let known = self.saved.points().unwrap().known();
            let out = std::process::Command::new("sh")
                .args(&command(self.bottle.to_str().unwrap(), "alpha", &known)[1..])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            self.saved.take_in(&out.stdout).unwrap();
        }

        fn host_state(&self) -> (String, String, String, Vec<u8>) {
            let h = Git::in_dir(&self.host);
            (
                h.run(&["status", "--porcelain"]).unwrap(),
                h.run(&["symbolic-ref", "HEAD"]).unwrap(),
                h.run(&["ls-files", "-s"]).unwrap(),
                std::fs::read(self.host.join("notes.txt")).unwrap(),
            )
        }
    }

    #[test]
    fn take_makes_a_branch_and_leaves_the_users_repository_as_it_was() {
        let r = rig();
        let s = r.saved.summary().unwrap();
        // The user's own change was there at launch: not the agent's.
        assert_eq!((s.commits, s.files, s.uncommitted), (2, 2, true));
        let before = r.host_state();
        take(&r.saved, "bb/alpha-1").unwrap();
        assert_eq!(
            r.host_state(),
            before,
            "status, branch, index and files untouched"
        );
        let h = Git::in_dir(&r.host);
        let log = h.run(&["log", "--format=%s", "bb/alpha-1"]).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [
                "bb: uncommitted work of alpha (not committed by the agent)",
                "add c",
                "add b",
                "one"
            ]
        );
        assert!(r.saved.summary().unwrap().taken);
        assert!(matches!(
            take(&r.saved, "bb/alpha-1"),
            Err(WorkError::BranchExists { .. })
        ));
    }

    #[test]
    fn apply_merges_three_ways_or_changes_nothing() {
        let r = rig();
        // The user has moved on meanwhile, elsewhere in the file.
        std::fs::write(r.host.join("notes.txt"), "notes\nmine\nmore of mine\n").unwrap();
        let h = Git::in_dir(&r.host);
        let index_before = h.run(&["ls-files", "-s"]).unwrap();
        let mut written = apply(&r.saved).unwrap();
        written.sort();
        assert_eq!(written, ["lib.rs", "new.rs"]);
        assert_eq!(
            std::fs::read_to_string(r.host.join("lib.rs")).unwrap(),
            "fn a() {}\nfn b() {}\nfn c() {}\nfn d() {}\n"
        );
        assert_eq!(
            std::fs::read_to_string(r.host.join("notes.txt")).unwrap(),
            "notes\nmine\nmore of mine\n",
            "the user's own change is kept"
        );
        assert_eq!(
            h.run(&["ls-files", "-s"]).unwrap(),
            index_before,
            "index untouched"
        );
        // A conflicting change of the user's: nothing is written.
        let r = rig();
        std::fs::write(r.host.join("lib.rs"), "fn a() { 1 }\nfn z() {}\n").unwrap();
        let before = std::fs::read(r.host.join("lib.rs")).unwrap();
        match apply(&r.saved) {
            Err(WorkError::Conflict { files }) => assert_eq!(files, ["lib.rs"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(r.host.join("lib.rs")).unwrap(), before);
        assert!(!r.host.join("new.rs").exists());
    }

    #[test]
    fn a_malicious_bottle_repository_runs_nothing_on_the_host() {
        let r = rig();
        let marker = r.host.parent().unwrap().join("pwned");
        let b = Git::in_dir(&r.bottle);
        // In the bottle's repository: a hook, a filter over every file, an
        // fsmonitor, each a command that would leave the marker.
        let touch = format!("touch {}", marker.display());
        for (k, v) in [
            ("core.fsmonitor", touch.as_str()),
            ("filter.evil.clean", touch.as_str()),
            ("filter.evil.smudge", touch.as_str()),
            ("filter.evil.required", "true"),
            ("core.hooksPath", ".githooks"),
        ] {
            b.run(&["config", k, v]).unwrap();
        }
        std::fs::create_dir_all(r.bottle.join(".githooks")).unwrap();
        for hook in [
            "post-checkout",
            "post-merge",
            "reference-transaction",
            "pre-commit",
        ] {
            let p = r.bottle.join(".githooks").join(hook);
            std::fs::write(&p, format!("#!/bin/sh\n{touch}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        std::fs::write(r.bottle.join(".gitattributes"), "* filter=evil\n").unwrap();
        r.send();
        let _ = std::fs::remove_file(&marker);
        take(&r.saved, "bb/evil").unwrap();
        apply(&r.saved).unwrap();
        r.saved.diff(false).unwrap();
        assert!(!marker.exists(), "nothing of the agent's ran on the host");
        assert!(
            r.host.join(".gitattributes").exists(),
            "the file itself is applied"
        );
    }
}
