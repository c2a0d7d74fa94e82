//! The smolmachines bottles of a bb home, found again after a restart:
//! machines by their labels (`machine ls --json`), bundles by theirs in
//! Docker, and launches that were killed half-way by their state volumes.
//! (`machines`: None where smolvm is not installed, so they cannot be
//! asked.)

use std::path::Path;

use bollard::Docker;

use super::cli::Listed;
use crate::backend::docker::inventory::{
    containers, daemons_up, interrupted_note, why_stopped, Found,
};
use crate::backend::docker::names;
use crate::backend::{ActiveBottle, BottleState};
use crate::plan::BackendKind;

/// The micro-VM bundles of `home` in Docker.
pub async fn bundles(docker: &Docker, home: &Path) -> Result<Vec<Found>, bollard::errors::Error> {
    Ok(containers(
        docker,
        &[(names::BACKEND, BackendKind::Smolmachines.name())],
    )
    .await?
    .into_iter()
    .filter(|c| c.role == names::ROLE_SIDECARS && names::belongs_to(&c.labels, home))
    .collect())
}

/// The state volumes of `home`'s micro-VM bottles in Docker: (slug,
/// labels).
pub async fn states(
    docker: &Docker,
    home: &Path,
) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, bollard::errors::Error> {
    Ok(crate::backend::docker::inventory::volumes(
        docker,
        home,
        &[(names::BACKEND, BackendKind::Smolmachines.name())],
    )
    .await?
    .into_iter()
    .map(|(_, slug, labels)| (slug, labels))
    .collect())
}

/// Pure: what the machines, bundles and state volumes say together.
pub fn assemble(
    home: &Path,
    machines: Option<&[Listed]>,
    bundles: &[Found],
    states: &[(String, std::collections::BTreeMap<String, String>)],
) -> Vec<ActiveBottle> {
    let ours: Vec<&Listed> = machines
        .unwrap_or_default()
        .iter()
        .filter(|m| m.labels.contains_key(names::SLUG) && names::belongs_to(&m.labels, home))
        .collect();
    let mut out = Vec::new();
    for m in &ours {
        let slug = m.labels[names::SLUG].clone();
        let bundle = bundles.iter().find(|b| b.slug == slug);
        let up = m.state == "running";
        let leased = crate::state::leased(home, &slug);
        out.push(ActiveBottle {
            agent: m
                .labels
                .get(names::AGENT)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            bottle: m
                .labels
                .get(names::BOTTLE)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            backend: BackendKind::Smolmachines,
            engine: String::new(),
            started_at: m.labels.get(names::STARTED).cloned(),
            state: match (up, bundle.is_some_and(|b| b.running)) {
                _ if leased => BottleState::Starting,
                (false, _) => BottleState::AgentDown,
                (true, false) => BottleState::BundleDown,
                (true, true) => BottleState::Running,
            },
            sidecars: bundle.map(daemons_up).unwrap_or_default(),
            down: match bundle {
                _ if leased => None,
                _ if !up => Some(match &m.state_reason {
                    Some(why) => format!("the machine is {} ({why})", m.state),
                    None => format!("the machine is {}", m.state),
                }),
                Some(b) if !b.running => Some(why_stopped("the sidecar bundle", &b.status)),
                None => Some("the sidecar bundle is gone".to_string()),
                Some(_) => None,
            },
            template: template(&m.labels),
            slug,
        });
    }
    // A bundle with no machine: the machine was deleted outside bb, or
    // smolvm cannot be asked.
    for b in bundles {
        if out.iter().any(|o| o.slug == b.slug) {
            continue;
        }
        let (state, down) = match machines {
            None => (
                BottleState::Unreachable,
                super::probe::Unusable::NotInstalled.to_string(),
            ),
            Some(_) if crate::state::interrupted(home, &b.slug) => {
                (BottleState::AgentDown, interrupted_note(&b.slug))
            }
            Some(_) => (
                BottleState::AgentDown,
                "its machine is gone (deleted outside bb): stop the bottle with x".to_string(),
            ),
        };
        if crate::state::leased(home, &b.slug) {
            continue;
        }
        out.push(ActiveBottle {
            slug: b.slug.clone(),
            agent: b
                .labels
                .get(names::AGENT)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            bottle: b
                .labels
                .get(names::BOTTLE)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            backend: BackendKind::Smolmachines,
            engine: String::new(),
            started_at: b.labels.get(names::STARTED).cloned(),
            state,
            sidecars: daemons_up(b),
            down: Some(down),
            template: None,
        });
    }
    // A launch killed before it made anything bb can list: its state.
    for (slug, labels) in states {
        if out.iter().any(|b| b.slug == *slug) || crate::state::leased(home, slug) {
            continue;
        }
        out.push(ActiveBottle {
            agent: labels
                .get(names::AGENT)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            bottle: labels
                .get(names::BOTTLE)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            backend: BackendKind::Smolmachines,
            engine: String::new(),
            started_at: labels.get(names::STARTED).cloned(),
            state: BottleState::AgentDown,
            sidecars: Vec::new(),
            down: Some(interrupted_note(slug)),
            template: None,
            slug: slug.clone(),
        });
    }
    out.sort_by(|a, b| (&a.started_at, &a.slug).cmp(&(&b.started_at, &b.slug)));
    out
}

fn template(
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<crate::manifest::Template> {
    labels
        .get(names::TEMPLATE)
        .and_then(|t| crate::manifest::Template::from_name(t))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn machine(slug: &str, state: &str, home: &Path) -> Listed {
        Listed {
            name: format!("bb-{slug}"),
            state: state.into(),
            state_reason: None,
            labels: BTreeMap::from([
                (names::SLUG.into(), slug.into()),
                (names::AGENT.into(), "alpha".into()),
                (names::BOTTLE.into(), "dev".into()),
                (names::HOME.into(), names::home_label(home)),
                (
                    names::STARTED.into(),
                    format!("2026-12-01T00:00:0{}Z", slug.len() % 10),
                ),
            ]),
            allowed_cidrs: vec!["127.77.1.2/32".into()],
        }
    }

    fn bundle(slug: &str, running: bool, home: &Path) -> Found {
        Found {
            name: format!("bb-sidecars-{slug}"),
            slug: slug.into(),
            role: names::ROLE_SIDECARS.into(),
            running,
            status: if running {
                "Up 2 minutes"
            } else {
                "Exited (137) 1 minute ago"
            }
            .into(),
            labels: BTreeMap::from([
                (names::SLUG.into(), slug.into()),
                (names::AGENT.into(), "alpha".into()),
                (names::HOME.into(), names::home_label(home)),
                (names::DAEMONS.into(), "egress,git-gate".into()),
            ]),
        }
    }

    #[test]
    fn machines_and_bundles_are_read_together() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let mut other = machine("x-3", "running", h);
        other.labels.insert(names::HOME.into(), "/elsewhere".into());
        let machines = vec![
            machine("a-1", "running", h),
            machine("bb-22", "running", h),
            machine("c-333", "stopped", h),
            other,
        ];
        let bundles = vec![
            bundle("a-1", true, h),
            bundle("bb-22", false, h),
            bundle("c-333", true, h),
            bundle("gone-4", true, h),
        ];
        let got = assemble(h, Some(&machines), &bundles, &[]);
        let by = |s: &str| got.iter().find(|b| b.slug == s).unwrap();
        assert_eq!(got.len(), 4, "another home's machine is not listed");
        assert_eq!(by("a-1").state, BottleState::Running);
        assert_eq!(by("a-1").sidecars, ["egress", "git-gate"]);
        assert_eq!(by("a-1").backend, BackendKind::Smolmachines);
        assert_eq!(by("bb-22").state, BottleState::BundleDown);
        assert!(by("bb-22").down.as_deref().unwrap().contains("killed"));
        assert_eq!(by("c-333").state, BottleState::AgentDown);
        assert_eq!(by("c-333").down.as_deref(), Some("the machine is stopped"));
        assert_eq!(by("gone-4").state, BottleState::AgentDown);
        assert!(by("gone-4")
            .down
            .as_deref()
            .unwrap()
            .contains("machine is gone"));
        // Without smolvm the machines cannot be asked: the bundles say so.
        let got = assemble(h, None, &bundles, &[]);
        assert!(got.iter().all(|b| b.state == BottleState::Unreachable));
        assert!(got[0].down.as_deref().unwrap().contains("not installed"));
    }
}
