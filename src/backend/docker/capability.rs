//! A capability change: Dockerfile lines the operator approved, built on
//! top of the agent's current image; the agent container is recreated from
//! it with the same settings, and its home (workspace, transcripts, config)
//! carried over.

use std::collections::BTreeMap;

use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;

use super::agent::AgentSpec;
use super::context::{self, Entry};
use super::images::{self, Context, ImageSource};
use super::names::names;
use crate::backend::Progress;

/// The Dockerfile that adds `lines` (as root) on top of `base`.
pub fn dockerfile(base: &str, lines: &str) -> String {
    format!("FROM {base}\nUSER root\n{}\nUSER node\n", lines.trim_end())
}

pub async fn apply(
    docker: &Docker,
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
    let home_tar = context::download(docker, &n.agent, "/home/node")
        .await
        .map_err(|e| format!("cannot save /home/node: {e}"))?
        .ok_or_else(|| format!("{} has no /home/node to keep", n.agent))?;
    let _ = progress.send(format!("recreating {} from {tag}", n.agent).into());
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
    // The same confinement as before the rebuild: one description of
    // the agent container serves launch and rebuild.
    let spec = AgentSpec::of(&info, &n.agent, tag.clone())?;
    // Its holder goes where its command runs it from (an older bb's path).
    let holder = super::agent::holder_path(&spec.cmd)
        .unwrap_or(bb_sidecar::console::GUEST_BINARY)
        .to_string();
    spec.create(docker)
        .await
        .map_err(|e| format!("cannot recreate the agent container: {e}"))?;
    let upload = |path: &'static str, tar: Vec<u8>| context::upload(docker, &n.agent, path, tar);
    upload("/home", home_tar)
        .await
        .map_err(|e| format!("cannot restore /home/node: {e}"))?;
    let ca = super::operator::download(docker, &n.sidecars, "/etc/bb/ca.crt")
        .await
        .map_err(|e| format!("cannot read the bottle CA from {}: {e}", n.sidecars))?
        .ok_or_else(|| format!("{} holds no bottle CA: restart the bottle", n.sidecars))?;
    let ca = String::from_utf8_lossy(&ca).into_owned();
    let trust = super::trust::prepare(docker, &n.agent, None, &ca).await?;
    let mut files = vec![
        super::agent::holder(&holder).map_err(|e| e.to_string())?,
        Entry::new(super::trust::CA_GUEST, ca, 0o644),
    ];
    if let super::trust::Trust::Files(trusted) = &trust {
        files.extend(trusted.iter().cloned());
    }
    upload("/", context::archive(&files).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| format!("cannot give the agent its console holder and the bottle CA: {e}"))?;
    docker
        .start_container(
            &n.agent,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| format!("cannot start the new agent container: {e}"))?;
    if trust == super::trust::Trust::AfterStart {
        super::trust::install_ca(docker, &n.agent)
            .await
            .map_err(|e| format!("installing the bottle CA failed: {e}"))?;
    }
    let _ = progress.send(format!("{} runs on {tag}", n.agent).into());
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
