//! The agent container, as one description made in one place: launch
//! creates it from a plan, a capability rebuild recreates it from the old
//! one, and both get the same confinement, so a setting added here can
//! never be lost on a rebuild.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use bollard::Docker;

/// What differs between bottles; everything else is fixed below.
pub struct AgentSpec {
    pub name: String,
    pub image: String,
    /// The main process: the console holder running the agent CLI
    /// (`console::main_command`).
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub workdir: String,
    /// The bottle's internal network, its only one.
    pub network: String,
    /// `runsc` under gVisor, else Docker's default.
    pub runtime: Option<String>,
    pub memory_bytes: i64,
    pub pids: i64,
    /// `/etc/hosts` lines (`sidecars:IP`) where the engine's resolver
    /// does not answer container names (Podman, with no resolver).
    pub hosts: Vec<String>,
}

impl AgentSpec {
    /// The spec an existing agent container was made from, on `image`.
    pub fn of(
        info: &ContainerInspectResponse,
        name: &str,
        image: String,
    ) -> Result<AgentSpec, String> {
        let config = info.config.clone().unwrap_or_default();
        let host = info.host_config.clone().unwrap_or_default();
        Ok(AgentSpec {
            name: name.to_string(),
            image,
            cmd: config.cmd.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            workdir: config.working_dir.unwrap_or_default(),
            network: host
                .network_mode
                .ok_or_else(|| format!("{name} has no network"))?,
            runtime: host.runtime.filter(|r| r != "runc"),
            memory_bytes: host.memory.unwrap_or_default(),
            pids: host.pids_limit.unwrap_or_default(),
            hosts: host.extra_hosts.unwrap_or_default(),
        })
    }

    fn body(&self) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(self.image.clone()),
            user: Some("node".into()),
            cmd: Some(self.cmd.clone()),
            entrypoint: Some(vec![]),
            working_dir: Some(self.workdir.clone()),
            env: Some(self.env.clone()),
            labels: Some(self.labels.clone()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                runtime: self.runtime.clone(),
                init: Some(true),
                // Nothing in the bottle gains privileges: no setuid or
                // file-capability escalation, no capabilities at all (bb's
                // own root steps, such as trusting the bottle CA, need
                // none), and ceilings on memory and processes.
                security_opt: Some(vec!["no-new-privileges:true".to_string()]),
                cap_drop: Some(vec!["ALL".to_string()]),
                memory: Some(self.memory_bytes),
                pids_limit: Some(self.pids),
                // Docker's embedded resolver still answers container names
                // (`sidecars`); external names get no upstream, so DNS
                // cannot carry data out.
                dns: Some(vec!["127.0.0.1".to_string()]),
                extra_hosts: (!self.hosts.is_empty()).then(|| self.hosts.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Create the container; its files, the console holder
    /// ([`holder`]) among them, go in before it starts. The engine's
    /// warnings (rootless Podman on cgroups v1 ignores the memory and pids
    /// limits).
    pub async fn create(&self, docker: &Docker) -> Result<Vec<String>, bollard::errors::Error> {
        let made = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(self.name.clone()),
                    ..Default::default()
                }),
                self.body(),
            )
            .await?;
        Ok(made.warnings)
    }
}

/// The console holder, the agent container's main process (bb's static
/// bb-console), as a file to copy in at `path`.
pub fn holder(path: &str) -> Result<super::context::Entry, super::images::ImageError> {
    Ok(super::context::Entry::new(
        path,
        super::images::console_binary()?,
        0o755,
    ))
}

/// Where a container's command runs its holder from: `GUEST_BINARY`, or
/// where an older bb put it (bb-console answers there as well).
pub fn holder_path(cmd: &[String]) -> Option<&str> {
    use bb_sidecar::console::{GUEST_BINARY, LEGACY_GUEST_BINARY};
    cmd.first()
        .map(String::as_str)
        .filter(|c| [GUEST_BINARY, LEGACY_GUEST_BINARY].contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_runs_from_where_its_container_says_and_nowhere_else() {
        use bb_sidecar::console::{GUEST_BINARY, LEGACY_GUEST_BINARY};
        let cmd = |first: &str| vec![first.to_string(), "console".into(), "serve".into()];
        assert_eq!(holder_path(&cmd(GUEST_BINARY)), Some(GUEST_BINARY));
        assert_eq!(
            holder_path(&cmd(LEGACY_GUEST_BINARY)),
            Some(LEGACY_GUEST_BINARY)
        );
        // A container bb's holder does not run (an older bb's shell start).
        assert_eq!(holder_path(&cmd("sh")), None);
        assert_eq!(holder_path(&[]), None);
    }

    fn spec() -> AgentSpec {
        AgentSpec {
            name: "bb-a-1".into(),
            image: "bb-agent-a:1".into(),
            cmd: vec!["sh".into(), "-c".into(), "exec claude".into()],
            env: vec!["HTTP_PROXY=http://sidecars:9099".into()],
            labels: HashMap::from([("bb.slug".into(), "a-1".into())]),
            workdir: "/home/node/workspace".into(),
            network: "bb-a-1-internal".into(),
            runtime: Some("runsc".into()),
            memory_bytes: 1 << 30,
            pids: 512,
            hosts: vec!["sidecars:10.89.4.2".into()],
        }
    }

    #[test]
    fn a_rebuilt_agent_gets_everything_the_launched_one_had() {
        let launched = spec().body();
        // What Docker reports for the launched container, then the spec
        // read back from it on a new image.
        let info = ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig {
                cmd: launched.cmd.clone(),
                env: launched.env.clone(),
                labels: launched.labels.clone(),
                working_dir: launched.working_dir.clone(),
                ..Default::default()
            }),
            host_config: launched.host_config.clone(),
            ..Default::default()
        };
        let rebuilt = AgentSpec::of(&info, "bb-a-1", "bb-agent-a-1:2".into())
            .unwrap()
            .body();
        let mut expected = launched;
        expected.image = Some("bb-agent-a-1:2".into());
        assert_eq!(format!("{rebuilt:?}"), format!("{expected:?}"));
    }
}
