//! Making a bottle in Docker: an internal network (agent and bundle, no
//! route out), an egress network (bundle only), the sidecar bundle holding
//! the CA, configs and secrets, and the agent container with the user's
//! workspace, prompt, skills and trust store. A failure removes what was
//! made.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;
use futures_util::FutureExt;

use super::bundle::{egress_config, upstream_ca_bundle};
use super::context;
use super::guest::{agent_files, HostValues};
use super::launch_agent::{self, AgentMaking, Copying};
use super::names::{self, names, Names, SIDECAR_ALIAS};
use crate::backend::{ActiveBottle, BottleState, Progress};
use crate::plan::{BottlePlan, SecretSources};
use crate::state::{self, Metadata};

pub(crate) const NODE_UID: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Blocked(String),
    #[error("{0}")]
    Image(#[from] super::images::ImageError),
    #[error("cannot prepare the bottle's state: {0}")]
    State(String),
    #[error("a container or network named {0} already exists: run `bb cleanup`, or remove it with docker")]
    Conflict(String),
    #[error("{what} died while starting (exit {code}); its last output:\n{logs}")]
    Died {
        what: String,
        code: i64,
        logs: String,
    },
    #[error("Docker failed while {doing}: {detail}")]
    Docker { doing: String, detail: String },
    /// A network both parts of a launch wait for, as its failure reads.
    #[error("{0}")]
    Network(String),
}

pub(crate) fn docker_err(doing: &str) -> impl Fn(bollard::errors::Error) -> LaunchError + '_ {
    move |e| match &e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => LaunchError::Conflict(message.clone()),
        _ => LaunchError::Docker {
            doing: doing.to_string(),
            detail: e.to_string(),
        },
    }
}

/// What has been made so far, to take down again on failure.
#[derive(Default)]
pub(crate) struct Made {
    pub(crate) containers: Vec<String>,
    pub(crate) networks: Vec<String>,
    pub(crate) volumes: Vec<String>,
}

impl Made {
    pub(crate) async fn undo(&self, docker: &Docker) {
        for c in &self.containers {
            let _ = docker
                .remove_container(
                    c,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
        for n in &self.networks {
            let _ = docker.remove_network(n).await;
        }
        for v in &self.volumes {
            let _ = docker
                .remove_volume(v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await;
        }
    }
}

pub(crate) async fn upload(
    docker: &Docker,
    container: &str,
    tar: Vec<u8>,
) -> Result<(), LaunchError> {
    context::upload(docker, container, "/", tar)
        .await
        .map_err(docker_err("copying files into the bottle"))
}

pub(crate) async fn ensure_running(
    docker: &Docker,
    container: &str,
    what: &str,
) -> Result<(), LaunchError> {
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(docker_err("checking the bottle"))?;
    let state = info.state.unwrap_or_default();
    if state.running == Some(true) {
        return Ok(());
    }
    Err(LaunchError::Died {
        what: what.to_string(),
        code: state.exit_code.unwrap_or(-1),
        logs: super::inventory::logs_tail(docker, container, 20).await,
    })
}

/// A bottle's state before anything exists in a backend: its lease (held
/// until the launch ends), its CA, its egress config and its metadata,
/// all to go into the bottle.
pub(crate) struct Prepared {
    pub ca: crate::ca::BottleCa,
    pub config: Vec<u8>,
    pub metadata: Vec<u8>,
    pub started_at: String,
    pub upstream_ca: Option<String>,
    pub _lease: state::Lease,
}

pub(crate) fn prepare(
    home: &Path,
    plan: &BottlePlan,
    progress: &Progress,
) -> Result<Prepared, LaunchError> {
    let upstream_ca = upstream_ca_bundle(plan)?;
    // Held until the bottle is made (or its remains removed).
    let lease =
        state::Lease::take(home, &plan.slug).map_err(|e| LaunchError::State(e.to_string()))?;
    let ca = crate::ca::mint(&plan.slug).map_err(|e| LaunchError::State(e.to_string()))?;
    let _ = progress.send(format!("bottle CA minted: SHA-256 {}", ca.fingerprint).into());
    let config = serde_json::to_vec_pretty(&egress_config(plan)).unwrap_or_default();
    let started_at = state::now_rfc3339();
    let metadata = Metadata {
        slug: plan.slug.clone(),
        agent: plan.agent.clone(),
        bottle: plan.bottle.clone(),
        backend: plan.backend.name().to_string(),
        template: plan.template.name().to_string(),
        started_at: started_at.clone(),
        workdir: plan.workdir().to_string(),
        ca_fingerprint: ca.fingerprint.clone(),
        workspace_source: plan
            .workspace
            .as_ref()
            .map(|w| w.source.display().to_string()),
        secret_sources: Some(SecretSources::of(plan)),
    }
    .to_bytes();
    Ok(Prepared {
        ca,
        config,
        metadata,
        started_at,
        upstream_ca,
        _lease: lease,
    })
}

/// Make the bottle. `home` is the bb home (for the state dir).
pub async fn launch(
    engine: &super::Engine,
    home: &Path,
    plan: &BottlePlan,
    host: &HostValues,
    runsc: bool,
    progress: &Progress,
) -> Result<ActiveBottle, LaunchError> {
    let docker = &engine.docker;
    let mut made = Made::default();
    // The workspace is read and packed (git included) off the async
    // workers while the engine makes the rest.
    let mut copy = plan.workspace.is_some().then(|| {
        let (home, plan, progress) = (home.to_path_buf(), plan.clone(), progress.clone());
        tokio::task::spawn_blocking(move || {
            crate::backend::workspace_copy(&home, &plan, &|note| {
                let _ = progress.send(note.into());
            })
        })
    });
    let result = make(
        engine, home, plan, host, runsc, progress, &mut made, &mut copy,
    )
    .await;
    if result.is_err() {
        // What the copy writes in the bb home is forgotten once it is done.
        if let Some(copying) = copy.take() {
            let _ = copying.await;
        }
        let _ = progress.send("cleaning up what was made".into());
        made.undo(docker).await;
        crate::work::Saved::at(home, &plan.slug).forget();
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn make(
    engine: &super::Engine,
    home: &Path,
    plan: &BottlePlan,
    host: &HostValues,
    runsc: bool,
    progress: &Progress,
    made: &mut Made,
    copy: &mut Option<Copying>,
) -> Result<ActiveBottle, LaunchError> {
    let docker = &engine.docker;
    let n: Names = names(&plan.slug);
    let say = |s: String| {
        let _ = progress.send(s.into());
    };

    let begun = std::time::Instant::now();
    let clock = Lap::default();
    let prepared = prepare(home, plan, progress)?;
    let (ca, config, started_at) = (
        &prepared.ca,
        prepared.config.clone(),
        prepared.started_at.clone(),
    );
    let upstream_ca = prepared.upstream_ca.clone();
    super::sidecars::state_volume(docker, home, plan, &started_at, made).await?;
    say(format!(
        "CA minted, state volume bb-state-{} ({})",
        plan.slug,
        clock.lap()
    ));
    // The agent's files and console holder are packed meanwhile.
    let packing = {
        let files = agent_files(plan, host, &ca.cert_pem);
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || launch_agent::pack(files, &plan))
    };

    let (sidecar_src, agent_src) = (
        super::images::sidecar_source()?,
        super::images::agent_source(plan)?,
    );
    let network = |name: String, internal: bool| async move {
        let mut labels = names::labels(
            home,
            &plan.slug,
            &plan.agent,
            &plan.bottle,
            names::ROLE_NETWORK,
        );
        labels.insert(
            "bb.network".into(),
            if internal { "internal" } else { "egress" }.into(),
        );
        // `internal` stops forwarding, not traffic to the host itself: the
        // host holds the bridge's gateway address, and through it every
        // other address it has. With no IPv4 address on the internal
        // bridge the host is not on that network at all; the agent and its
        // bundle still reach each other on it.
        let options = internal.then(|| {
            HashMap::from([(
                "com.docker.network.bridge.inhibit_ipv4".to_string(),
                "true".to_string(),
            )])
        });
        docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                internal: Some(internal),
                driver: Some("bridge".into()),
                labels: Some(labels),
                options,
                ..Default::default()
            })
            .await
            .map_err(|e| docker_err("creating the bottle's networks")(e).to_string())?;
        Ok::<_, String>(name)
    };
    // Each part starts as soon as what it needs is there: the bundle its
    // image and the egress network (the internal one only to join it),
    // the agent its image and the internal network.
    let internal = network(n.internal.clone(), true).shared();
    let egress = network(n.egress.clone(), false).shared();
    let runtime = runsc.then(|| "runsc".to_string());
    if runsc {
        say("gVisor (runsc) is registered: the bottle runs under it".into());
    }

    // The sidecar bundle (given its configs and, on init's stdin, its
    // secrets) and the agent's container with its files are made at once:
    // neither needs the other until the agent starts. On Podman the agent
    // needs the bundle's address first.
    let (mut bundle_made, mut agent_made) = (Made::default(), Made::default());
    let bundle = async {
        let clock = Lap::default();
        let (image, egress) = tokio::join!(
            super::images::ensure(docker, &sidecar_src, progress),
            egress.clone()
        );
        let image = image?;
        egress.map_err(LaunchError::Network)?;
        say(format!(
            "sidecar image checked, network {} (egress) made ({})",
            n.egress,
            clock.lap()
        ));
        let daemons = super::sidecars::start(
            docker,
            &super::sidecars::Bundle {
                plan,
                host,
                image: &image,
                home,
                ca,
                metadata: prepared.metadata.clone(),
                egress_config: config,
                upstream_ca,
                runtime: runtime.clone(),
                started_at: &started_at,
                publish: None,
            },
            &mut bundle_made,
            async {
                internal.clone().await.map_err(LaunchError::Network)?;
                super::sidecars::join_internal(docker, &n).await
            },
        )
        .await?;
        say(format!(
            "sidecar bundle {} up ({}) ({})",
            n.sidecars,
            daemons.join(", "),
            clock.lap()
        ));
        Ok::<_, LaunchError>(daemons)
    };
    let agent_ready = async {
        let (image, internal) = tokio::join!(
            super::images::ensure(docker, &agent_src, progress),
            internal.clone()
        );
        internal.map_err(LaunchError::Network)?;
        Ok(image?)
    };
    let agent = AgentMaking {
        docker,
        home,
        plan,
        host,
        names: &n,
        runtime: runtime.clone(),
        started_at: started_at.clone(),
        ca_pem: &ca.cert_pem,
        progress,
        copy,
        packing,
    };
    let (daemons, agent_made_ok) = if super::is_podman(docker).await {
        match bundle.await {
            Ok(daemons) => {
                let made_agent = match sidecar_hosts(docker, &n, &say).await {
                    Ok(hosts) => agent.make(agent_ready, hosts, &mut agent_made).await,
                    Err(e) => Err(e),
                };
                (Ok(daemons), made_agent)
            }
            Err(e) => (Err(e), Ok(())),
        }
    } else {
        tokio::join!(bundle, agent.make(agent_ready, Vec::new(), &mut agent_made))
    };
    // What was made is undone on failure, whichever part failed: a network
    // a part began is seen through before it is counted.
    for network in [&internal, &egress] {
        if let Ok(name) = network.clone().await {
            made.networks.push(name);
        }
    }
    made.absorb(bundle_made);
    made.absorb(agent_made);
    let daemons = daemons?;
    agent_made_ok?;

    ensure_running(docker, &n.sidecars, "the sidecar bundle").await?;
    ensure_running(docker, &n.agent, "the agent container").await?;
    say(format!(
        "agent container {} up ({:.2} s in all)",
        n.agent,
        begun.elapsed().as_secs_f64()
    ));
    Ok(ActiveBottle {
        slug: plan.slug.clone(),
        agent: plan.agent.clone(),
        bottle: plan.bottle.clone(),
        backend: plan.backend,
        engine: engine.name.clone(),
        started_at: None,
        state: BottleState::Running,
        sidecars: daemons.iter().map(|s| s.to_string()).collect(),
        down: None,
        template: Some(plan.template),
    })
}

impl Made {
    /// What another part of the launch made, to undo with the rest.
    fn absorb(&mut self, other: Made) {
        self.containers.extend(other.containers);
        self.networks.extend(other.networks);
        self.volumes.extend(other.volumes);
    }
}

/// Time since the last lap (or since made), as `0.12 s`.
pub(super) struct Lap(std::sync::Mutex<std::time::Instant>);

impl Default for Lap {
    fn default() -> Lap {
        Lap(std::sync::Mutex::new(std::time::Instant::now()))
    }
}

impl Lap {
    pub(super) fn lap(&self) -> String {
        let now = std::time::Instant::now();
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let took = now - std::mem::replace(&mut *last, now);
        format!("{:.2} s", took.as_secs_f64())
    }
}

/// How the agent finds its bundle by name where the engine does not say.
/// Docker's embedded resolver answers `sidecars` (and nothing outside);
/// Podman's answers only when it is the container's resolver, which would
/// also forward the agent's other names out, so there the name goes in the
/// agent's `/etc/hosts` (Podman keeps a container's address when it
/// restarts). Podman also gives the internal network a gateway address on
/// its host, which Docker's `inhibit_ipv4` withholds: said at launch.
async fn sidecar_hosts(
    docker: &Docker,
    n: &Names,
    say: &impl Fn(String),
) -> Result<Vec<String>, LaunchError> {
    if !super::is_podman(docker).await {
        return Ok(Vec::new());
    }
    let info = docker
        .inspect_container(
            &n.sidecars,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(docker_err("reading the bundle's address"))?;
    let ip = info
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|nets| nets.get(&n.internal).and_then(|e| e.ip_address.clone()))
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| LaunchError::Docker {
            doing: "reading the bundle's address".into(),
            detail: format!("{} has no address on {}", n.sidecars, n.internal),
        })?;
    let gateway = docker
        .inspect_network(
            &n.internal,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()
        .and_then(|net| net.ipam?.config?.into_iter().find_map(|c| c.gateway))
        .unwrap_or_default();
    if !gateway.is_empty() {
        say(format!(
            "note: Podman gives {} a gateway on its host ({gateway}): the agent can reach what listens on that host's addresses; firewall it there",
            n.internal
        ));
    }
    Ok(vec![format!("{SIDECAR_ALIAS}:{ip}")])
}
