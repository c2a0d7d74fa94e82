//! The real host, as plans see it.

use std::path::{Path, PathBuf};

use crate::plan::Host;

pub struct SystemHost {
    pub home: PathBuf,
    pub cwd: PathBuf,
}

impl SystemHost {
    pub fn new() -> SystemHost {
        SystemHost {
            home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default(),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }
}

impl Default for SystemHost {
    fn default() -> Self {
        SystemHost::new()
    }
}

impl Host for SystemHost {
    fn has_env(&self, name: &str) -> bool {
        std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }
    fn file_exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn user_home(&self) -> PathBuf {
        self.home.clone()
    }
    fn cwd(&self) -> PathBuf {
        self.cwd.clone()
    }
    fn has_codex_login(&self) -> bool {
        codex_access_token(&self.home).is_some()
    }
}

/// The ChatGPT access token from `~/.codex/auth.json` (honouring
/// CODEX_HOME), if the host is logged in.
pub fn codex_access_token(home: &Path) -> Option<String> {
    codex_token(home, "access_token")
}

/// A field of the host's Codex login's `tokens`.
pub fn codex_token(home: &Path, field: &str) -> Option<String> {
    let dir = std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".codex"));
    let text = std::fs::read_to_string(dir.join("auth.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("tokens")?
        .get(field)?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(String::from)
}
