//! Bringing a bottle's dead sidecar bundle back. Its secrets are read
//! again from where the bottle's metadata says they come from; the bottle
//! CA's key lived only in the dead bundle's memory, so the bundle gets a
//! new CA and the agent, which trusts the old one, restarts to trust it
//! (its start script continues the conversation; its home and work stay).

use std::path::Path;

use bollard::query_parameters::{StartContainerOptions, StopContainerOptions};
use bollard::Docker;

use super::context::{self, Entry};
use super::guest::HostValues;
use super::launch::ensure_running;
use super::names::names;
use super::trust::{install_ca, CA_GUEST};

#[derive(Debug, thiserror::Error)]
pub enum ReviveError {
    #[error("the sidecar bundle of {0} is gone (removed outside bb): stop the bottle with x")]
    Gone(String),
    #[error("the sidecar bundle of {slug} holds no metadata (made by an older bb?): stop the bottle with x and start it again")]
    NoState { slug: String },
    #[error("bottle {0} was started by an older bb that did not record where its secrets come from: stop it with x and start it again")]
    Legacy(String),
    #[error("restarting the sidecar bundle of {slug} failed while {doing}: {detail}")]
    Failed {
        slug: String,
        doing: &'static str,
        detail: String,
    },
}

/// What failed while `doing` a step of reviving `slug`'s bundle.
fn failure<'a>(slug: &'a str, doing: &'static str) -> impl Fn(String) -> ReviveError + 'a {
    move |detail| ReviveError::Failed {
        slug: slug.to_string(),
        doing,
        detail,
    }
}

/// Whether a container exists and runs; `None` when it does not exist.
async fn running(docker: &Docker, name: &str) -> Result<Option<bool>, bollard::errors::Error> {
    match docker.inspect_container(name, None).await {
        Ok(info) => Ok(Some(info.state.and_then(|s| s.running).unwrap_or(false))),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Restart the bottle's bundle if it is down; whether it was.
pub async fn bundle(docker: &Docker, user_home: &Path, slug: &str) -> Result<bool, ReviveError> {
    let Some(ca_pem) = restart_bundle(docker, user_home, slug).await? else {
        return Ok(false);
    };
    let n = names(slug);
    let failed = |doing: &'static str| failure(slug, doing);
    // The agent's CLI read its trust store when it started: restart it
    // on the new CA. Its start script waits for a session's size, so the
    // CA is trusted before the agent runs.
    if running(docker, &n.agent)
        .await
        .map_err(|e| failed("checking the agent")(e.to_string()))?
        == Some(true)
    {
        docker
            .stop_container(
                &n.agent,
                Some(StopContainerOptions {
                    t: Some(5),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| failed("stopping the agent")(e.to_string()))?;
    }
    let trust = super::trust::prepare(docker, &n.agent, None, &ca_pem)
        .await
        .map_err(failed("reading the agent's trust store"))?;
    let mut files = vec![Entry::new(CA_GUEST, ca_pem.clone(), 0o644).owned(0, 0)];
    if let super::trust::Trust::Files(trusted) = &trust {
        files.extend(trusted.iter().cloned());
    }
    let tar = context::archive(&files).map_err(|e| failed("packing the new CA")(e.to_string()))?;
    context::upload(docker, &n.agent, "/", tar)
        .await
        .map_err(|e| failed("giving the agent the new CA")(e.to_string()))?;
    docker
        .start_container(&n.agent, None::<StartContainerOptions>)
        .await
        .map_err(|e| failed("starting the agent")(e.to_string()))?;
    if trust == super::trust::Trust::AfterStart {
        install_ca(docker, &n.agent)
            .await
            .map_err(failed("trusting the new CA in the agent"))?;
    }
    Ok(true)
}

/// Restart the bottle's bundle, with a new CA, if it is down: the new CA
/// certificate (which the agent must be made to trust), or None when the
/// bundle was up.
pub async fn restart_bundle(
    docker: &Docker,
    user_home: &Path,
    slug: &str,
) -> Result<Option<String>, ReviveError> {
    let n = names(slug);
    let failed = |doing: &'static str| failure(slug, doing);
    match running(docker, &n.sidecars)
        .await
        .map_err(|e| failed("checking it")(e.to_string()))?
    {
        None => return Err(ReviveError::Gone(slug.to_string())),
        Some(true) => return Ok(None),
        Some(false) => {}
    }
    let mut meta = super::operator::metadata(docker, slug)
        .await
        .map_err(failed("reading its metadata"))?
        .ok_or_else(|| ReviveError::NoState {
            slug: slug.to_string(),
        })?;
    let sources = meta
        .secret_sources
        .clone()
        .ok_or_else(|| ReviveError::Legacy(slug.to_string()))?;

    let ca = crate::ca::mint(slug).map_err(|e| failed("minting a new bottle CA")(e.to_string()))?;
    meta.ca_fingerprint = ca.fingerprint.clone();
    let files = context::archive(&[
        Entry::new("/etc/bb/ca.crt", ca.cert_pem.clone(), 0o644).owned(0, 0),
        Entry::new(
            format!("{}/metadata.json", bb_contract::operator::STATE_DIR),
            meta.to_bytes(),
            0o600,
        )
        .owned(0, 0),
    ])
    .map_err(|e| failed("packing the new CA")(e.to_string()))?;
    context::upload(docker, &n.sidecars, "/", files)
        .await
        .map_err(|e| failed("giving the bundle the new CA")(e.to_string()))?;
    let host = HostValues::from_sources(&sources, user_home);
    super::sidecars::run(docker, &n.sidecars, &host, &ca.key_pem)
        .await
        .map_err(|e| failed("starting it")(e.to_string()))?;
    ensure_running(docker, &n.sidecars, "the sidecar bundle")
        .await
        .map_err(|e| failed("starting it")(e.to_string()))?;

    Ok(Some(ca.cert_pem))
}
