//! The images a bottle needs, built through bollard from a tar context and
//! reused while what they are built from is unchanged (a content-hash
//! label on the image says what that was).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::context::{self, Entry};
use super::names::CONTENT_HASH;
use crate::backend::Progress;
use crate::plan::{BottlePlan, Dockerfile, SIDECAR_IMAGE};

const AGENT_CLAUDE: &str = include_str!("../../../images/agent-claude.Dockerfile");
const AGENT_CODEX: &str = include_str!("../../../images/agent-codex.Dockerfile");
const SIDECARS: &str = include_str!("../../../images/sidecars.Dockerfile");

/// What an image is built from.
pub struct ImageSource {
    pub tag: String,
    pub context: Context,
    /// Build arguments; BASE_IMAGE comes from `BB_BASE_IMAGE` when set, so
    /// the images build where no public base can be pulled.
    pub build_args: BTreeMap<String, String>,
}

pub enum Context {
    /// Files bb carries (its own Dockerfiles and the sidecar binary).
    Files(Vec<Entry>),
    /// A user's Dockerfile, with its directory as the context.
    Dir { dir: PathBuf, dockerfile: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bb-sidecar is not beside bb ({path}); build the workspace with `cargo build` (it builds both), or set BB_SIDECAR_BIN")]
    NoSidecarBinary { path: PathBuf },
    #[error("building {tag} failed: {message}{output}", output = if .output.is_empty() { String::new() } else { format!("\n{}", .output) })]
    Build {
        tag: String,
        message: String,
        output: String,
    },
    #[error("{0}")]
    Docker(String),
}

fn build_args() -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    if let Ok(base) = std::env::var("BB_BASE_IMAGE") {
        if !base.is_empty() {
            args.insert("BASE_IMAGE".to_string(), base);
        }
    }
    args
}

/// The agent image a plan names.
pub fn agent_source(plan: &BottlePlan) -> Result<ImageSource, ImageError> {
    let context = match &plan.image.dockerfile {
        Dockerfile::Builtin { name } => {
            let text = if name.contains("codex") {
                AGENT_CODEX
            } else {
                AGENT_CLAUDE
            };
            Context::Files(vec![Entry::new("Dockerfile", text, 0o644)])
        }
        Dockerfile::Custom { path, .. } => Context::Dir {
            dir: path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            dockerfile: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into()),
        },
    };
    Ok(ImageSource {
        tag: plan.image.reference.clone(),
        context,
        build_args: build_args(),
    })
}

/// Where the bb-sidecar binary is: `BB_SIDECAR_BIN`, else beside bb.
pub fn sidecar_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BB_SIDECAR_BIN") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("bb-sidecar")))
        .unwrap_or_else(|| PathBuf::from("bb-sidecar"))
}

pub fn sidecar_source() -> Result<ImageSource, ImageError> {
    let path = sidecar_binary();
    let binary =
        std::fs::read(&path).map_err(|_| ImageError::NoSidecarBinary { path: path.clone() })?;
    Ok(ImageSource {
        tag: SIDECAR_IMAGE.to_string(),
        context: Context::Files(vec![
            Entry::new("Dockerfile", SIDECARS, 0o644),
            Entry::new("bb-sidecar", binary, 0o755),
        ]),
        build_args: build_args(),
    })
}

impl ImageSource {
    /// The tar context and its content hash.
    fn materialise(&self) -> Result<(Vec<u8>, String, String), ImageError> {
        let args: Vec<u8> = self
            .build_args
            .iter()
            .flat_map(|(k, v)| format!("{k}={v}\n").into_bytes())
            .collect();
        match &self.context {
            Context::Files(entries) => {
                let mut parts: Vec<(&str, &[u8])> = entries
                    .iter()
                    .map(|e| (e.path.as_str(), e.bytes.as_slice()))
                    .collect();
                parts.push(("build-args", &args));
                let tar =
                    context::archive(entries).map_err(|e| ImageError::Docker(e.to_string()))?;
                Ok((tar, context::content_hash(&parts), "Dockerfile".into()))
            }
            Context::Dir { dir, dockerfile } => {
                let read = |source| ImageError::Read {
                    path: dir.clone(),
                    source,
                };
                let tar = context::archive_dir(dir, "", 0, 0).map_err(read)?;
                let hash = context::content_hash(&[("context", &tar), ("build-args", &args)]);
                Ok((tar, hash, dockerfile.clone()))
            }
        }
    }
}

/// Build `src` unless an image with the same content hash exists.
pub async fn ensure(
    docker: &Docker,
    src: &ImageSource,
    progress: &Progress,
) -> Result<(), ImageError> {
    let (tar, hash, dockerfile) = src.materialise()?;
    if let Ok(img) = docker.inspect_image(&src.tag).await {
        let current = img
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(CONTENT_HASH).cloned());
        if current.as_deref() == Some(hash.as_str()) {
            let _ = progress.send(format!("image {} is up to date", src.tag));
            return Ok(());
        }
    }
    let _ = progress.send(format!("building image {}", src.tag));
    let options = BuildImageOptions {
        dockerfile,
        t: Some(src.tag.clone()),
        rm: true,
        forcerm: true,
        buildargs: Some(
            src.build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ),
        labels: Some(HashMap::from([(CONTENT_HASH.to_string(), hash)])),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    // The failing step's output is what a person needs; keep the tail.
    let mut recent: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    return Err(ImageError::Build {
                        tag: src.tag.clone(),
                        message: detail.message.unwrap_or_else(|| "unknown error".into()),
                        output: recent.join("\n"),
                    });
                }
                if let Some(text) = info.stream {
                    for line in text
                        .lines()
                        .map(str::trim_end)
                        .filter(|l| !l.trim().is_empty())
                    {
                        let line = line.to_string();
                        if line.starts_with("Step ") {
                            recent.clear();
                        }
                        recent.push(line.clone());
                        if recent.len() > 20 {
                            recent.remove(0);
                        }
                        let _ = progress.send(line);
                    }
                }
            }
            Err(e) => {
                return Err(ImageError::Build {
                    tag: src.tag.clone(),
                    message: e.to_string(),
                    output: recent.join("\n"),
                })
            }
        }
    }
    let _ = progress.send(format!("built {}", src.tag));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SIDECARS;

    #[test]
    fn the_sidecar_image_has_a_user_for_each_daemon() {
        for (daemon, user) in [
            ("egress", "bb-egress"),
            ("git-gate", "bb-gate"),
            ("supervise", "bb-supervise"),
        ] {
            let uid = bb_sidecar::init::uid_of(daemon).unwrap();
            assert!(
                SIDECARS.contains(&format!("'{user}:x:{uid}:{uid}:")),
                "{daemon} runs as uid {uid}, which the image must name"
            );
        }
    }
}
