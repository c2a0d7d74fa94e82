//! The user's code, copied into a bottle. Never mounted: work leaves the
//! bottle through git (the gate).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where the workspace lands inside the bottle.
pub const GUEST_WORKSPACE: &str = "/home/node/workspace";
/// The default largest workspace bb copies (configurable).
pub const DEFAULT_LIMIT_MB: u64 = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub source: PathBuf,
    pub bytes: u64,
    pub files: u64,
    /// Its repository, when the workspace is one (the bottle gets a clone).
    pub git: Option<crate::work::source::GitSource>,
    /// Files left behind: credential stores (`.git-credentials`).
    pub left_out: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("workspace {path} is over {limit_mb} MiB (at least {mb} MiB); pick a smaller directory with --cwd, start with --no-workspace, or raise workspace_limit_mb in config.yaml", mb = .bytes / (1024 * 1024))]
    TooBig {
        path: PathBuf,
        bytes: u64,
        limit_mb: u64,
    },
    #[error("cannot read workspace {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
}

/// Why a directory is not copied into a bottle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCopied {
    #[error("not copied: {0} is the filesystem root; run bb from a project folder or pass --cwd")]
    Root(PathBuf),
    #[error("not copied: {0} is your home directory, with your keys and dotfiles; run bb from a project folder or pass --cwd")]
    Home(PathBuf),
    #[error("not copied: {0} is inside bb's home ({1}), which holds every bottle's state and keys; run bb from a project folder or pass --cwd")]
    BbHome(PathBuf, PathBuf),
}

/// The directory to copy for a bottle started from `cwd`, or why there is
/// none: never the filesystem root or the user's home (copying those would
/// hand the agent the user's keys and dotfiles), never bb's own home or
/// anything in it (every bottle's state, CA keys among it).
pub fn choose(cwd: &Path, user_home: &Path, bb_home: &Path) -> Result<PathBuf, NotCopied> {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let here = real(cwd);
    if here == Path::new("/") {
        return Err(NotCopied::Root(cwd.to_path_buf()));
    }
    if !user_home.as_os_str().is_empty() && here == real(user_home) {
        return Err(NotCopied::Home(cwd.to_path_buf()));
    }
    if !bb_home.as_os_str().is_empty() && here.starts_with(real(bb_home)) {
        return Err(NotCopied::BbHome(cwd.to_path_buf(), bb_home.to_path_buf()));
    }
    Ok(cwd.to_path_buf())
}

/// The directory to copy for a bottle started from `dir`: the root of the
/// repository it is in (the bottle gets the whole repository, as a
/// clone), else `dir` itself; never one `choose` refuses.
pub fn locate(dir: &Path, user_home: &Path, bb_home: &Path) -> Result<PathBuf, NotCopied> {
    let dir = choose(dir, user_home, bb_home)?;
    match crate::work::source::repo_root(&dir) {
        Some(root) => choose(&root, user_home, bb_home),
        None => Ok(dir),
    }
}

/// Measure `path` and read its repository (if it is one): what the
/// preflight shows and the launch copies.
pub fn read(path: &Path, limit_mb: u64) -> Result<Workspace, WorkspaceError> {
    let mut ws = measure(path, limit_mb)?;
    if crate::work::source::repo_root(path).as_deref()
        == Some(&*path.canonicalize().unwrap_or_else(|_| path.to_path_buf()))
    {
        ws.git = crate::work::source::inspect(path).ok();
    }
    ws.left_out = crate::work::source::credential_files(path);
    Ok(ws)
}

/// Size up a directory, stopping as soon as it is over the limit.
pub fn measure(path: &Path, limit_mb: u64) -> Result<Workspace, WorkspaceError> {
    let limit = limit_mb.saturating_mul(1024 * 1024);
    let unreadable = |source| WorkspaceError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = 0u64;
    let mut files = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let meta = entry.path().symlink_metadata().map_err(unreadable)?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
                if bytes > limit {
                    return Err(WorkspaceError::TooBig {
                        path: path.to_path_buf(),
                        bytes,
                        limit_mb,
                    });
                }
            }
        }
    }
    Ok(Workspace {
        source: path.to_path_buf(),
        bytes,
        files,
        git: None,
        left_out: Vec::new(),
    })
}

/// `1.2 MiB`
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_refuses_what_is_too_big() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/deep")).unwrap();
        fs::write(d.path().join("a.txt"), vec![b'x'; 1000]).unwrap();
        fs::write(d.path().join("src/deep/b.txt"), vec![b'y'; 500]).unwrap();
        let w = measure(d.path(), 1).unwrap();
        assert_eq!((w.bytes, w.files), (1500, 2));
        fs::write(d.path().join("big.bin"), vec![0u8; 2 * 1024 * 1024]).unwrap();
        let e = measure(d.path(), 1).unwrap_err();
        assert!(e.to_string().contains("is over 1 MiB"), "{e}");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(12), "12 B");
        let bb = d.path().join(".bot-bottle");
        fs::create_dir_all(bb.join("state/x")).unwrap();
        assert!(matches!(
            choose(Path::new("/"), Path::new("/home/u"), &bb),
            Err(NotCopied::Root(_))
        ));
        let home = choose(d.path(), d.path(), &bb).unwrap_err();
        assert!(
            home.to_string().contains("is your home directory"),
            "never the home directory: {home}"
        );
        let state = choose(&bb.join("state/x"), Path::new("/home/u"), &bb).unwrap_err();
        assert!(
            state.to_string().contains("inside bb's home"),
            "never bb's own state: {state}"
        );
        assert_eq!(
            choose(&d.path().join("src"), d.path(), &bb),
            Ok(d.path().join("src"))
        );
    }
}
