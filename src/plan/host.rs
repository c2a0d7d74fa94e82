//! What a plan needs to know about the host, behind a trait so planning
//! stays pure: tests pass a fixed host, the CLI the real one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub trait Host {
    /// Whether the host environment has a non-empty value for `name`.
    fn has_env(&self, name: &str) -> bool;
    fn file_exists(&self, path: &Path) -> bool;
    /// The user's home directory, for `~` in paths.
    fn user_home(&self) -> PathBuf;
    /// The directory bb runs in, for relative paths.
    fn cwd(&self) -> PathBuf;
    /// Whether `~/.codex/auth.json` holds a ChatGPT access token.
    fn has_codex_login(&self) -> bool;
}

/// A host described by value, for tests and dry runs.
#[derive(Debug, Clone, Default)]
pub struct FixedHost {
    pub env: BTreeMap<String, String>,
    pub files: BTreeSet<PathBuf>,
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub codex_login: bool,
}

impl Host for FixedHost {
    fn has_env(&self, name: &str) -> bool {
        self.env.get(name).is_some_and(|v| !v.is_empty())
    }
    fn file_exists(&self, path: &Path) -> bool {
        self.files.contains(path)
    }
    fn user_home(&self) -> PathBuf {
        self.home.clone()
    }
    fn cwd(&self) -> PathBuf {
        self.cwd.clone()
    }
    fn has_codex_login(&self) -> bool {
        self.codex_login
    }
}

/// `~/x` against the home directory; relative paths against `cwd`.
pub fn expand_path(host: &dyn Host, raw: &str) -> PathBuf {
    let path = if let Some(rest) = raw.strip_prefix("~/") {
        host.user_home().join(rest)
    } else if raw == "~" {
        host.user_home()
    } else {
        PathBuf::from(raw)
    };
    if path.is_relative() {
        host.cwd().join(path)
    } else {
        path
    }
}

/// Where skills live on the host: `~/.claude/skills/<name>`.
pub fn skill_dir(host: &dyn Host, name: &str) -> PathBuf {
    host.user_home().join(".claude").join("skills").join(name)
}
