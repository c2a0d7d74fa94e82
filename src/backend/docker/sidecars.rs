//! Creating and starting a bottle's sidecar bundle: one container on the
//! egress network, joined to the internal one as `sidecars`, given its
//! configs as files and its secrets on init's stdin (never in its config).

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, PortBinding,
};
use bollard::query_parameters::CreateContainerOptions;
use bollard::Docker;

use super::bundle::{gate_config, hand_over_secrets, CA_KEY_ENV, RUNTIME_DIR, UPSTREAM_CA_GUEST};
use super::context::{self, Entry};
use super::guest::HostValues;
use super::launch::{docker_err, upload, LaunchError, Made};
use super::names::{self, names, SIDECAR_ALIAS};
use crate::plan::BottlePlan;

/// What the bundle is made from.
pub(crate) struct Bundle<'a> {
    pub plan: &'a BottlePlan,
    /// The sidecar image's content tag.
    pub image: &'a str,
    /// The bb home the bottle belongs to.
    pub home: &'a Path,
    pub host: &'a HostValues,
    pub ca: &'a crate::ca::BottleCa,
    /// What a later bb needs to know of the bottle, kept in its state.
    pub metadata: Vec<u8>,
    pub egress_config: Vec<u8>,
    pub upstream_ca: Option<String>,
    pub runtime: Option<String>,
    pub started_at: &'a str,
    /// A micro-VM's bundle: not on an internal network (the agent is not
    /// in Docker) but reached on this host address, where the proxy, gate
    /// and supervise ports alone are published.
    pub publish: Option<std::net::Ipv4Addr>,
}

/// The ports a bundle serves its agent on.
pub const SERVED_PORTS: [u16; 3] = [
    names::EGRESS_PORT,
    crate::plan::GIT_HTTP_PORT,
    crate::plan::provider::SUPERVISE_PORT,
];

/// The bottle's state volume: its state lives with it on its engine,
/// reached through the engine (the operator channel), never a mount of
/// the operator's disk. Made first, so a launch killed at any later step
/// leaves something its engine lists (and `bb stop` removes).
pub(crate) async fn state_volume(
    docker: &Docker,
    home: &Path,
    plan: &BottlePlan,
    started_at: &str,
    made: &mut Made,
) -> Result<(), LaunchError> {
    let mut labels = names::labels(
        home,
        &plan.slug,
        &plan.agent,
        &plan.bottle,
        names::ROLE_STATE,
    );
    labels.insert(names::STARTED.into(), started_at.to_string());
    if plan.backend != crate::plan::BackendKind::Docker {
        labels.insert(names::BACKEND.into(), plan.backend.name().into());
    }
    docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(names(&plan.slug).state),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .map_err(docker_err("creating the bottle's state volume"))?;
    made.volumes.push(names(&plan.slug).state);
    Ok(())
}

/// Create, fill and start the bundle; the daemons it runs. `joined`
/// joins it to what else it needs (the bottle's internal network) while
/// its files go in.
pub(crate) async fn start(
    docker: &Docker,
    b: &Bundle<'_>,
    made: &mut Made,
    joined: impl std::future::Future<Output = Result<(), LaunchError>>,
) -> Result<Vec<String>, LaunchError> {
    let (plan, host, ca) = (b.plan, b.host, b.ca);
    let n = names(&plan.slug);
    let daemons: Vec<&str> = plan.daemons.iter().map(|d| d.name()).collect();
    let mut labels = names::labels(
        b.home,
        &plan.slug,
        &plan.agent,
        &plan.bottle,
        names::ROLE_SIDECARS,
    );
    labels.insert(names::DAEMONS.into(), daemons.join(","));
    labels.insert(names::STARTED.into(), b.started_at.to_string());
    if let Some(addr) = b.publish {
        labels.insert(names::ADDRESS.into(), addr.to_string());
        labels.insert(names::BACKEND.into(), plan.backend.name().into());
    }
    let (exposed_ports, port_bindings) = match b.publish {
        None => (None, None),
        Some(addr) => {
            let ports = SERVED_PORTS.map(|p| format!("{p}/tcp"));
            (
                Some(ports.to_vec()),
                Some(
                    SERVED_PORTS
                        .iter()
                        .zip(ports)
                        .map(|(p, key)| {
                            (
                                key,
                                Some(vec![PortBinding {
                                    host_ip: Some(addr.to_string()),
                                    host_port: Some(p.to_string()),
                                }]),
                            )
                        })
                        .collect::<HashMap<_, _>>(),
                ),
            )
        }
    };
    // init runs each daemon as its own user, in the state's group where
    // it writes there (audit log, proposals).
    let gid = u64::from(bb_sidecar::init::STATE_GID);
    let gate_uid = u64::from(bb_sidecar::init::uid_of("git-gate").unwrap_or(0));
    // Secrets go to init on stdin at start, never into the container's
    // config (which `docker inspect` and the engine's disk hold).
    let mut env: Vec<String> = vec![
        format!("BB_SLUG={}", plan.slug),
        format!("BB_AGENT={}", plan.agent),
        "BB_SECRETS_ON_STDIN=1".to_string(),
        format!("BB_RUNTIME_DIR={RUNTIME_DIR}"),
    ];
    // init gives each daemon only its own secrets.
    let names = |list: &[(String, String)]| {
        list.iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    env.push(format!(
        "BB_EGRESS_SECRETS={},{CA_KEY_ENV}",
        names(&host.secrets)
    ));
    env.push(format!("BB_GATE_SECRETS={}", names(&host.gate_keys)));
    if plan.remotes.iter().any(|r| r.review_pushes) {
        // The gate files held pushes in the proposal queue: init gives it
        // the state dir's group, which it otherwise never has.
        env.push(format!("{}=1", bb_sidecar::init::GATE_HOLDS_ENV));
    }
    // The bundle shares the state dir: the egress audit log and the
    // proposal queue land where bb (and the operator) read them.
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(n.sidecars.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(b.image.to_string()),
                user: Some("0:0".into()),
                cmd: Some(vec!["init".into(), "--daemons".into(), daemons.join(",")]),
                env: Some(env),
                exposed_ports,
                open_stdin: Some(true),
                stdin_once: Some(true),
                attach_stdin: Some(true),
                labels: Some(labels),
                host_config: Some(HostConfig {
                    network_mode: Some(n.egress.clone()),
                    port_bindings,
                    runtime: b.runtime.clone(),
                    mounts: Some(vec![bollard::models::Mount {
                        target: Some(bb_contract::operator::STATE_DIR.into()),
                        source: Some(n.state.clone()),
                        typ: Some(bollard::models::MountType::VOLUME),
                        ..Default::default()
                    }]),
                    // Keys the daemons write for their tools live in memory,
                    // each daemon's in its own dir there.
                    tmpfs: Some(HashMap::from([(
                        RUNTIME_DIR.to_string(),
                        // Root's (the bundle starts as root); no uid=/gid=, which Podman refuses.
                        "rw,noexec,nosuid,size=16m,mode=0711".to_string(),
                    )])),
                    // init needs only to hand each daemon its user (and to
                    // signal them); the daemons keep nothing.
                    cap_drop: Some(vec!["ALL".to_string()]),
                    cap_add: Some(
                        ["SETUID", "SETGID", "CHOWN", "KILL"]
                            .map(String::from)
                            .to_vec(),
                    ),
                    security_opt: Some(vec!["no-new-privileges:true".to_string()]),
                    // ExtraHosts pin upstream addresses for the gate alone.
                    extra_hosts: Some(
                        plan.remotes
                            .iter()
                            .flat_map(|r| r.extra_hosts.iter().map(|(h, ip)| format!("{h}:{ip}")))
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .map_err(docker_err("creating the sidecar bundle"))?;
    made.containers.push(n.sidecars.clone());
    let mut bundle_entries = vec![
        // egress and supervise (the state dir's group) read the routes.
        Entry::new("/etc/bb/egress.json", b.egress_config.clone(), 0o640).owned(0, gid),
        Entry::new(
            "/etc/bb/git-gate.json",
            serde_json::to_vec_pretty(&gate_config(plan)).unwrap_or_default(),
            0o600,
        )
        .owned(gate_uid, gate_uid),
        Entry::new("/etc/bb/ca.crt", ca.cert_pem.clone(), 0o644).owned(0, 0),
        // bb's own, in the state: root's, read back by bb alone.
        Entry::new(
            format!("{}/metadata.json", bb_contract::operator::STATE_DIR),
            b.metadata.clone(),
            0o600,
        )
        .owned(0, 0),
    ];
    if let Some(pem) = b.upstream_ca.clone() {
        bundle_entries.push(Entry::new(UPSTREAM_CA_GUEST, pem, 0o644).owned(0, 0));
    }
    let bundle_files =
        context::archive(&bundle_entries).map_err(|e| LaunchError::State(e.to_string()))?;
    tokio::try_join!(joined, upload(docker, &n.sidecars, bundle_files))?;
    run(docker, &n.sidecars, host, &ca.key_pem).await?;
    Ok(daemons.iter().map(|d| d.to_string()).collect())
}

/// Join the bundle to the bottle's internal network as `sidecars`.
pub(crate) async fn join_internal(docker: &Docker, n: &names::Names) -> Result<(), LaunchError> {
    docker
        .connect_network(
            &n.internal,
            NetworkConnectRequest {
                container: n.sidecars.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(vec![SIDECAR_ALIAS.to_string()]),
                    ..Default::default()
                }),
            },
        )
        .await
        .map_err(docker_err("joining the bundle to the internal network"))?;
    Ok(())
}

/// Start the (created or stopped) bundle and hand init its secrets on
/// stdin: the route tokens and gate keys `host` read, and the bottle CA's
/// key, which exists only in memory.
pub(crate) async fn run(
    docker: &Docker,
    name: &str,
    host: &HostValues,
    ca_key_pem: &str,
) -> Result<(), LaunchError> {
    let ca_key = [(CA_KEY_ENV.to_string(), ca_key_pem.to_string())];
    let secrets: std::collections::BTreeMap<&str, &str> = host
        .secrets
        .iter()
        .chain(host.gate_keys.iter())
        .chain(ca_key.iter())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let stdin = docker
        .attach_container(
            name,
            Some(bollard::query_parameters::AttachContainerOptions {
                stdin: true,
                stream: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(docker_err("attaching to the sidecar bundle"))?;
    docker
        .start_container(
            name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(docker_err("starting the sidecar bundle"))?;
    hand_over_secrets(stdin, &secrets)
        .await
        .map_err(|detail| LaunchError::Docker {
            doing: "handing the secrets to the sidecar bundle".into(),
            detail,
        })
}
