//! bb's side of the operator channel: a bottle's state (its volume in the
//! bundle, `/var/lib/bb`) read and answered over the engine's API alone,
//! wherever the engine is. Requests run `bb-sidecar operator` in the bundle
//! as root (the agent cannot); files are read with the engine's archive
//! API, which also reads a stopped bundle.

use bb_contract::operator::{Answer, Request, STATE_DIR};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use futures_util::{Stream, StreamExt};

use super::names::names;
use crate::state::Metadata;

/// The bundle's binary, as its image installs it.
const SIDECAR: &str = "/usr/local/bin/bb-sidecar";

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("the sidecar bundle of {slug} cannot be reached: {detail}")]
    Unreachable { slug: String, detail: String },
    #[error("the sidecar bundle of {slug} answered what bb cannot read ({detail}): is it from another bb version?")]
    Garbled { slug: String, detail: String },
    #[error("the sidecar bundle of {slug} could not do it: {why}")]
    Failed { slug: String, why: String },
}

/// Ask the bundle of `slug` one thing; its answer.
pub async fn ask(docker: &Docker, slug: &str, request: &Request) -> Result<Answer, OperatorError> {
    let bundle = names(slug).sidecars;
    let json = serde_json::to_string(request).map_err(|e| OperatorError::Garbled {
        slug: slug.into(),
        detail: e.to_string(),
    })?;
    let cmd = [SIDECAR, "operator", json.as_str()];
    let unreachable = |e: bollard::errors::Error| OperatorError::Unreachable {
        slug: slug.into(),
        detail: e.to_string(),
    };
    let (code, out, err) = super::exec::run_bytes(
        docker,
        &bundle,
        bb_contract::operator::OPERATOR_USER,
        &cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .await
    .map_err(unreachable)?;
    if code != 0 {
        return Err(OperatorError::Failed {
            slug: slug.into(),
            why: format!("exit {code}: {}", err.trim()),
        });
    }
    match serde_json::from_slice::<Answer>(&out) {
        Ok(Answer::Failed { why }) => Err(OperatorError::Failed {
            slug: slug.into(),
            why,
        }),
        Ok(a) => Ok(a),
        Err(e) => Err(OperatorError::Garbled {
            slug: slug.into(),
            detail: e.to_string(),
        }),
    }
}

/// Ask, expecting it done.
pub async fn done(docker: &Docker, slug: &str, request: &Request) -> Result<(), OperatorError> {
    match ask(docker, slug, request).await? {
        Answer::Done => Ok(()),
        other => Err(OperatorError::Garbled {
            slug: slug.into(),
            detail: format!("{other:?}"),
        }),
    }
}

/// A line each time the bottle's state changes, from when the watch is
/// ready; it ends when the bundle (or the engine) goes.
pub async fn watch(
    docker: &Docker,
    slug: &str,
) -> Result<impl Stream<Item = ()> + Send + 'static, OperatorError> {
    let unreachable = |e: bollard::errors::Error| OperatorError::Unreachable {
        slug: slug.into(),
        detail: e.to_string(),
    };
    let exec = docker
        .create_exec(
            &names(slug).sidecars,
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                user: Some(bb_contract::operator::OPERATOR_USER.into()),
                cmd: Some(vec![SIDECAR.into(), "operator".into(), "watch".into()]),
                ..Default::default()
            },
        )
        .await
        .map_err(unreachable)?;
    let StartExecResults::Attached { output, .. } = docker
        .start_exec(&exec.id, None::<StartExecOptions>)
        .await
        .map_err(unreachable)?
    else {
        return Err(OperatorError::Garbled {
            slug: slug.into(),
            detail: "a detached watch".into(),
        });
    };
    Ok(output
        .take_while(|chunk| std::future::ready(chunk.is_ok()))
        .filter_map(|chunk| {
            std::future::ready(match chunk {
                Ok(bollard::container::LogOutput::StdOut { message })
                    if message.windows(7).any(|w| w == b"changed") =>
                {
                    Some(())
                }
                _ => None,
            })
        }))
}

/// One file of a container (running or not), or None when it has none.
pub async fn download(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, bollard::errors::Error> {
    let Some(tar) = super::context::download(docker, container, path).await? else {
        return Ok(None);
    };
    let mut archive = tar::Archive::new(tar.as_slice());
    let Ok(mut entries) = archive.entries() else {
        return Ok(None);
    };
    let Some(Ok(mut entry)) = entries.next() else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut bytes).ok();
    Ok(Some(bytes))
}

/// A bottle's metadata, as its launch left it in its state.
pub async fn metadata(docker: &Docker, slug: &str) -> Result<Option<Metadata>, String> {
    let bundle = names(slug).sidecars;
    let path = format!("{STATE_DIR}/metadata.json");
    download(docker, &bundle, &path)
        .await
        .map(|b| b.and_then(|b| Metadata::parse(&b)))
        .map_err(|e| format!("cannot read {path} in {bundle}: {e}"))
}

/// The logs a stopped bottle leaves behind, read from its bundle.
pub async fn kept_logs(docker: &Docker, slug: &str) -> Vec<(String, Vec<u8>)> {
    let bundle = names(slug).sidecars;
    let mut out = Vec::new();
    for name in bb_contract::operator::KEPT_LOGS {
        if let Ok(Some(bytes)) = download(docker, &bundle, &format!("{STATE_DIR}/{name}")).await {
            out.push((name.to_string(), bytes));
        }
    }
    out
}
