//! The git CLI as bb runs it on the host: with no system or user config
//! (no credential helpers, no filter or fsmonitor programs, no aliases),
//! hooks off, never asking for a password, fsck on what it receives. What
//! an agent made is read as objects only: nothing of the agent's, and no
//! config of the user's that could run a program over it, is run here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git is not installed on this machine; bb needs it to read and take an agent's work (Debian/Ubuntu: apt-get install git)")]
    Missing,
    #[error("git {args}: {why}")]
    Failed { args: String, why: String },
}

/// One way to run git: a repository (or a work tree), and an index of its
/// own when bb must not touch the repository's.
#[derive(Debug, Clone, Default)]
pub struct Git {
    git_dir: Option<PathBuf>,
    work_tree: Option<PathBuf>,
    index: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

/// Who bb's own commits are by (the snapshot of a workspace at launch).
const BB_NAME: &str = "bb";
const BB_EMAIL: &str = "bb@localhost";

impl Git {
    /// git run in `dir` (a work tree, or a bare repository).
    pub fn in_dir(dir: &Path) -> Git {
        Git {
            cwd: Some(dir.to_path_buf()),
            ..Git::default()
        }
    }

    /// A bare repository bb keeps.
    pub fn bare(git_dir: &Path) -> Git {
        Git {
            git_dir: Some(git_dir.to_path_buf()),
            ..Git::default()
        }
    }

    /// The same repository read against another work tree (read only: git
    /// add with a separate index never writes in it).
    pub fn with_work_tree(mut self, dir: &Path) -> Git {
        self.work_tree = Some(dir.to_path_buf());
        // Paths (a patch's) are read from where git runs.
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Use `index` instead of the repository's own index.
    pub fn with_index(mut self, index: &Path) -> Git {
        self.index = Some(index.to_path_buf());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        // No config but the repository's own, and that overridden where it
        // could run a program.
        c.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", BB_NAME)
            .env("GIT_AUTHOR_EMAIL", BB_EMAIL)
            .env("GIT_COMMITTER_NAME", BB_NAME)
            .env("GIT_COMMITTER_EMAIL", BB_EMAIL)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        for setting in [
            "core.hooksPath=/dev/null",
            "core.fsmonitor=false",
            "core.untrackedCache=false",
            "core.sshCommand=false",
            "credential.helper=",
            "fetch.fsckObjects=true",
            "transfer.fsckObjects=true",
            "protocol.file.allow=always",
            "gc.auto=0",
            "maintenance.auto=false",
            "advice.detachedHead=false",
            "init.defaultBranch=main",
        ] {
            c.args(["-c", setting]);
        }
        if let Some(d) = &self.git_dir {
            c.arg("--git-dir").arg(d);
        }
        if let Some(w) = &self.work_tree {
            c.arg("--work-tree").arg(w);
        }
        if let Some(i) = &self.index {
            c.env("GIT_INDEX_FILE", i);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c.args(args);
        c
    }

    /// Run git; its stdout, trimmed.
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.output(args, None)?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// Run git with `stdin`; its stdout as bytes.
    pub fn output(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
        let (ok, out, err) = self.status(args, stdin)?;
        if !ok {
            return Err(GitError::Failed {
                args: args.join(" "),
                why: err,
            });
        }
        Ok(out)
    }

    /// Run git; whether it succeeded, its stdout and its stderr (for the
    /// commands whose failure is an answer, as a merge's conflicts).
    pub fn status(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<(bool, Vec<u8>, String), GitError> {
        let mut c = self.command(args);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GitError::Missing,
            _ => GitError::Failed {
                args: args.join(" "),
                why: e.to_string(),
            },
        })?;
        if let Some(bytes) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().ok_or_else(|| GitError::Failed {
                args: args.join(" "),
                why: "no stdin".into(),
            })?;
            let bytes = bytes.to_vec();
            // Written from a thread: git may fill its stdout first.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let out = child.wait_with_output().map_err(|e| GitError::Failed {
            args: args.join(" "),
            why: e.to_string(),
        })?;
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let err = if err.is_empty() {
            out.status.to_string()
        } else {
            err
        };
        Ok((out.status.success(), out.stdout, err))
    }

    /// Whether `rev` names an object here.
    pub fn has(&self, rev: &str) -> bool {
        self.run(&["rev-parse", "-q", "--verify", &format!("{rev}^{{object}}")])
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_config_and_hooks_are_not_used() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("r");
        Git::default()
            .run(&["init", "-q", repo.to_str().unwrap()])
            .unwrap();
        // A hook in the repository: bb's git does not run it.
        let marker = d.path().join("ran");
        std::fs::write(
            repo.join(".git/hooks/pre-commit"),
            format!("#!/bin/sh\ntouch {}\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(
            repo.join(".git/hooks/pre-commit"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let g = Git::in_dir(&repo);
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        g.run(&["add", "-A"]).unwrap();
        g.run(&["commit", "-qm", "x"]).unwrap();
        assert!(!marker.exists(), "no hook ran");
        assert!(matches!(
            Git::in_dir(d.path()).run(&["rev-parse", "--verify", "nope"]),
            Err(GitError::Failed { .. })
        ));
    }
}
