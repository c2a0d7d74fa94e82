//! The agent's part of a Docker launch: its container made, given its
//! files and the workspace, started, and the bottle CA trusted in it. It
//! runs beside the bundle's part (`launch.rs`).

use std::path::Path;

use bollard::Docker;

use super::context::{self, Entry};
use super::guest::{agent_env, skill_archives, HostValues};
use super::launch::{docker_err, upload, Lap, LaunchError, Made};
use super::names::{self, Names};
use crate::backend::Progress;
use crate::plan::BottlePlan;

/// The agent's container, made, given its files, and started.
pub(super) struct AgentMaking<'a> {
    pub(super) docker: &'a Docker,
    pub(super) home: &'a Path,
    pub(super) plan: &'a BottlePlan,
    pub(super) host: &'a HostValues,
    pub(super) names: &'a Names,
    pub(super) runtime: Option<String>,
    pub(super) started_at: String,
    pub(super) ca_pem: &'a str,
    pub(super) progress: &'a Progress,
    /// The workspace, being packed (taken when awaited).
    pub(super) copy: &'a mut Option<Copying>,
    /// Its files, console holder and skills, being packed (`pack`).
    pub(super) packing: Packing,
}

/// The workspace being packed for the agent.
pub(super) type Copying = tokio::task::JoinHandle<Result<Vec<Vec<u8>>, String>>;

/// The agent's own files being packed.
pub(super) type Packing = tokio::task::JoinHandle<Result<Vec<Vec<u8>>, LaunchError>>;

/// What goes into every agent container whatever its image: `files` and
/// the console holder, then the plan's skills, as archives to join. Made
/// while the engine makes the networks (the holder alone is megabytes).
pub(super) fn pack(mut files: Vec<Entry>, plan: &BottlePlan) -> Result<Vec<Vec<u8>>, LaunchError> {
    files.push(super::agent::holder(bb_sidecar::console::GUEST_BINARY)?);
    let mut tars = vec![context::archive(&files).map_err(|e| LaunchError::State(e.to_string()))?];
    tars.extend(skill_archives(plan)?);
    Ok(tars)
}

impl AgentMaking<'_> {
    /// `ready` gives the agent's image once it and the bottle's internal
    /// network are there.
    pub(super) async fn make(
        self,
        ready: impl std::future::Future<Output = Result<String, LaunchError>>,
        hosts: Vec<String>,
        made: &mut Made,
    ) -> Result<(), LaunchError> {
        let clock = Lap::default();
        let (docker, home, plan, host, n, progress) = (
            self.docker,
            self.home,
            self.plan,
            self.host,
            self.names,
            self.progress,
        );
        let say = |s: String| {
            let _ = progress.send(s.into());
        };
        let timed = |s: String| say(format!("{s} ({})", clock.lap()));
        let image = ready.await?;
        timed(format!(
            "agent image checked, network {} (internal) made",
            n.internal
        ));
        // The agent: internal network only, no ports, the proxy as its way out.
        let mut labels = names::labels(
            home,
            &plan.slug,
            &plan.agent,
            &plan.bottle,
            names::ROLE_AGENT,
        );
        labels.insert(names::STARTED.into(), self.started_at);
        labels.insert(names::TEMPLATE.into(), plan.template.name().into());
        let spec = super::agent::AgentSpec {
            name: n.agent.clone(),
            image: image.clone(),
            cmd: super::console::main_command(
                &plan.commands.fresh,
                &plan.commands.resume,
                plan.commands.history.as_deref(),
            ),
            env: agent_env(plan, host, progress),
            labels,
            workdir: plan.workdir().to_string(),
            network: n.internal.clone(),
            runtime: self.runtime,
            memory_bytes: (plan.limits.memory_mb * 1024 * 1024) as i64,
            pids: plan.limits.pids as i64,
            hosts,
        };
        // The image's id (what its trust store is kept by) is asked meanwhile.
        let (created, image) = tokio::join!(spec.create(docker), docker.inspect_image(&image));
        let created = created.map_err(docker_err("creating the agent container"))?;
        let image = image.ok().and_then(|i| i.id);
        made.containers.push(n.agent.clone());
        // What the engine did not do as asked (limits it ignores) is said.
        for warning in created.iter().filter(|w| !w.trim().is_empty()) {
            say(format!(
                "the engine warns about the agent's container: {}",
                warning.trim()
            ));
        }
        timed(format!("agent container {} made", n.agent));
        // Its trust store is read (or known) while the workspace is packed.
        let cache = crate::home::cache_dir(home);
        let copying = async {
            match self.copy.take() {
                Some(copy) => copy
                    .await
                    .map_err(|e| LaunchError::State(e.to_string()))?
                    .map_err(LaunchError::State),
                None => Ok(Vec::new()),
            }
        };
        let packed = async {
            self.packing
                .await
                .map_err(|e| LaunchError::State(e.to_string()))?
        };
        let (trust, workspace, packed) = tokio::join!(
            super::trust::prepare(
                docker,
                &n.agent,
                image.as_deref().map(|id| (id, cache.as_path())),
                self.ca_pem
            ),
            copying,
            packed
        );
        let trust = trust.map_err(|detail| LaunchError::Docker {
            doing: "reading the agent's trust store".into(),
            detail,
        })?;
        // Everything goes in with one copy, before the start: copied into
        // a running container under gVisor, files do not keep their owner.
        let mut tars = Vec::new();
        if let super::trust::Trust::Files(trusted) = &trust {
            tars.push(context::archive(trusted).map_err(|e| LaunchError::State(e.to_string()))?);
        }
        tars.extend(packed?);
        tars.extend(workspace?);
        let all = context::join(tars).map_err(|e| LaunchError::State(e.to_string()))?;
        upload(docker, &n.agent, all).await?;
        timed(format!(
            "its files{} given",
            if plan.workspace.is_some() {
                " and the workspace"
            } else {
                ""
            }
        ));
        // Started now: its console holder waits for the first session to
        // start the agent, which is after the launch.
        docker
            .start_container(
                &n.agent,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(docker_err("starting the agent container"))?;
        if trust == super::trust::Trust::AfterStart {
            super::trust::install_ca(docker, &n.agent)
                .await
                .map_err(|detail| LaunchError::Docker {
                    doing: "installing the bottle CA in the agent's trust store".into(),
                    detail,
                })?;
        }
        timed(format!("agent container {} started, CA trusted", n.agent));
        Ok(())
    }
}
