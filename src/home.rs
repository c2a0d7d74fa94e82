//! Where bb keeps and finds things: the bb home (manifests, state, logs)
//! and the repository whose agents it also reads.

use std::path::{Path, PathBuf};

use crate::manifest::Layout;

/// The bb home: `--home`, else `$BB_HOME`, else `~/.bot-bottle` (shared
/// with bot-bottle, so existing manifests work unchanged).
pub fn bb_home(
    flag: Option<&Path>,
    env_bb_home: Option<&str>,
    user_home: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(p) = env_bb_home.filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(p));
    }
    user_home.map(|h| h.join(".bot-bottle"))
}

/// The `.bot-bottle` folder of the repository containing `cwd`: the nearest
/// ancestor with a `.git`, else `cwd` itself. None when it is the bb home.
pub fn repo_manifest_dir(cwd: &Path, home: &Path) -> Option<PathBuf> {
    let root = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(cwd);
    let dir = root.join(".bot-bottle");
    if !dir.is_dir() {
        return None;
    }
    let same = match (dir.canonicalize(), home.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => dir == home,
    };
    (!same).then_some(dir)
}

pub fn layout(home: &Path, cwd: &Path) -> Layout {
    Layout {
        home: home.to_path_buf(),
        repo: repo_manifest_dir(cwd, home),
    }
}

/// Where an older bb kept bottles' state (they keep it themselves now).
pub fn state_dir(home: &Path) -> PathBuf {
    home.join("state")
}

/// A private dir for files the operator edits in $EDITOR (removed after).
pub fn edits_dir(home: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let d = home.join("edits");
    std::fs::create_dir_all(&d)?;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
    Ok(d)
}

pub fn logs_dir(home: &Path) -> PathBuf {
    home.join("logs")
}

/// What bb read once and keeps because its source never changes (an
/// image's trust store, by the image's id).
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join("cache")
}

/// Where a stopped bottle's audit and decision logs are kept.
pub fn archive_dir(home: &Path) -> PathBuf {
    home.join("archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_user_home() {
        let h = Path::new("/home/u");
        assert_eq!(
            bb_home(Some(Path::new("/x")), Some("/y"), Some(h)),
            Some("/x".into())
        );
        assert_eq!(bb_home(None, Some("/y"), Some(h)), Some("/y".into()));
        assert_eq!(
            bb_home(None, Some(""), Some(h)),
            Some("/home/u/.bot-bottle".into())
        );
        assert_eq!(bb_home(None, None, None), None);
    }

    #[test]
    fn repo_dir_is_found_from_a_subfolder_and_never_the_home() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join(".bot-bottle/agents")).unwrap();
        std::fs::create_dir_all(repo.join("src/deep")).unwrap();
        let home = d.path().join("home");
        assert_eq!(
            repo_manifest_dir(&repo.join("src/deep"), &home),
            Some(repo.join(".bot-bottle"))
        );
        assert_eq!(repo_manifest_dir(&repo, &repo.join(".bot-bottle")), None);
        assert_eq!(repo_manifest_dir(&home, &home), None);
    }
}
