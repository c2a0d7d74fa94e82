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
use crate::backend::{Progress, ProgressMsg};
use crate::manifest::Template;
use crate::plan::provider::runtime;
use crate::plan::{BottlePlan, Dockerfile, SIDECAR_IMAGE};

const AGENT_CLAUDE: &str = include_str!("../../../images/agent-claude.Dockerfile");
const AGENT_CODEX: &str = include_str!("../../../images/agent-codex.Dockerfile");
const SIDECARS: &str = include_str!("../../../images/sidecars.Dockerfile");

/// The static Linux bb-sidecar bb carries (build.rs builds it for musl),
/// so the image runs whatever the host's libc, and nothing need sit
/// beside an installed `bb`.
static EMBEDDED_SIDECAR: &[u8] = include_bytes!(env!("BB_SIDECAR_EMBEDDED"));
/// The static console holder, built with it, for the agent's container.
static EMBEDDED_CONSOLE: &[u8] = include_bytes!(env!("BB_CONSOLE_EMBEDDED"));

/// What an image is built from.
pub struct ImageSource {
    /// The image's repository; its tag is the content hash, so two bb
    /// homes or versions with different content never retag each other's.
    pub repository: String,
    pub context: Context,
    /// Build arguments: BASE_IMAGE from `BB_BASE_IMAGE` (the sidecar image's
    /// Debian base) or `BB_NODE_IMAGE` (the built-in agent images' Node
    /// base), so the images build where no public base can be pulled.
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
    #[error("cannot read the {what} binary {var} names ({path}): {source}; unset it to use the one bb carries")]
    CarriedBinary {
        what: &'static str,
        var: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building {tag} failed: {message}{output}", output = if .output.is_empty() { String::new() } else { format!("\n{}", .output) })]
    Build {
        tag: String,
        message: String,
        output: String,
    },
    #[error("building {tag} failed: its base image {base} cannot be pulled ({message}); make it available to Docker (`docker pull {base}` where a registry reaches, or `docker load`), or name a local one with {variable}")]
    BasePull {
        tag: String,
        base: String,
        variable: &'static str,
        message: String,
    },
    #[error("{0}")]
    Docker(String),
}

/// Which variable replaces an image's public base.
#[derive(Clone, Copy)]
enum Base {
    /// debian:bookworm-slim, under the sidecar image.
    Debian,
    /// node:22-slim, under the built-in agent images.
    Node,
}

impl Base {
    fn variable(self) -> &'static str {
        match self {
            Base::Debian => "BB_BASE_IMAGE",
            Base::Node => "BB_NODE_IMAGE",
        }
    }
}

fn build_args(base: Base) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    if let Ok(image) = std::env::var(base.variable()) {
        if !image.is_empty() {
            args.insert("BASE_IMAGE".to_string(), image);
        }
    }
    args
}

/// The tag this bb builds now for each image it builds for every bottle:
/// the sidecar image and the built-in agent images.
pub fn current_tags() -> Result<BTreeMap<String, String>, ImageError> {
    let mut out = BTreeMap::new();
    for template in [Template::Claude, Template::Codex] {
        let rt = runtime(template);
        let src = builtin_agent_source(rt.image, rt.dockerfile);
        out.insert(src.repository.clone(), src.materialise()?.tag);
    }
    let src = sidecar_source()?;
    out.insert(src.repository.clone(), src.materialise()?.tag);
    Ok(out)
}

fn builtin_agent_source(repository: &str, dockerfile: &str) -> ImageSource {
    let text = if dockerfile.contains("codex") {
        AGENT_CODEX
    } else {
        AGENT_CLAUDE
    };
    ImageSource {
        repository: repository.to_string(),
        context: Context::Files(vec![Entry::new("Dockerfile", text, 0o644)]),
        build_args: build_args(Base::Node),
    }
}

/// The agent image a plan names.
pub fn agent_source(plan: &BottlePlan) -> Result<ImageSource, ImageError> {
    let (context, build_args) = match &plan.image.dockerfile {
        Dockerfile::Builtin { name } => {
            return Ok(builtin_agent_source(&plan.image.repository, name))
        }
        // A user's Dockerfile names its own base.
        Dockerfile::Custom { path, .. } => (
            Context::Dir {
                dir: path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
                dockerfile: path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "Dockerfile".into()),
            },
            BTreeMap::new(),
        ),
    };
    Ok(ImageSource {
        repository: plan.image.repository.clone(),
        context,
        build_args,
    })
}

/// The static bb-sidecar this bb carries: the bundle's daemons.
pub fn sidecar_binary() -> Result<Vec<u8>, ImageError> {
    carried("sidecar", "BB_SIDECAR_BIN", EMBEDDED_SIDECAR)
}

/// The static bb-console this bb carries: the agent container's console
/// holder.
pub fn console_binary() -> Result<Vec<u8>, ImageError> {
    carried("console", "BB_CONSOLE_BIN", EMBEDDED_CONSOLE)
}

/// A binary bb carries, or (for developers trying a build without
/// rebuilding bb) the one `var` names.
fn carried(
    what: &'static str,
    var: &'static str,
    embedded: &'static [u8],
) -> Result<Vec<u8>, ImageError> {
    match std::env::var_os(var) {
        Some(path) => {
            let path = PathBuf::from(path);
            std::fs::read(&path).map_err(|source| ImageError::CarriedBinary {
                what,
                var,
                path,
                source,
            })
        }
        None => Ok(embedded.to_vec()),
    }
}

pub fn sidecar_source() -> Result<ImageSource, ImageError> {
    let binary = sidecar_binary()?;
    Ok(ImageSource {
        repository: SIDECAR_IMAGE.to_string(),
        context: Context::Files(vec![
            Entry::new("Dockerfile", SIDECARS, 0o644),
            Entry::new("bb-sidecar", binary, 0o755),
        ]),
        build_args: build_args(Base::Debian),
    })
}

/// The content an image is built from, and the tag that names it.
pub struct Materialised {
    /// The build context, where hashing needed it made (a directory's);
    /// a list of files is archived only when the image must be built.
    tar: Option<Vec<u8>>,
    hash: String,
    dockerfile: String,
    pub tag: String,
}

/// Whether the image for some content is there.
#[derive(Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Built from exactly this content.
    Built,
    /// The repository holds images, none from this content (bb or its
    /// files changed): the next launch rebuilds.
    Stale,
    Missing,
}

impl ImageSource {
    /// The tar context, its content hash and the tag naming it.
    pub fn materialise(&self) -> Result<Materialised, ImageError> {
        let args: Vec<u8> = self
            .build_args
            .iter()
            .flat_map(|(k, v)| format!("{k}={v}\n").into_bytes())
            .collect();
        let (tar, hash, dockerfile) = match &self.context {
            Context::Files(entries) => {
                let mut parts: Vec<(&str, &[u8])> = entries
                    .iter()
                    .map(|e| (e.path.as_str(), e.bytes.as_slice()))
                    .collect();
                parts.push(("build-args", &args));
                (None, context::content_hash(&parts), "Dockerfile".into())
            }
            Context::Dir { dir, dockerfile } => {
                let read = |source| ImageError::Read {
                    path: dir.clone(),
                    source,
                };
                let tar = context::archive_build_context(dir).map_err(read)?;
                let hash = context::content_hash(&[("context", &tar), ("build-args", &args)]);
                (Some(tar), hash, dockerfile.clone())
            }
        };
        Ok(Materialised {
            tag: format!("{}:{}", self.repository, &hash[..16]),
            tar,
            hash,
            dockerfile,
        })
    }

    /// The build context as a tar.
    fn context_tar(&self) -> Result<Vec<u8>, ImageError> {
        match &self.context {
            Context::Files(entries) => {
                context::archive(entries).map_err(|e| ImageError::Docker(e.to_string()))
            }
            Context::Dir { dir, .. } => {
                context::archive_build_context(dir).map_err(|source| ImageError::Read {
                    path: dir.clone(),
                    source,
                })
            }
        }
    }

    /// The public base this image starts from, when bb's own Dockerfile
    /// names it: the BASE_IMAGE argument, else the Dockerfile's default.
    fn base(&self) -> Option<(String, &'static str)> {
        let Context::Files(entries) = &self.context else {
            return None;
        };
        let text = entries.iter().find(|e| e.path == "Dockerfile")?;
        let variable = if text.bytes.as_slice() == SIDECARS.as_bytes() {
            Base::Debian.variable()
        } else {
            Base::Node.variable()
        };
        let default = std::str::from_utf8(&text.bytes)
            .ok()?
            .lines()
            .find_map(|l| l.trim().strip_prefix("ARG BASE_IMAGE="))?
            .trim()
            .to_string();
        let base = self
            .build_args
            .get("BASE_IMAGE")
            .cloned()
            .unwrap_or(default);
        Some((base, variable))
    }
}

/// Whether the image `tag` (from `src.materialise()`) is built, or another
/// of its repository.
pub async fn freshness(
    docker: &Docker,
    src: &ImageSource,
    tag: &str,
) -> Result<Freshness, ImageError> {
    match docker.inspect_image(tag).await {
        Ok(_) => return Ok(Freshness::Built),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(ImageError::Docker(e.to_string())),
    }
    let others = docker
        .list_images(Some(bollard::query_parameters::ListImagesOptions {
            filters: Some(HashMap::from([(
                "reference".to_string(),
                vec![src.repository.clone()],
            )])),
            ..Default::default()
        }))
        .await
        .map_err(|e| ImageError::Docker(e.to_string()))?;
    Ok(if others.is_empty() {
        Freshness::Missing
    } else {
        Freshness::Stale
    })
}

/// Build `src` unless its content's image exists; the tag to run.
pub async fn ensure(
    docker: &Docker,
    src: &ImageSource,
    progress: &Progress,
) -> Result<String, ImageError> {
    let Materialised {
        tar,
        hash,
        dockerfile,
        tag,
    } = src.materialise()?;
    let why = match freshness(docker, src, &tag).await? {
        Freshness::Built => {
            let _ = progress.send(format!("image {tag} is up to date").into());
            return Ok(tag);
        }
        Freshness::Stale => format!(
            "rebuilding {}: what it is built from changed (its Dockerfile, the sidecar bb carries, or the files beside it), so {tag} is new",
            src.repository
        ),
        Freshness::Missing => format!("building {tag}: not built yet"),
    };
    let _ = progress.send(why.into());
    let tar = match tar {
        Some(tar) => tar,
        None => src.context_tar()?,
    };
    let image = src.repository.clone();
    let options = BuildImageOptions {
        dockerfile,
        t: Some(tag.clone()),
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
                    let message = detail.message.unwrap_or_else(|| "unknown error".into());
                    return Err(build_error(src, tag, message, &recent));
                }
                if let Some(text) = info.stream {
                    for line in text
                        .lines()
                        .map(str::trim_end)
                        .filter(|l| !l.trim().is_empty())
                    {
                        let line = line.to_string();
                        if let Some((step, of, doing)) = step_of(&line) {
                            recent.clear();
                            let _ = progress.send(ProgressMsg::Build {
                                image: image.clone(),
                                step,
                                of,
                                doing: doing.to_string(),
                            });
                        }
                        recent.push(line);
                        if recent.len() > 20 {
                            recent.remove(0);
                        }
                    }
                }
            }
            Err(e) => return Err(build_error(src, tag, e.to_string(), &recent)),
        }
    }
    let _ = progress.send(format!("built {tag}").into());
    Ok(tag)
}

/// The builder's `Step 3/9 : RUN apt-get ...`: the step, of how many, and
/// what it does.
fn step_of(line: &str) -> Option<(u32, u32, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (count, doing) = rest.split_once(" : ")?;
    let (step, of) = count.split_once('/')?;
    Some((
        step.trim().parse().ok()?,
        of.trim().parse().ok()?,
        doing.trim(),
    ))
}

/// A failed build; one that failed fetching its base says what to do.
fn build_error(src: &ImageSource, tag: String, message: String, recent: &[String]) -> ImageError {
    // The step that failed heads `recent` (it restarts at each step).
    let on_from = recent
        .first()
        .is_some_and(|l| l.starts_with("Step ") && l.contains(" : FROM "));
    let lower = message.to_ascii_lowercase();
    let pulling = [
        "pull access denied",
        "registry",
        "failed to resolve",
        "manifest unknown",
        "not found",
        "dial tcp",
        "no such host",
    ]
    .iter()
    .any(|k| lower.contains(k));
    match src.base() {
        Some((base, variable)) if on_from || (recent.is_empty() && pulling) => {
            ImageError::BasePull {
                tag,
                base,
                variable,
                message: message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            }
        }
        _ => ImageError::Build {
            tag,
            message,
            output: recent.join("\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{step_of, SIDECARS};

    #[test]
    fn builder_steps_are_read_and_other_lines_are_not() {
        assert_eq!(
            step_of("Step 3/9 : RUN apt-get install -y git"),
            Some((3, 9, "RUN apt-get install -y git"))
        );
        assert_eq!(step_of(" ---> Running in 5f1c"), None);
        assert_eq!(step_of("Step x/9 : RUN"), None);
    }

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
