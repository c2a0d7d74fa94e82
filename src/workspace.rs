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

/// The directory to copy for a bottle started from `cwd`: none when that
/// is the user's home or the filesystem root (copying those would hand the
/// agent the user's keys and dotfiles).
pub fn choose(cwd: &Path, user_home: &Path) -> Option<PathBuf> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    if same(cwd, Path::new("/")) || (!user_home.as_os_str().is_empty() && same(cwd, user_home)) {
        None
    } else {
        Some(cwd.to_path_buf())
    }
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
        assert_eq!(choose(Path::new("/"), Path::new("/home/u")), None);
        assert_eq!(choose(d.path(), d.path()), None, "never the home directory");
        assert_eq!(
            choose(&d.path().join("src"), d.path()),
            Some(d.path().join("src"))
        );
    }
}
