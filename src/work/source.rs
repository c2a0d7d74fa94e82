//! The workspace's own repository, as bb reads it before a launch: where
//! its root is, what is checked out, whether it has uncommitted changes,
//! its remotes with any credential taken out of their URLs, and what of
//! its credentials stays behind (the bottle gets none of them).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::git::{Git, GitError};

/// A workspace that is a git repository (its root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitSource {
    pub root: PathBuf,
    /// The checked-out commit; None in a repository with no commit yet.
    pub head: Option<String>,
    /// The checked-out branch; None when detached.
    pub branch: Option<String>,
    /// It has changes not committed (they go in with the copy).
    pub dirty: bool,
    /// Remotes as the bottle gets them: (name, URL without credentials).
    pub remotes: Vec<(String, String)>,
    /// What stays behind, in words: credentials in the repository's config
    /// and `.git-credentials` files. The bottle's repository has a config
    /// of its own (remotes, branch), none of the host's.
    pub removed: Vec<String>,
}

/// The root of the repository `dir` is in, if it is in one.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    let top = Git::in_dir(dir)
        .run(&["rev-parse", "--show-toplevel"])
        .ok()?;
    (!top.is_empty()).then(|| PathBuf::from(top))
}

/// The repository at `root` (its top level), read.
pub fn inspect(root: &Path) -> Result<GitSource, GitError> {
    let g = Git::in_dir(root);
    let head = g
        .run(&["rev-parse", "-q", "--verify", "HEAD^{commit}"])
        .ok();
    let branch = g.run(&["symbolic-ref", "-q", "--short", "HEAD"]).ok();
    let dirty = !g
        .run(&["status", "--porcelain", "--untracked-files=normal"])?
        .is_empty();
    let config = g
        .run(&["config", "--local", "--list", "--null"])
        .unwrap_or_default();
    let mut remotes = Vec::new();
    let mut removed = Vec::new();
    for entry in config.split('\0').filter(|e| !e.is_empty()) {
        let (key, value) = entry.split_once('\n').unwrap_or((entry, ""));
        let key = key.to_ascii_lowercase();
        if let Some(name) = key
            .strip_prefix("remote.")
            .and_then(|k| k.strip_suffix(".url"))
        {
            let (clean, had) = without_credentials(value);
            if had {
                removed.push(format!(
                    "the credential in remote {name}'s URL (the bottle gets {clean})"
                ));
            }
            remotes.push((name.to_string(), clean));
        } else if key.starts_with("credential.") {
            removed.push(format!("{key} (credential helpers and settings)"));
        } else if key.ends_with(".extraheader") && key.starts_with("http.") {
            removed.push(format!("{key} (headers sent with every request)"));
        } else if key.starts_with("url.") && without_credentials(value).1 {
            removed.push(format!("{key} (a URL rewrite with a credential)"));
        } else if key == "include.path" || key.starts_with("includeif.") {
            removed.push(format!("{key} (included config)"));
        }
    }
    removed.sort();
    removed.dedup();
    Ok(GitSource {
        root: root.to_path_buf(),
        head,
        branch,
        dirty,
        remotes,
        removed,
    })
}

/// `url` without a user or password (http, https, ftp) and whether it had
/// one. An ssh user (`git@`) names an account, not a secret, and the
/// bottle's remotes match on it, so ssh URLs keep theirs (a password in
/// one is dropped).
pub fn without_credentials(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else {
        // scp-like `user@host:path`: a user, never a password.
        return (url.to_string(), false);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), false);
    };
    let ssh = scheme.eq_ignore_ascii_case("ssh") || scheme.eq_ignore_ascii_case("git+ssh");
    match (ssh, userinfo.split_once(':')) {
        (true, None) => (url.to_string(), false),
        (true, Some((user, _password))) => (format!("{scheme}://{user}@{host}{path}"), true),
        (false, _) => (format!("{scheme}://{host}{path}"), true),
    }
}

/// Files named `.git-credentials` under `dir` (a credential store), which
/// stay behind.
pub fn credential_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() && e.file_name() != ".git" {
                stack.push(e.path());
            } else if kind.is_file() && e.file_name() == ".git-credentials" {
                if let Ok(rel) = e.path().strip_prefix(dir) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_urls_but_ssh_users_stay() {
        assert_eq!(
            without_credentials("https://x-access-token:ghp_abc@github.com/me/app.git"),
            ("https://github.com/me/app.git".into(), true)
        );
        assert_eq!(
            without_credentials("https://me@gitea.example.com:3000/me/app"),
            ("https://gitea.example.com:3000/me/app".into(), true)
        );
        assert_eq!(
            without_credentials("ssh://git@gitea.example.com:30009/me/app.git"),
            ("ssh://git@gitea.example.com:30009/me/app.git".into(), false)
        );
        assert_eq!(
            without_credentials("ssh://git:hunter2@host/x.git"),
            ("ssh://git@host/x.git".into(), true)
        );
        assert_eq!(
            without_credentials("git@github.com:me/app.git"),
            ("git@github.com:me/app.git".into(), false)
        );
        assert_eq!(
            without_credentials("https://github.com/me/app.git"),
            ("https://github.com/me/app.git".into(), false)
        );
    }

    #[test]
    fn a_repository_says_what_of_its_credentials_stays_behind() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("app");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let g = Git::in_dir(&root);
        g.run(&["init", "-q", "-b", "main"]).unwrap();
        g.run(&[
            "remote",
            "add",
            "origin",
            "https://me:tok123@example.com/me/app.git",
        ])
        .unwrap();
        g.run(&["config", "credential.helper", "store"]).unwrap();
        g.run(&[
            "config",
            "http.https://example.com/.extraHeader",
            "Authorization: Basic eA==",
        ])
        .unwrap();
        std::fs::write(root.join("a.txt"), "a\n").unwrap();
        std::fs::write(root.join("sub/.git-credentials"), "https://me:tok@x\n").unwrap();
        g.run(&["add", "a.txt"]).unwrap();
        g.run(&["commit", "-qm", "one"]).unwrap();
        assert_eq!(
            repo_root(&root.join("sub")),
            Some(root.canonicalize().unwrap())
        );
        assert_eq!(repo_root(d.path()), None);
        let s = inspect(&root).unwrap();
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert!(
            s.head.is_some() && s.dirty,
            "the credentials file is untracked"
        );
        assert_eq!(
            s.remotes,
            [(
                "origin".to_string(),
                "https://example.com/me/app.git".to_string()
            )]
        );
        let removed = s.removed.join("\n");
        for what in ["remote origin's URL", "credential.helper", "extraheader"] {
            assert!(removed.contains(what), "{what} in {removed}");
        }
        assert!(!removed.contains("tok123"), "{removed}");
        assert_eq!(
            credential_files(&root),
            [PathBuf::from("sub/.git-credentials")]
        );
    }
}
