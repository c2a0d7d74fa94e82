//! A capability change: Dockerfile lines the operator approved, built on
//! top of the agent's current image; the agent container is recreated from
//! it with the same settings, and its home (workspace, transcripts, config)
//! carried over.

use std::collections::BTreeMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions,
    UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::context::Entry;
use super::images::{self, Context, ImageSource};
use super::names::names;
use crate::backend::Progress;

/// The Dockerfile that adds `lines` (as root) on top of `base`.
pub fn dockerfile(base: &str, lines: &str) -> String {
    format!("FROM {base}\nUSER root\n{}\nUSER node\n", lines.trim_end())
}

pub async fn apply(
    docker: &Docker,
    home: &Path,
    slug: &str,
    lines: &str,
    progress: &Progress,
) -> Result<(), String> {
    let n = names(slug);
    let info = docker
        .inspect_container(&n.agent, None)
        .await
        .map_err(|e| format!("cannot inspect {}: {e}", n.agent))?;
    let base = info
        .image
        .clone()
        .ok_or("the agent container has no image")?;
    let config = info.config.clone().unwrap_or_default();
    let old_host = info.host_config.clone().unwrap_or_default();
    // Tagged by content like every image; removed with the bottle.
    let tag = images::ensure(
        docker,
        &ImageSource {
            repository: format!("bb-agent-{slug}"),
            context: Context::Files(vec![Entry::new(
                "Dockerfile",
                dockerfile(&base, lines),
                0o644,
            )]),
            build_args: BTreeMap::new(),
        },
        progress,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Carry the agent's home over: workspace, transcripts, config.
    let _ = progress.send("saving the agent's home directory".into());
    let mut stream = docker.download_from_container(
        &n.agent,
        Some(DownloadFromContainerOptions {
            path: "/home/node".into(),
        }),
    );
    let mut home_tar = Vec::new();
    while let Some(chunk) = stream.next().await {
        home_tar.extend_from_slice(&chunk.map_err(|e| format!("cannot save /home/node: {e}"))?);
    }
    let _ = progress.send(format!("recreating {} from {tag}", n.agent));
    docker
        .remove_container(
            &n.agent,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| format!("cannot remove the old agent container: {e}"))?;
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(n.agent.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(tag.clone()),
                user: config.user,
                cmd: config.cmd,
                entrypoint: config.entrypoint,
                working_dir: config.working_dir,
                env: config.env,
                labels: config.labels,
                host_config: Some(HostConfig {
                    network_mode: old_host.network_mode,
                    runtime: old_host.runtime,
                    init: old_host.init,
                    dns: old_host.dns,
                    // The same confinement as before the rebuild.
                    security_opt: old_host.security_opt,
                    cap_drop: old_host.cap_drop,
                    memory: old_host.memory,
                    pids_limit: old_host.pids_limit,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot create the new agent container: {e}"))?;
    let upload = |path: &str, tar: Vec<u8>| {
        docker.upload_to_container(
            &n.agent,
            Some(UploadToContainerOptions {
                path: path.into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
    };
    upload("/home", home_tar)
        .await
        .map_err(|e| format!("cannot restore /home/node: {e}"))?;
    let ca = std::fs::read_to_string(crate::state::dir(home, slug).join("ca.crt"))
        .map_err(|e| format!("cannot read the bottle CA: {e}"))?;
    let tar = super::context::archive(&[Entry::new(super::launch::CA_GUEST, ca, 0o644)])
        .map_err(|e| e.to_string())?;
    upload("/", tar)
        .await
        .map_err(|e| format!("cannot install the bottle CA: {e}"))?;
    docker
        .start_container(
            &n.agent,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| format!("cannot start the new agent container: {e}"))?;
    super::launch::install_ca(docker, &n.agent)
        .await
        .map_err(|e| format!("installing the bottle CA failed: {e}"))?;
    let _ = progress.send(format!("{} runs on {tag}", n.agent));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_build_on_the_current_image_as_root_and_return_to_node() {
        assert_eq!(
            super::dockerfile("sha256:abc", "RUN apt-get install -y jq\n"),
            "FROM sha256:abc\nUSER root\nRUN apt-get install -y jq\nUSER node\n"
        );
    }
}
