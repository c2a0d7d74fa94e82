//! The bottle CA in the agent's trust store, written before the agent's
//! container starts: its Debian bundle gains the CA, and /etc/ssl/certs
//! the CA's link and OpenSSL's hash link, as `update-ca-certificates`
//! would leave them. Read from the container and written with the rest
//! of its files, this takes no process in the bottle; an exec after the
//! start, even of a one-certificate script, took 0.15-0.23 s of each
//! launch. Where the store is not Debian's, or something hooks into its
//! updates (Java's keystore would), the CA is installed after the start
//! by the store's own tools ([`install_ca`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::Docker;

use super::context::{self, Entry};
use super::exec::run as run_exec;

/// Where the bottle CA's certificate goes in the agent's container.
pub const CA_GUEST: &str = "/usr/local/share/ca-certificates/bb-bottle.crt";
/// The Debian bundle every TLS stack in the agent is pointed at.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const CERTS: &str = "/etc/ssl/certs";
const BUNDLE: &str = "ca-certificates.crt";
const HOOKS: &str = "/etc/ca-certificates/update.d";
/// The CA's link in /etc/ssl/certs, as `update-ca-certificates` names it.
const LINK: &str = "bb-bottle.pem";

/// How the agent's container comes to trust the bottle CA.
#[derive(Debug, PartialEq, Eq)]
pub enum Trust {
    /// These files, copied in before the start, do it.
    Files(Vec<Entry>),
    /// The store's own tools must, once the container runs.
    AfterStart,
}

/// What /etc/ssl/certs holds: the bundle and the names and links beside it.
struct Store {
    bundle: Vec<u8>,
    bundle_mode: u32,
    /// Every name in the folder, with its link's target if it is a link.
    names: BTreeMap<String, Option<String>>,
}

/// How `container` (made, not necessarily running) comes to trust the CA
/// `ca_pem`, which goes to `CA_GUEST` with the container's other files.
/// `image`: the id of the image it was made from, when it has not run
/// yet, so that what the image holds is read once and kept in `cache`.
pub async fn prepare(
    docker: &Docker,
    container: &str,
    image: Option<(&str, &Path)>,
    ca_pem: &str,
) -> Result<Trust, String> {
    let kept = image.map(|(id, cache)| kept_at(cache, id));
    let seen = match kept.as_deref().and_then(Seen::load) {
        Some(seen) => seen,
        None => {
            let seen = Seen::read(docker, container).await?;
            if let Some(path) = &kept {
                // Only a faster next launch is lost where it cannot be kept.
                let _ = seen.keep(path);
            }
            seen
        }
    };
    if seen
        .hooks
        .as_deref()
        .is_some_and(|tar| !names_in(tar).is_empty())
    {
        return Ok(Trust::AfterStart);
    }
    let (Some(store), Some(hash)) = (
        seen.certs.as_deref().and_then(read_store),
        crate::ca::subject_hash(ca_pem),
    ) else {
        return Ok(Trust::AfterStart);
    };
    Ok(Trust::Files(store.with(ca_pem, &hash)))
}

/// How many images' stores are kept (about 0.4 MB each): the newest.
const KEPT: usize = 16;

/// All but the `keep` newest files of `dir` go.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, old) in files.into_iter().skip(keep) {
        let _ = std::fs::remove_file(old);
    }
}

/// Where what an image's trust store holds is kept.
fn kept_at(cache: &Path, image: &str) -> PathBuf {
    let id = image.trim_start_matches("sha256:");
    cache.join("trust").join(format!("{id}.tar"))
}

/// What an image's trust store holds, as Docker gives the two folders
/// (None where the image has no such folder). Reading them costs two
/// copies out of the container, 0.13-0.2 s; an image never changes, so
/// it is read once per image id.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    certs: Option<Vec<u8>>,
    hooks: Option<Vec<u8>>,
}

impl Seen {
    async fn read(docker: &Docker, container: &str) -> Result<Seen, String> {
        let (certs, hooks) = tokio::join!(
            context::download(docker, container, CERTS),
            context::download(docker, container, HOOKS),
        );
        Ok(Seen {
            certs: certs.map_err(|e| format!("reading {CERTS}: {e}"))?,
            hooks: hooks.map_err(|e| format!("reading {HOOKS}: {e}"))?,
        })
    }

    /// Kept as one archive of the two downloads, written whole or not at all.
    fn keep(&self, path: &Path) -> std::io::Result<()> {
        let entries: Vec<Entry> = [("certs", &self.certs), ("hooks", &self.hooks)]
            .into_iter()
            .filter_map(|(name, tar)| Some(Entry::new(name, tar.clone()?, 0o644)))
            .collect();
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let part = path.with_extension(format!("part{}", std::process::id()));
        std::fs::write(&part, context::archive(&entries)?)?;
        std::fs::rename(&part, path)?;
        prune(dir, KEPT);
        Ok(())
    }

    fn load(path: &Path) -> Option<Seen> {
        let bytes = std::fs::read(path).ok()?;
        let mut seen = Seen {
            certs: None,
            hooks: None,
        };
        for entry in tar::Archive::new(bytes.as_slice()).entries().ok()? {
            let mut entry = entry.ok()?;
            let mut tar = Vec::new();
            entry.read_to_end(&mut tar).ok()?;
            match entry.path().ok()?.to_str()? {
                "certs" => seen.certs = Some(tar),
                "hooks" => seen.hooks = Some(tar),
                _ => return None,
            }
        }
        Some(seen)
    }
}

impl Store {
    /// The files that make this store trust `ca_pem` (subject hash `hash`).
    fn with(&self, ca_pem: &str, hash: &str) -> Vec<Entry> {
        let mut bundle = self.bundle.clone();
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(ca_pem.as_bytes());
        let mut files = vec![
            Entry::new(format!("{CERTS}/{BUNDLE}"), bundle, self.bundle_mode),
            Entry::symlink(format!("{CERTS}/{LINK}"), CA_GUEST),
        ];
        // A bottle's later CAs have its first one's subject: its hash
        // link already leads to the CA's link.
        let linked = (0..)
            .map(|i| format!("{hash}.{i}"))
            .take_while(|name| self.names.contains_key(name))
            .any(|name| self.names[&name].as_deref() == Some(LINK));
        if !linked {
            let free = (0..)
                .map(|i| format!("{hash}.{i}"))
                .find(|name| !self.names.contains_key(name))
                .unwrap_or_default();
            files.push(Entry::symlink(format!("{CERTS}/{free}"), LINK));
        }
        files
    }
}

/// The store in a download of /etc/ssl/certs, where its bundle is a file.
fn read_store(tar: &[u8]) -> Option<Store> {
    let mut archive = tar::Archive::new(tar);
    let mut names = BTreeMap::new();
    let mut bundle = None;
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.into_owned();
        // The download is the folder itself (`certs/...`).
        let Some(name) = path
            .strip_prefix("certs")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|p| !p.is_empty() && !p.contains('/'))
            .map(String::from)
        else {
            continue;
        };
        let kind = entry.header().entry_type();
        if name == BUNDLE && kind.is_file() {
            let mode = entry.header().mode().ok()?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).ok()?;
            bundle = Some((bytes, mode));
        }
        let target = kind
            .is_symlink()
            .then(|| entry.link_name().ok().flatten())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned());
        names.insert(name, target);
    }
    let (bundle, bundle_mode) = bundle?;
    Some(Store {
        bundle,
        bundle_mode,
        names,
    })
}

/// The names a downloaded folder holds (not the folder itself).
fn names_in(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    let Ok(entries) = archive.entries() else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let path = e.path().ok()?.into_owned();
            let mut parts = path.components();
            parts.next()?;
            parts
                .next()
                .map(|p| p.as_os_str().to_string_lossy().into_owned())
        })
        .collect()
}

/// Installs the bottle CA into a running container's trust store (where
/// it cannot be written before the start, and in micro-VMs). Where the store is
/// Debian's and nothing hooks into its updates (Java's keystore would),
/// this does what `update-ca-certificates` does for one certificate: the
/// bundle gains it, and `/etc/ssl/certs` its link and OpenSSL's hash link.
/// The whole `update-ca-certificates` took 2.0 s of a 4.4 s launch, going
/// over every certificate again.
pub(crate) fn trust_script() -> String {
    let certs = "/etc/ssl/certs";
    format!(
        "if [ -f {CA_BUNDLE} ] && [ -z \"$(ls -A /etc/ca-certificates/update.d 2>/dev/null)\" ]; then \
           ln -sf {CA_GUEST} {certs}/bb-bottle.pem && cat {CA_GUEST} >> {CA_BUNDLE} || exit 1; \
           if command -v openssl >/dev/null 2>&1; then \
             h=$(openssl x509 -hash -noout -in {CA_GUEST}) && i=0 && \
             while [ -e {certs}/$h.$i ]; do i=$((i+1)); done && ln -s bb-bottle.pem {certs}/$h.$i; \
           fi; \
         elif command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates >/dev/null 2>&1; \
         else cat {CA_GUEST} >> {CA_BUNDLE}; fi"
    )
}

/// Install the bottle CA (already copied to CA_GUEST) into a running
/// agent container's trust store; the error says what went wrong.
pub async fn install_ca(docker: &Docker, container: &str) -> Result<(), String> {
    let (code, out) = run_exec(docker, container, "root", &["sh", "-c", &trust_script()])
        .await
        .map_err(|e| e.to_string())?;
    if code != 0 {
        return Err(format!("exit {code}: {}", out.trim()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        b.append_data(&mut dir, "certs/", std::io::empty()).unwrap();
        for (name, link) in entries {
            let mut h = tar::Header::new_gnu();
            match link {
                Some(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    b.append_link(&mut h, format!("certs/{name}"), target)
                        .unwrap();
                }
                None => {
                    let body = b"-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----";
                    h.set_size(body.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, format!("certs/{name}"), &body[..])
                        .unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn the_bundle_gains_the_ca_and_the_folder_its_links() {
        let tar = folder(&[
            ("ca-certificates.crt", None),
            ("0a1b2c3d.0", Some("Other_CA.pem")),
            ("Other_CA.pem", Some("/usr/share/ca-certificates/other.crt")),
        ]);
        let store = read_store(&tar).unwrap();
        let files = store.with("-----BEGIN CERTIFICATE-----\nnew\n", "0a1b2c3d");
        let bundle = String::from_utf8(files[0].bytes.clone()).unwrap();
        assert_eq!(files[0].path, "/etc/ssl/certs/ca-certificates.crt");
        assert_eq!(files[0].mode, 0o644);
        assert!(
            bundle.ends_with("-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nnew\n"),
            "{bundle}"
        );
        assert_eq!(
            files[1],
            Entry::symlink("/etc/ssl/certs/bb-bottle.pem", CA_GUEST)
        );
        // The hash's first free number: another CA has .0.
        assert_eq!(
            files[2],
            Entry::symlink("/etc/ssl/certs/0a1b2c3d.1", "bb-bottle.pem")
        );
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn a_bottles_next_ca_keeps_the_hash_link_it_has() {
        let tar = folder(&[
            ("ca-certificates.crt", None),
            ("0a1b2c3d.0", Some("bb-bottle.pem")),
            ("bb-bottle.pem", Some(CA_GUEST)),
        ]);
        let files = read_store(&tar).unwrap().with("pem", "0a1b2c3d");
        assert_eq!(files.len(), 2, "{files:?}");
    }

    #[test]
    fn a_store_without_a_bundle_file_is_not_written_here() {
        assert!(read_store(&folder(&[("ca-certificates.crt", Some("elsewhere"))])).is_none());
        assert!(read_store(&folder(&[])).is_none());
        assert!(read_store(b"not a tar").is_none());
    }

    #[test]
    fn what_an_image_holds_is_kept_whole() {
        let d = tempfile::tempdir().unwrap();
        let path = kept_at(d.path(), "sha256:abc");
        assert_eq!(path, d.path().join("trust/abc.tar"));
        assert_eq!(Seen::load(&path), None);
        for seen in [
            Seen {
                certs: Some(folder(&[("ca-certificates.crt", None)])),
                hooks: None,
            },
            Seen {
                certs: None,
                hooks: Some(b"hooks".to_vec()),
            },
        ] {
            seen.keep(&path).unwrap();
            assert_eq!(Seen::load(&path).unwrap(), seen);
        }
        let kept = || std::fs::read_dir(d.path().join("trust")).unwrap().count();
        assert_eq!(kept(), 1);
        // Only the newest images' are kept.
        for i in 0..KEPT + 3 {
            let seen = Seen {
                certs: None,
                hooks: None,
            };
            seen.keep(&kept_at(d.path(), &format!("sha256:{i}")))
                .unwrap();
        }
        assert_eq!(kept(), KEPT);
    }

    #[test]
    fn hooks_are_the_names_in_their_folder() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, "update.d/", std::io::empty())
            .unwrap();
        let empty = b.into_inner().unwrap();
        assert!(names_in(&empty).is_empty());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o755);
        b.append_data(&mut h, "update.d/jks-keystore", &b"#!"[..])
            .unwrap();
        assert_eq!(names_in(&b.into_inner().unwrap()), ["jks-keystore"]);
    }
}
