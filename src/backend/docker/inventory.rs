//! What bb has in Docker, found by labels: bottles (also ones another bb
//! started), stopping one, and cleaning up what no bottle owns any more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, ListVolumesOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::names::{self, filter};
use crate::backend::{ActiveBottle, BottleState};
use crate::plan::BackendKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub slug: String,
    pub role: String,
    pub running: bool,
    /// Docker's words for its state: "Exited (137) 2 minutes ago".
    pub status: String,
    pub labels: BTreeMap<String, String>,
}

/// Why a stopped container stopped, from Docker's status line.
pub fn why_stopped(what: &str, status: &str) -> String {
    let code = status
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(code, _)| code.trim().parse::<i32>().ok());
    match code {
        Some(137) => format!("{what} was killed (exit 137: SIGKILL or out of memory)"),
        Some(143) => format!("{what} was stopped (exit 143: SIGTERM)"),
        Some(0) => format!("{what} exited"),
        Some(c) => format!("{what} exited with code {c}"),
        None if status.is_empty() => format!("{what} is not running"),
        None => format!("{what} is not running ({status})"),
    }
}

pub async fn containers(
    docker: &Docker,
    pairs: &[(&str, &str)],
) -> Result<Vec<Found>, bollard::errors::Error> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter(pairs)),
            ..Default::default()
        }))
        .await?;
    Ok(list
        .into_iter()
        .map(|c| {
            let labels: BTreeMap<String, String> =
                c.labels.unwrap_or_default().into_iter().collect();
            Found {
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                slug: labels.get(names::SLUG).cloned().unwrap_or_default(),
                role: labels.get(names::ROLE).cloned().unwrap_or_default(),
                running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                status: c.status.unwrap_or_default(),
                labels,
            }
        })
        .collect())
}

/// Until one of bb's containers starts, stops, dies or goes away (Docker's
/// events, from `since` on, so none is missed between a list and this
/// call), or a while passes: the engine restarting ends the stream
/// without a word, and the list is read again then anyway. Whether it
/// was an event.
pub async fn changed(docker: &Docker, since: std::time::SystemTime) -> bool {
    /// Lifecycle events only: execs and health checks change no bottle.
    const EVENTS: &[&str] = &[
        "create", "start", "restart", "die", "kill", "stop", "destroy", "pause", "unpause",
        "rename", "oom", "update",
    ];
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let options = bollard::query_parameters::EventsOptions {
        since: Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos())),
        until: None,
        filters: Some(std::collections::HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![names::SLUG.to_string()]),
            (
                "event".to_string(),
                EVENTS.iter().map(|e| e.to_string()).collect(),
            ),
        ])),
    };
    let mut events = docker.events(Some(options));
    match tokio::time::timeout(EVENTS_PATIENCE, events.next()).await {
        Ok(Some(Ok(_))) => {
            // Events come in bursts (kill, then die, then stop): the list
            // is read once the burst is over, not between its events
            // while the container still runs.
            while let Ok(Some(Ok(_))) = tokio::time::timeout(BURST, events.next()).await {}
            true
        }
        Err(_) => false,
        // The stream failed or ended: wait as a poll would, not in a loop.
        Ok(Some(Err(_)) | None) => {
            tokio::time::sleep(crate::backend::LIST_POLL).await;
            false
        }
    }
}

/// How long a burst of events may pause between two of its events.
const BURST: std::time::Duration = std::time::Duration::from_millis(250);

/// How long the list is trusted without an event.
const EVENTS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Bottles by their agent containers, with which sidecars are up: the
/// bottles of bb home `home` (another home's are its bb's business) on
/// the engine named `engine`.
pub async fn bottles(
    docker: &Docker,
    home: &Path,
    engine: &str,
) -> Result<Vec<ActiveBottle>, bollard::errors::Error> {
    let all = containers(docker, &[(names::SLUG, "")]).await?;
    let mut out: Vec<ActiveBottle> = all
        .iter()
        .filter(|c| c.role == names::ROLE_AGENT && names::belongs_to(&c.labels, home))
        .map(|a| {
            let bundle = all
                .iter()
                .find(|c| c.slug == a.slug && c.role == names::ROLE_SIDECARS);
            let sidecars = bundle.map(daemons_up).unwrap_or_default();
            let label = |k: &str| a.labels.get(k).cloned();
            ActiveBottle {
                slug: a.slug.clone(),
                agent: label(names::AGENT).unwrap_or_else(|| "?".into()),
                bottle: label(names::BOTTLE).unwrap_or_else(|| "?".into()),
                backend: BackendKind::Docker,
                engine: engine.to_string(),
                started_at: label(names::STARTED),
                state: match (a.running, bundle.is_some_and(|b| b.running)) {
                    _ if crate::state::leased(home, &a.slug) => BottleState::Starting,
                    (false, _) => BottleState::AgentDown,
                    (true, false) => BottleState::BundleDown,
                    (true, true) => BottleState::Running,
                },
                sidecars,
                down: match bundle {
                    _ if crate::state::leased(home, &a.slug) => None,
                    _ if !a.running => Some(why_stopped("the agent", &a.status)),
                    Some(b) if !b.running => Some(why_stopped("the sidecar bundle", &b.status)),
                    None => Some("the sidecar bundle is gone".to_string()),
                    Some(_) => None,
                },
                template: label(names::TEMPLATE)
                    .and_then(|t| crate::manifest::Template::from_name(&t)),
            }
        })
        .collect();
    // A launch killed before it made the agent container left its state
    // volume (and maybe a bundle): named too, so it is seen and stopped.
    for (_, slug, labels) in volumes(docker, home, &[(names::SLUG, "")]).await? {
        let elsewhere = labels.contains_key(names::BACKEND);
        if elsewhere || out.iter().any(|b| b.slug == slug) || crate::state::leased(home, &slug) {
            continue;
        }
        let label = |k: &str| labels.get(k).cloned();
        out.push(ActiveBottle {
            agent: label(names::AGENT).unwrap_or_else(|| "?".into()),
            bottle: label(names::BOTTLE).unwrap_or_else(|| "?".into()),
            backend: BackendKind::Docker,
            engine: engine.to_string(),
            started_at: label(names::STARTED),
            state: BottleState::AgentDown,
            sidecars: Vec::new(),
            down: Some(interrupted_note(&slug)),
            template: None,
            slug,
        });
    }
    out.sort_by(|a, b| (&a.started_at, &a.slug).cmp(&(&b.started_at, &b.slug)));
    Ok(out)
}

/// Volumes matching `pairs` that belong to `home`: (name, slug, labels).
pub async fn volumes(
    docker: &Docker,
    home: &Path,
    pairs: &[(&str, &str)],
) -> Result<Vec<(String, String, BTreeMap<String, String>)>, bollard::errors::Error> {
    let list = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filter(pairs)),
        }))
        .await?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| {
            let labels: BTreeMap<String, String> = v.labels.into_iter().collect();
            names::belongs_to(&labels, home).then(|| {
                let slug = labels.get(names::SLUG).cloned().unwrap_or_default();
                (v.name, slug, labels)
            })
        })
        .collect())
}

/// The daemons a bundle runs, when it is up.
pub fn daemons_up(bundle: &Found) -> Vec<String> {
    if !bundle.running {
        return Vec::new();
    }
    bundle
        .labels
        .get(names::DAEMONS)
        .map(|d| {
            d.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// What a bottle whose launch was killed half-way is, and what to do.
pub fn interrupted_note(slug: &str) -> String {
    format!("its launch was interrupted before it was ready (bb was killed): stop it (x, or bb stop {slug}) and start a new one")
}

/// Networks matching `pairs` that belong to `home`: (name, slug).
async fn networks(
    docker: &Docker,
    home: &Path,
    pairs: &[(&str, &str)],
) -> Result<Vec<(String, String)>, bollard::errors::Error> {
    let list = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter(pairs)),
        }))
        .await?;
    Ok(list
        .into_iter()
        .filter_map(|n| {
            let labels: BTreeMap<String, String> =
                n.labels.unwrap_or_default().into_iter().collect();
            names::belongs_to(&labels, home).then(|| {
                let slug = labels.get(names::SLUG).cloned().unwrap_or_default();
                (n.name.unwrap_or_default(), slug)
            })
        })
        .collect())
}

/// Another home's bottle, which this bb must not touch.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("bottle {slug} belongs to bb home {home}; stop it from there (BB_HOME={home} bb stop {slug})")]
    OtherHome { slug: String, home: String },
    #[error(transparent)]
    Docker(#[from] bollard::errors::Error),
}

/// Remove a bottle's containers, networks and state volume; how many
/// things went.
pub async fn remove_bottle(docker: &Docker, home: &Path, slug: &str) -> Result<usize, RemoveError> {
    let found = containers(docker, &[(names::SLUG, slug)]).await?;
    if let Some(other) = found.iter().find(|c| !names::belongs_to(&c.labels, home)) {
        return Err(RemoveError::OtherHome {
            slug: slug.to_string(),
            home: other.labels.get(names::HOME).cloned().unwrap_or_default(),
        });
    }
    let mut removed = 0;
    for c in found {
        docker
            .remove_container(
                &c.name,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await?;
        removed += 1;
    }
    for (name, _) in networks(docker, home, &[(names::SLUG, slug)]).await? {
        docker.remove_network(&name).await?;
        removed += 1;
    }
    for (name, _, _) in volumes(docker, home, &[(names::SLUG, slug)]).await? {
        docker
            .remove_volume(&name, None::<RemoveVolumeOptions>)
            .await?;
        removed += 1;
    }
    // Images built for this bottle alone (capability changes).
    let own = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(std::collections::HashMap::from([(
                "reference".to_string(),
                vec![format!("bb-agent-{slug}")],
            )])),
            ..Default::default()
        }))
        .await?;
    for img in own {
        let _ = docker
            .remove_image(
                &img.id,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await;
    }
    Ok(removed)
}

/// One thing `cleanup` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orphan {
    /// A container whose bottle has no agent container.
    Container {
        name: String,
        slug: String,
    },
    Network {
        name: String,
        slug: String,
    },
    /// A state volume whose bottle has no containers.
    Volume {
        name: String,
        slug: String,
    },
    /// A state dir an older bb left on this machine, with no bottle.
    StateDir {
        slug: String,
    },
    /// An image bb built from content this bb no longer builds (another
    /// version's sidecar, an older agent Dockerfile) that no container uses.
    Image {
        tag: String,
    },
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Orphan::Container { name, slug } => {
                write!(f, "container {name} (bottle {slug}, no agent container)")
            }
            Orphan::Network { name, slug } => {
                write!(f, "network {name} (bottle {slug}, no containers)")
            }
            Orphan::Volume { name, slug } => {
                write!(f, "volume {name} (bottle {slug}, no containers)")
            }
            Orphan::StateDir { slug } => write!(f, "state dir {slug} (no containers)"),
            Orphan::Image { tag } => write!(f, "image {tag} (not this bb's build, no containers)"),
        }
    }
}

/// What no bottle owns on an engine. `current` maps each image repository bb builds
/// for every bottle (the sidecar and built-in agent images) to the tag
/// this bb would build now; other tags of those repositories that no
/// container uses are orphans (a bb that wants one again rebuilds it).
pub async fn orphans(
    docker: &Docker,
    home: &Path,
    current: &BTreeMap<String, String>,
    legacy: bool,
) -> Result<Vec<Orphan>, bollard::errors::Error> {
    let all: Vec<Found> = containers(docker, &[(names::SLUG, "")])
        .await?
        .into_iter()
        .filter(|c| names::belongs_to(&c.labels, home))
        .collect();
    // A launch in progress holds a lease: what it has made so far is not
    // an orphan.
    let launching = |slug: &str| crate::state::leased(home, slug);
    let with_agent: BTreeSet<&str> = all
        .iter()
        .filter(|c| c.role == names::ROLE_AGENT)
        .map(|c| c.slug.as_str())
        .collect();
    let with_any: BTreeSet<&str> = all.iter().map(|c| c.slug.as_str()).collect();
    let mut out = Vec::new();
    // A micro-VM's bundle has no agent container: its backend, which
    // sees the machine, lists it and stops it.
    let elsewhere: BTreeSet<&str> = all
        .iter()
        .filter(|c| c.labels.contains_key(names::BACKEND))
        .map(|c| c.slug.as_str())
        .collect();
    for c in all.iter().filter(|c| {
        !with_agent.contains(c.slug.as_str())
            && !elsewhere.contains(c.slug.as_str())
            && !launching(&c.slug)
    }) {
        out.push(Orphan::Container {
            name: c.name.clone(),
            slug: c.slug.clone(),
        });
    }
    let volumes = volumes(docker, home, &[(names::SLUG, "")]).await?;
    // A micro-VM's bottle whose bundle is gone still has its state volume,
    // which says whose it is: its network is its backend's too.
    let vm_state: BTreeSet<&str> = volumes
        .iter()
        .filter(|(_, _, labels)| labels.contains_key(names::BACKEND))
        .map(|(_, slug, _)| slug.as_str())
        .collect();
    for (name, slug) in networks(docker, home, &[(names::SLUG, "")]).await? {
        if !with_agent.contains(slug.as_str())
            && !elsewhere.contains(slug.as_str())
            && !vm_state.contains(slug.as_str())
            && !launching(&slug)
        {
            out.push(Orphan::Network { name, slug });
        }
    }
    for (name, slug, labels) in volumes.iter().cloned() {
        // A bottle without its agent goes whole (its bundle is removed
        // above, its logs kept); a micro-VM's state is its backend's.
        if !with_agent.contains(slug.as_str())
            && !elsewhere.contains(slug.as_str())
            && !labels.contains_key(names::BACKEND)
            && !launching(&slug)
        {
            out.push(Orphan::Volume { name, slug });
        }
    }
    // What an older bb kept on this machine, for bottles of the engine it
    // used (the default one, `legacy`).
    for slug in crate::state::legacy_slugs(home)
        .into_iter()
        .filter(|_| legacy)
    {
        if !with_any.contains(slug.as_str()) && !launching(&slug) {
            out.push(Orphan::StateDir { slug });
        }
    }
    out.extend(stale_images(docker, current).await?);
    Ok(out)
}

async fn stale_images(
    docker: &Docker,
    current: &BTreeMap<String, String>,
) -> Result<Vec<Orphan>, bollard::errors::Error> {
    let in_use: BTreeSet<String> = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await?
        .into_iter()
        .filter_map(|c| c.image_id)
        .collect();
    let mut out = Vec::new();
    for (repository, keep) in current {
        let images = docker
            .list_images(Some(ListImagesOptions {
                filters: Some(std::collections::HashMap::from([(
                    "reference".to_string(),
                    vec![repository.clone()],
                )])),
                ..Default::default()
            }))
            .await?;
        for img in images.iter().filter(|i| !in_use.contains(&i.id)) {
            // Only what bb built: its content label is on every build.
            if !img.labels.contains_key(names::CONTENT_HASH) {
                continue;
            }
            for tag in img.repo_tags.iter().filter(|t| *t != keep) {
                out.push(Orphan::Image { tag: tag.clone() });
            }
        }
    }
    Ok(out)
}

pub async fn remove_orphan(docker: &Docker, home: &Path, o: &Orphan) -> Result<(), String> {
    match o {
        Orphan::Container { name, slug } => {
            // A bundle holds the bottle's logs: kept here before it goes.
            if *name == names::names(slug).sidecars {
                let kept = super::operator::kept_logs(docker, slug).await;
                crate::state::keep_logs(home, slug, &kept).map_err(|e| {
                    format!(
                        "its logs could not be kept in {}: {e}",
                        crate::home::archive_dir(home).display()
                    )
                })?;
            }
            docker
                .remove_container(
                    name,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| e.to_string())
        }
        Orphan::Network { name, .. } => {
            docker.remove_network(name).await.map_err(|e| e.to_string())
        }
        Orphan::Volume { name, .. } => docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
            .map_err(|e| e.to_string()),
        Orphan::StateDir { slug } => crate::state::settle_legacy(home, slug)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        // Not forced: an image a container took meanwhile stays.
        Orphan::Image { tag } => docker
            .remove_image(tag, None::<RemoveImageOptions>, None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// The last lines a container printed, for "it died" messages.
pub async fn logs_tail(docker: &Docker, container: &str, lines: usize) -> String {
    let mut stream = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    if text.trim().is_empty() {
        "(no output)".into()
    } else {
        text.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::why_stopped;

    #[test]
    fn a_stopped_container_says_why() {
        assert_eq!(
            why_stopped("the agent", "Exited (137) 2 minutes ago"),
            "the agent was killed (exit 137: SIGKILL or out of memory)"
        );
        assert_eq!(
            why_stopped("the sidecar bundle", "Exited (2) 1 second ago"),
            "the sidecar bundle exited with code 2"
        );
        assert_eq!(
            why_stopped("the agent", "Created"),
            "the agent is not running (Created)"
        );
    }
}
