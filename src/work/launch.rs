//! At launch: the bottle's repository, and bb's copy of where the work
//! starts. A workspace that is a git repository goes in as a clone of it
//! (its history, the checked-out branch, its remotes without credentials,
//! none of its config or hooks); one that is not gets a repository made
//! for it. Either way bb records the workspace as it was copied (a commit,
//! `refs/bb/base`) in its saved-work repository, so everything the agent
//! changes can be read against it later, also after the bottle is gone.

use std::path::{Path, PathBuf};

use super::git::{Git, GitError};
use super::saved::Saved;
use super::source::GitSource;

/// What the launch copies in besides the files: the bottle's `.git`.
#[derive(Debug)]
pub struct Prepared {
    /// A `.git` directory to copy into the workspace (removed by `done`).
    pub git_dir: PathBuf,
    /// The commit the work is read against: the workspace as copied.
    pub base: String,
    /// Files of the workspace not copied (credential stores), relative.
    pub left_out: Vec<PathBuf>,
}

impl Prepared {
    /// The `.git` has been copied in: its staging copy goes.
    pub fn done(&self) {
        let _ = std::fs::remove_dir_all(&self.git_dir);
    }
}

const BASE_MESSAGE: &str = "bb: the workspace at launch, with its uncommitted changes";
const FRESH_MESSAGE: &str = "bb: the workspace at launch";

/// Make the saved-work repository for `saved` from the workspace at
/// `source` (its git repository, if `git` says it is one), and the `.git`
/// the bottle gets.
pub fn prepare(
    saved: &Saved,
    source: &Path,
    git: Option<&GitSource>,
    agent: &str,
) -> Result<Prepared, GitError> {
    let repo = saved.repo();
    if let Some(parent) = repo.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
    }
    let _ = std::fs::remove_dir_all(&repo);
    let archive = Git::bare(&repo);
    let start = match git.and_then(|g| g.head.clone().map(|h| (g, h))) {
        Some((g, head)) => {
            // Every branch, tag and remote-tracking branch of the user's
            // repository (objects hardlinked where the disk allows); not
            // its config, hooks or stash.
            Git::default().run(&["init", "-q", "--bare", repo.to_str().unwrap_or_default()])?;
            archive.run(&[
                "fetch",
                "-q",
                "--no-tags",
                g.root.to_str().unwrap_or_default(),
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                "+refs/remotes/*:refs/remotes/*",
            ])?;
            if let Some(b) = &g.branch {
                archive.run(&["symbolic-ref", "HEAD", &format!("refs/heads/{b}")])?;
            }
            Some(head)
        }
        None => {
            Git::default().run(&[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                repo.to_str().unwrap_or_default(),
            ])?;
            None
        }
    };
    // The workspace as copied, read with an index of bb's own (the
    // user's repository is not touched): its .gitignore is honoured.
    let index = saved.dir().join(".launch-index");
    let _ = std::fs::remove_file(&index);
    let reading = archive.clone().with_work_tree(source).with_index(&index);
    reading.run(&["add", "-A", "--", "."])?;
    let tree = reading.run(&["write-tree"])?;
    let _ = std::fs::remove_file(&index);
    let base = match &start {
        Some(head) if archive.run(&["rev-parse", &format!("{head}^{{tree}}")])? == tree => {
            head.clone()
        }
        Some(head) => archive.run(&["commit-tree", &tree, "-p", head, "-m", BASE_MESSAGE])?,
        None => archive.run(&["commit-tree", &tree, "-m", FRESH_MESSAGE])?,
    };
    let start = start.unwrap_or_else(|| base.clone());
    archive.run(&["update-ref", "refs/bb/base", &base])?;
    archive.run(&["update-ref", "refs/bb/start", &start])?;
    if git.is_none() {
        // A workspace of no repository: the bottle starts on `main` at
        // the workspace as it was.
        archive.run(&["update-ref", "refs/heads/main", &base])?;
    }
    saved.write_meta(&super::saved::Meta {
        agent: agent.to_string(),
        source: source.to_path_buf(),
        git: git.is_some(),
        base: base.clone(),
        start,
    })?;
    let git_dir = bottle_git_dir(saved, git, &base)?;
    let left_out = super::source::credential_files(source);
    Ok(Prepared {
        git_dir,
        base,
        left_out,
    })
}

/// The bottle's `.git`: the saved repository's refs, a config of its own
/// (remotes without credentials, the branch's upstream), the branch
/// checked out and an index of it, so the copied files show the user's
/// uncommitted changes as changes.
fn bottle_git_dir(saved: &Saved, git: Option<&GitSource>, base: &str) -> Result<PathBuf, GitError> {
    let staging = saved.dir().join("launch-git");
    let _ = std::fs::remove_dir_all(&staging);
    let work = staging.join("tree");
    std::fs::create_dir_all(&work).map_err(|e| io_err("create", &work, e))?;
    let g = Git::in_dir(&work);
    g.run(&["init", "-q"])?;
    g.run(&[
        "fetch",
        "-q",
        "--no-tags",
        "--update-head-ok",
        saved.repo().to_str().unwrap_or_default(),
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
        "+refs/remotes/*:refs/remotes/*",
        "+refs/bb/*:refs/bb/*",
    ])?;
    // A config of its own: none of the host's survives the fetch.
    let mut config = String::from(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n",
    );
    for (name, url) in git.map(|g| g.remotes.as_slice()).unwrap_or_default() {
        if name.contains(['"', '\n', '\\']) || url.contains(['\n', '"']) {
            continue;
        }
        config.push_str(&format!(
            "[remote \"{name}\"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/{name}/*\n"
        ));
    }
    let branch = match git {
        Some(g) => g.branch.clone(),
        None => Some("main".to_string()),
    };
    if let (Some(b), Some(g)) = (&branch, git) {
        if let Some((remote, _)) = g.remotes.iter().find(|(n, _)| n == "origin") {
            if !b.contains(['"', '\n', ']']) {
                config.push_str(&format!(
                    "[branch \"{b}\"]\n\tremote = {remote}\n\tmerge = refs/heads/{b}\n"
                ));
            }
        }
    }
    let dot_git = work.join(".git");
    std::fs::write(dot_git.join("config"), config).map_err(|e| io_err("write", &dot_git, e))?;
    match (&branch, git.and_then(|g| g.head.clone())) {
        (Some(b), _) => g.run(&["symbolic-ref", "HEAD", &format!("refs/heads/{b}")])?,
        (None, Some(head)) => g.run(&["update-ref", "--no-deref", "HEAD", &head])?,
        (None, None) => g.run(&["update-ref", "--no-deref", "HEAD", base])?,
    };
    if g.has("HEAD") {
        g.run(&["read-tree", "HEAD"])?;
    }
    // Hooks are the user's tools, not the agent's: the bottle starts
    // without any (it may add its own).
    let _ = std::fs::remove_dir_all(dot_git.join("hooks"));
    Ok(dot_git)
}

fn io_err(doing: &str, path: &Path, e: std::io::Error) -> GitError {
    GitError::Failed {
        args: format!("{doing} {}", path.display()),
        why: e.to_string(),
    }
}
