//! Making a bottle whose agent runs in a smolvm micro-VM:
//! - its sidecar bundle in Docker, on a bridge of its own, publishing only
//!   the proxy, gate and supervise ports on one loopback address of the
//!   bottle's own;
//! - the agent image built in Docker as for a container and saved (`docker
//!   save`) for smolvm; the same image saves to the same bytes, so smolvm,
//!   which keeps archives by their hash, keeps one copy per image, not one
//!   per bottle;
//! - the machine, whose network reaches that one address (`--allow-cidr
//!   A/32`) and nothing else; after boot bb copies in what a container is
//!   given (console holder, CA, prompt, provider files, skills, workspace),
//!   trusts the CA and names the address `sidecars`.
//!
//! A failure removes what was made, in Docker and in smolvm.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use bollard::models::NetworkCreateRequest;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::cli::{self, CreateSpec, Smolvm};
use super::run::{run, run_with_input, SmolvmError};
use crate::backend::docker::context;
use crate::backend::docker::guest::{agent_env, agent_files, skill_archives, HostValues};
use crate::backend::docker::launch::{docker_err, prepare, LaunchError, Made};
use crate::backend::docker::names::{self, names};
use crate::backend::docker::trust::trust_script;
use crate::backend::{ActiveBottle, BottleState, Progress};
use crate::plan::{BottlePlan, SIDECAR_HOST};

/// The agent's filesystem as smolvm takes it, in the launch's scratch dir.
pub const IMAGE_ARCHIVE: &str = "agent-image.tar";
/// The agent's start script in the guest, which the console holder runs
/// (in Docker it is the container's command).
pub const AGENT_SCRIPT: &str = "/opt/bb/agent.sh";
/// Per-bottle addresses are taken from 127.77.0.0/16.
const ADDRESS_NET: [u8; 2] = [127, 77];

#[derive(Debug, thiserror::Error)]
pub enum SmolLaunchError {
    #[error(transparent)]
    Docker(#[from] LaunchError),
    #[error(transparent)]
    Smolvm(#[from] SmolvmError),
    #[error("saving the agent's image for smolvm failed: {0}")]
    Save(String),
    #[error("every address in 127.77.0.0/16 is taken by a bottle: stop some")]
    NoAddress,
}

/// The loopback address a bottle's bundle is published on: one taken from
/// its slug, or the next free one when another bottle has it.
pub fn address(slug: &str, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let h = slug.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    // 256 * 254 addresses: the last byte is never 0 or 255.
    const SPAN: u64 = 256 * 254;
    (0..SPAN).find_map(|i| {
        let n = (h.wrapping_add(i)) % SPAN;
        let a = Ipv4Addr::new(
            ADDRESS_NET[0],
            ADDRESS_NET[1],
            (n / 254) as u8,
            (n % 254 + 1) as u8,
        );
        (!taken.contains(&a)).then_some(a)
    })
}

/// What has been made, to take down again on failure.
#[derive(Default)]
struct SmolMade {
    docker: Made,
    machine: Option<String>,
}

/// Make the bottle. `home` is the bb home (for the state dir).
pub async fn launch(
    docker: &Docker,
    smolvm: &Smolvm,
    home: &Path,
    plan: &BottlePlan,
    host: &HostValues,
    progress: &Progress,
) -> Result<ActiveBottle, SmolLaunchError> {
    let mut made = SmolMade::default();
    let result = make(docker, smolvm, home, plan, host, progress, &mut made).await;
    if result.is_err() {
        let _ = progress.send("cleaning up what was made".into());
        if let Some(m) = &made.machine {
            let _ = run(smolvm, &cli::delete(smolvm, m)).await;
        }
        made.docker.undo(docker).await;
        crate::work::Saved::at(home, &plan.slug).forget();
    }
    result
}

async fn make(
    docker: &Docker,
    smolvm: &Smolvm,
    home: &Path,
    plan: &BottlePlan,
    host: &HostValues,
    progress: &Progress,
    made: &mut SmolMade,
) -> Result<ActiveBottle, SmolLaunchError> {
    let n = names(&plan.slug);
    let say = |s: String| {
        let _ = progress.send(s.into());
    };
    let prepared = prepare(home, plan, progress)?;
    crate::backend::docker::sidecars::state_volume(
        docker,
        home,
        plan,
        &prepared.started_at,
        &mut made.docker,
    )
    .await?;
    let docker_image = LaunchError::from;
    let sidecar_image = crate::backend::docker::images::ensure(
        docker,
        &crate::backend::docker::images::sidecar_source().map_err(docker_image)?,
        progress,
    )
    .await
    .map_err(docker_image)?;
    let agent_image = crate::backend::docker::images::ensure(
        docker,
        &crate::backend::docker::images::agent_source(plan).map_err(docker_image)?,
        progress,
    )
    .await
    .map_err(docker_image)?;

    // The bundle: its own bridge (a way out for it alone), its ports on
    // the bottle's address.
    let addr =
        address(&plan.slug, &taken_addresses(docker).await?).ok_or(SmolLaunchError::NoAddress)?;
    let mut labels = names::labels(
        home,
        &plan.slug,
        &plan.agent,
        &plan.bottle,
        names::ROLE_NETWORK,
    );
    labels.insert(names::BACKEND.into(), plan.backend.name().into());
    labels.insert("bb.network".into(), "egress".into());
    docker
        .create_network(NetworkCreateRequest {
            name: n.egress.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .map_err(docker_err("creating the bundle's network"))?;
    made.docker.networks.push(n.egress.clone());
    let daemons = crate::backend::docker::sidecars::start(
        docker,
        &crate::backend::docker::sidecars::Bundle {
            plan,
            host,
            image: &sidecar_image,
            home,
            ca: &prepared.ca,
            metadata: prepared.metadata.clone(),
            egress_config: prepared.config.clone(),
            upstream_ca: prepared.upstream_ca.clone(),
            runtime: None,
            started_at: &prepared.started_at,
            publish: Some(addr),
        },
        &mut made.docker,
        // Not on an internal network: the VM reaches it on `addr`.
        async { Ok(()) },
    )
    .await?;
    say(format!(
        "sidecar bundle {} up ({}), published on {addr}",
        n.sidecars,
        daemons.join(", ")
    ));

    // The agent image, saved for smolvm.
    let archive = crate::state::scratch(home, &plan.slug)
        .map_err(|e| LaunchError::State(e.to_string()))?
        .join(IMAGE_ARCHIVE);
    let _ = progress.send("saving the agent image for smolvm".into());
    save_image(docker, &agent_image, &archive).await?;

    let mut vm_labels = BTreeMap::from([
        (names::HOME.to_string(), names::home_label(home)),
        (names::SLUG.to_string(), plan.slug.clone()),
        (names::AGENT.to_string(), plan.agent.clone()),
        (names::BOTTLE.to_string(), plan.bottle.clone()),
        (names::ROLE.to_string(), names::ROLE_AGENT.to_string()),
        (names::STARTED.to_string(), prepared.started_at.clone()),
        (
            names::TEMPLATE.to_string(),
            plan.template.name().to_string(),
        ),
        (names::ADDRESS.to_string(), addr.to_string()),
    ]);
    vm_labels.retain(|_, v| !v.is_empty());
    let env = agent_env(plan, host, progress)
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let spec = CreateSpec {
        name: n.agent.clone(),
        image: archive.clone(),
        labels: vm_labels,
        allow_cidrs: vec![format!("{addr}/32")],
        env,
        volumes: Vec::new(),
        workdir: Some(plan.workdir().to_string()),
        user: Some("node".into()),
        cpus: None,
        memory_mib: Some(plan.limits.memory_mb),
    };
    run(smolvm, &cli::create(smolvm, &spec)).await?;
    made.machine = Some(n.agent.clone());
    say(format!("machine {} created (reaches {addr} only)", n.agent));
    run(smolvm, &cli::start(smolvm, &n.agent)).await?;
    seed_guest(
        smolvm,
        home,
        &n.agent,
        plan,
        host,
        &prepared.ca.cert_pem,
        progress,
    )
    .await?;
    set_up_guest(smolvm, &n.agent, addr).await?;
    // The image is in smolvm's store now.
    let _ = tokio::fs::remove_file(&archive).await;
    say(format!("machine {} up", n.agent));
    Ok(ActiveBottle {
        slug: plan.slug.clone(),
        agent: plan.agent.clone(),
        bottle: plan.bottle.clone(),
        backend: plan.backend,
        engine: String::new(),
        started_at: Some(prepared.started_at.clone()),
        state: BottleState::Running,
        sidecars: daemons,
        down: None,
        template: Some(plan.template),
    })
}

/// What a booted guest needs before the agent runs: the bottle CA trusted,
/// and `sidecars` naming the bundle's address (the plan's gate and
/// supervise URLs and the proxy use the name, as in Docker).
pub async fn set_up_guest(
    smolvm: &Smolvm,
    machine: &str,
    addr: Ipv4Addr,
) -> Result<(), SmolvmError> {
    let script = format!(
        "{}; grep -q ' {SIDECAR_HOST}$' /etc/hosts || echo '{addr} {SIDECAR_HOST}' >> /etc/hosts",
        trust_script()
    );
    let argv = ["sh", "-c", &script].map(String::from);
    run(smolvm, &cli::exec(smolvm, machine, Some("root"), &argv)).await?;
    Ok(())
}

/// Addresses other bottles' bundles are published on.
async fn taken_addresses(docker: &Docker) -> Result<Vec<Ipv4Addr>, LaunchError> {
    let found = crate::backend::docker::inventory::containers(docker, &[(names::ADDRESS, "")])
        .await
        .map_err(docker_err("listing the bottles' addresses"))?;
    Ok(found
        .iter()
        .filter_map(|c| c.labels.get(names::ADDRESS)?.parse().ok())
        .collect())
}

/// Save `image` as a `docker save` archive at `to`.
async fn save_image(docker: &Docker, image: &str, to: &Path) -> Result<(), SmolLaunchError> {
    let failed =
        |e: &dyn std::fmt::Display| SmolLaunchError::Save(format!("{}: {e}", to.display()));
    let mut file = tokio::fs::File::create(to).await.map_err(|e| failed(&e))?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| SmolLaunchError::Save(format!("docker save {image}: {e}")))?;
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
    }
    file.flush().await.map_err(|e| failed(&e))
}

/// Give a booted machine what launch gives an agent container: the
/// console holder and the agent's start script, the CA, prompt, provider
/// files and `.gitconfig`, the skills and the workspace, each archive
/// unpacked as root by the guest's `tar`, owners kept.
#[allow(clippy::too_many_arguments)]
async fn seed_guest(
    smolvm: &Smolvm,
    home: &Path,
    machine: &str,
    plan: &BottlePlan,
    host: &HostValues,
    ca_pem: &str,
    progress: &Progress,
) -> Result<(), SmolLaunchError> {
    let mut entries = agent_files(plan, host, ca_pem);
    entries.push(
        crate::backend::docker::agent::holder(bb_sidecar::console::GUEST_BINARY)
            .map_err(LaunchError::from)?,
    );
    entries.push(context::Entry::new(
        AGENT_SCRIPT,
        crate::backend::docker::console::start_script(
            &plan.commands.fresh,
            &plan.commands.resume,
            plan.commands.history.as_deref(),
        ),
        0o755,
    ));
    let mut archives =
        vec![context::archive(&entries).map_err(|e| LaunchError::State(e.to_string()))?];
    archives.extend(skill_archives(plan)?);
    if plan.workspace.is_some() {
        let note = |line: String| {
            let _ = progress.send(line.into());
        };
        archives
            .extend(crate::backend::workspace_copy(home, plan, &note).map_err(LaunchError::State)?);
    }
    let untar = ["tar", "-x", "-C", "/"].map(String::from);
    for tar in archives {
        run_with_input(
            smolvm,
            &cli::exec_input(smolvm, machine, Some("root"), &untar),
            tar,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bottle_gets_its_own_loopback_address() {
        let a = address("alpha-1a2b3c", &[]).unwrap();
        assert_eq!(a.octets()[..2], [127, 77]);
        assert!(!matches!(a.octets()[3], 0 | 255));
        // The same slug, the same address; a taken one moves on.
        assert_eq!(address("alpha-1a2b3c", &[]), Some(a));
        let b = address("alpha-1a2b3c", &[a]).unwrap();
        assert_ne!(a, b);
        assert_ne!(address("beta-9z8y7x", &[]), Some(a));
    }
}
