//! Tar archives: image build contexts and files copied into containers.

use std::path::Path;

use sha2::{Digest, Sha256};

/// One file (or symbolic link) in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// A symbolic link's target; the entry is then a link.
    pub link: Option<String>,
}

impl Entry {
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            bytes: bytes.into(),
            mode,
            uid: 0,
            gid: 0,
            link: None,
        }
    }

    /// A symbolic link at `path` to `target`.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Entry {
        Entry {
            link: Some(target.into()),
            ..Entry::new(path, Vec::new(), 0o777)
        }
    }

    pub fn owned(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

fn header(
    path: &str,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    kind: tar::EntryType,
) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_entry_type(kind);
    h.set_mtime(0);
    h.set_cksum();
    Ok(h)
}

/// An archive of `entries`, with their parent directories (owned like the
/// entries) so a copy into a container creates them.
pub fn archive(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for e in entries {
        let mut parent = Path::new(&e.path).parent();
        let mut chain = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty() && *p != Path::new("/")) {
            chain.push(p.to_path_buf());
            parent = p.parent();
        }
        for p in chain.into_iter().rev() {
            if dirs.insert(p.clone()) {
                let path = format!("{}/", p.to_string_lossy().trim_start_matches('/'));
                let mut h = header(&path, 0, 0o755, e.uid, e.gid, tar::EntryType::Directory)?;
                b.append(&h, std::io::empty())?;
                h.set_cksum();
            }
        }
        let path = e.path.trim_start_matches('/');
        match &e.link {
            Some(target) => {
                let mut h = header(path, 0, e.mode, e.uid, e.gid, tar::EntryType::Symlink)?;
                b.append_link(&mut h, path, target)?;
            }
            None => {
                let h = header(
                    path,
                    e.bytes.len() as u64,
                    e.mode,
                    e.uid,
                    e.gid,
                    tar::EntryType::Regular,
                )?;
                b.append(&h, e.bytes.as_slice())?;
            }
        }
    }
    b.into_inner()
}

/// One archive of several, in order: each but the last loses its end
/// (the two zero blocks `tar::Builder` closes an archive with), so one
/// copy into a container takes them all.
pub fn join(tars: Vec<Vec<u8>>) -> std::io::Result<Vec<u8>> {
    const END: usize = 1024;
    let count = tars.len();
    let mut out = Vec::with_capacity(tars.iter().map(Vec::len).sum());
    for (i, mut tar) in tars.into_iter().enumerate() {
        if i + 1 < count {
            let body = tar
                .len()
                .checked_sub(END)
                .filter(|&at| tar[at..].iter().all(|&b| b == 0));
            let Some(body) = body else {
                return Err(std::io::Error::other("an archive without its end"));
            };
            tar.truncate(body);
        }
        out.append(&mut tar);
    }
    Ok(out)
}

/// A directory tree under `prefix`, owned by uid:gid; symlinks are kept as
/// links. The caller has already checked its size.
pub fn archive_dir(dir: &Path, prefix: &str, uid: u64, gid: u64) -> std::io::Result<Vec<u8>> {
    archive_dir_with(dir, prefix, uid, gid, true, &|_| false)
}

/// A directory tree at `base/rel`, as `archive_dir`, with the folders
/// between `base` and it owned by uid:gid too: the engine would make
/// them root's, and the agent could not write in its own `~/.claude`.
pub fn archive_dir_in(
    dir: &Path,
    base: &str,
    rel: &str,
    uid: u64,
    gid: u64,
) -> std::io::Result<Vec<u8>> {
    let base = base.trim_start_matches('/').trim_end_matches('/');
    let rel = Path::new(rel.trim_start_matches('/'));
    let mut parents = tar::Builder::new(Vec::new());
    let mut between: Vec<&Path> = rel.ancestors().skip(1).collect();
    between.reverse();
    for p in between.into_iter().filter(|p| !p.as_os_str().is_empty()) {
        let path = format!("{base}/{}/", p.to_string_lossy());
        let h = header(&path, 0, 0o755, uid, gid, tar::EntryType::Directory)?;
        parents.append(&h, std::io::empty())?;
    }
    let prefix = format!("{base}/{}", rel.to_string_lossy());
    join(vec![
        parents.into_inner()?,
        archive_dir(dir, &prefix, uid, gid)?,
    ])
}

/// The workspace as it goes into a bottle: its files under
/// `GUEST_WORKSPACE`, without its own `.git` (the bottle gets the one bb
/// made, `git_dir`, credentials left behind) or any credential store
/// (`left_out`), then bb's `.git`, all owned by the agent's user.
pub fn workspace_archives(
    source: &Path,
    git_dir: Option<&Path>,
    left_out: &[std::path::PathBuf],
    uid: u64,
) -> std::io::Result<Vec<Vec<u8>>> {
    let guest = crate::workspace::GUEST_WORKSPACE;
    let skip = |rel: &Path| rel == Path::new(".git") || left_out.iter().any(|l| l == rel);
    let mut out = vec![archive_dir_with(source, guest, uid, uid, true, &skip)?];
    if let Some(g) = git_dir {
        out.push(archive_dir_with(
            g,
            &format!("{guest}/.git"),
            uid,
            uid,
            true,
            &|_| false,
        )?);
    }
    Ok(out)
}

/// A Dockerfile's folder as a build context: times zeroed, so the tar (and
/// the image's content tag) depends on what the files hold alone.
pub fn archive_build_context(dir: &Path) -> std::io::Result<Vec<u8>> {
    archive_dir_with(dir, "", 0, 0, false, &|_| false)
}

/// `skip`: paths (relative to `dir`) left out, with everything under them.
fn archive_dir_with(
    dir: &Path,
    prefix: &str,
    uid: u64,
    gid: u64,
    keep_mtime: bool,
    skip: &dyn Fn(&Path) -> bool,
) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let prefix = prefix.trim_start_matches('/').trim_end_matches('/');
    if !prefix.is_empty() {
        let h = header(
            &format!("{prefix}/"),
            0,
            0o755,
            uid,
            gid,
            tar::EntryType::Directory,
        )?;
        b.append(&h, std::io::empty())?;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(dir).map_err(std::io::Error::other)?;
            if skip(rel) {
                continue;
            }
            let name = if prefix.is_empty() {
                rel.to_string_lossy().into_owned()
            } else {
                format!("{prefix}/{}", rel.to_string_lossy())
            };
            let meta = path.symlink_metadata()?;
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&meta);
            h.set_uid(uid);
            h.set_gid(gid);
            if !keep_mtime {
                h.set_mtime(0);
            }
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                b.append_link(&mut h, &name, target)?;
            } else if meta.is_dir() {
                b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
                stack.push(path);
            } else if meta.is_file() {
                let f = std::fs::File::open(&path)?;
                b.append_data(&mut h, &name, f)?;
            }
        }
    }
    b.into_inner()
}

/// A stable hash of what an image is built from.
pub fn content_hash(parts: &[(&str, &[u8])]) -> String {
    let mut h = Sha256::new();
    for (name, bytes) in parts {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Copy a tar's files into a container, under `path`: the one way bb
/// puts files into its containers.
pub async fn upload(
    docker: &bollard::Docker,
    container: &str,
    path: &str,
    tar: Vec<u8>,
) -> Result<(), bollard::errors::Error> {
    docker
        .upload_to_container(
            container,
            Some(bollard::query_parameters::UploadToContainerOptions {
                path: path.into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
}

/// A path in a container (made, running or stopped) as the tar Docker
/// gives; None where there is nothing at that path.
pub async fn download(
    docker: &bollard::Docker,
    container: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, bollard::errors::Error> {
    use futures_util::StreamExt;
    let mut stream = docker.download_from_container(
        container,
        Some(bollard::query_parameters::DownloadFromContainerOptions { path: path.into() }),
    );
    let mut tar = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => tar.extend_from_slice(&c),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(tar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_archives_are_one_with_every_entry() {
        let a = archive(&[Entry::new("/a/one", "1", 0o644)]).unwrap();
        let b = archive(&[
            Entry::new("/b/two", "22", 0o600),
            Entry::symlink("/b/link", "two"),
        ])
        .unwrap();
        let joined = join(vec![a, b]).unwrap();
        let mut archive = tar::Archive::new(joined.as_slice());
        let entries: Vec<(String, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a/".into(), None),
                ("a/one".into(), None),
                ("b/".into(), None),
                ("b/two".into(), None),
                ("b/link".into(), Some("two".into())),
            ]
        );
        assert!(join(vec![b"short".to_vec(), Vec::new()]).is_err());
    }

    /// Each entry of an archive, with its owner's uid.
    fn owners(bytes: &[u8]) -> Vec<(String, u64)> {
        tar::Archive::new(bytes)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn archives_hold_files_and_their_parents() {
        let bytes =
            archive(&[Entry::new("/home/node/.bb/prompt.md", "hi", 0o600).owned(1000, 1000)])
                .unwrap();
        let names = owners(&bytes);
        assert_eq!(
            names,
            vec![
                ("home/".into(), 1000),
                ("home/node/".into(), 1000),
                ("home/node/.bb/".into(), 1000),
                ("home/node/.bb/prompt.md".into(), 1000)
            ]
        );
    }

    #[test]
    fn a_tree_in_a_home_owns_the_folders_on_its_way() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("SKILL.md"), "x").unwrap();
        let bytes =
            archive_dir_in(d.path(), "/home/node", ".claude/skills/review", 1000, 1000).unwrap();
        let names = owners(&bytes);
        // Not the home itself: only what lies between it and the tree.
        assert_eq!(
            names,
            vec![
                ("home/node/.claude/".into(), 1000),
                ("home/node/.claude/skills/".into(), 1000),
                ("home/node/.claude/skills/review/".into(), 1000),
                ("home/node/.claude/skills/review/SKILL.md".into(), 1000),
            ]
        );
    }

    #[test]
    fn hashes_change_with_content() {
        let a = content_hash(&[("Dockerfile", b"FROM x")]);
        assert_eq!(a, content_hash(&[("Dockerfile", b"FROM x")]));
        assert_ne!(a, content_hash(&[("Dockerfile", b"FROM y")]));
        assert_ne!(content_hash(&[("ab", b"c")]), content_hash(&[("a", b"bc")]));
    }

    #[test]
    fn directories_archive_with_owner() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/main.rs"), "fn main() {}").unwrap();
        std::os::unix::fs::symlink("src/main.rs", d.path().join("link")).unwrap();
        let bytes = archive_dir(d.path(), "/home/node/workspace", 1000, 1000).unwrap();
        let mut a = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"home/node/workspace/src/main.rs".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"home/node/workspace/link".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn build_contexts_depend_on_content_not_times() {
        let make = |secs: i64, text: &str| {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("Dockerfile"), text).unwrap();
            let f = std::fs::File::options()
                .write(true)
                .open(d.path().join("Dockerfile"))
                .unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
                .unwrap();
            d
        };
        let (a, b) = (make(1_000, "FROM x\n"), make(2_000, "FROM x\n"));
        assert_eq!(
            archive_build_context(a.path()).unwrap(),
            archive_build_context(b.path()).unwrap()
        );
        let c = make(1_000, "FROM y\n");
        assert_ne!(
            archive_build_context(a.path()).unwrap(),
            archive_build_context(c.path()).unwrap()
        );
        // A workspace copy keeps its times.
        assert_ne!(
            archive_dir(a.path(), "", 0, 0).unwrap(),
            archive_dir(b.path(), "", 0, 0).unwrap()
        );
    }
}
