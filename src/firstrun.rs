//! Starter bottles and agents for a new bb home, embedded in the binary.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const STARTERS: &[(&str, &str)] = &[
    (
        "bottles/claude.md",
        include_str!("../assets/starter/bottles/claude.md"),
    ),
    (
        "bottles/codex.md",
        include_str!("../assets/starter/bottles/codex.md"),
    ),
    (
        "agents/claude-helper.md",
        include_str!("../assets/starter/agents/claude-helper.md"),
    ),
    (
        "agents/codex-helper.md",
        include_str!("../assets/starter/agents/codex-helper.md"),
    ),
];

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written(PathBuf),
    /// A file was already there; it is left as it was.
    Kept(PathBuf),
}

/// Write the starter files under `home`, never replacing an existing file.
pub fn write_starters(home: &Path) -> io::Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for (rel, text) in STARTERS {
        let path = home.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                out.push(Outcome::Written(path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => out.push(Outcome::Kept(path)),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{load, Layout};

    #[test]
    fn starters_load_cleanly_and_are_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("bb");
        fs::create_dir_all(home.join("agents")).unwrap();
        fs::write(home.join("agents/claude-helper.md"), "mine").unwrap();
        let outcomes = write_starters(&home).unwrap();
        assert!(outcomes.contains(&Outcome::Kept(home.join("agents/claude-helper.md"))));
        assert_eq!(
            fs::read_to_string(home.join("agents/claude-helper.md")).unwrap(),
            "mine"
        );
        fs::remove_file(home.join("agents/claude-helper.md")).unwrap();
        write_starters(&home).unwrap();
        let m = load(&Layout { home, repo: None });
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.agents.len(), 2);
        assert_eq!(m.bottles.len(), 2);
    }
}
