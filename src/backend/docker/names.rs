//! What bb calls the things it makes in Docker, and the labels it finds
//! them by. Every container, network and volume of a bottle carries
//! `bb.slug`, so `ls`, `stop`, `cleanup` and the workspace agree on what
//! exists.

use std::collections::HashMap;

pub const SLUG: &str = "bb.slug";
pub const AGENT: &str = "bb.agent";
pub const BOTTLE: &str = "bb.bottle";
pub const ROLE: &str = "bb.role";
pub const DAEMONS: &str = "bb.daemons";
pub const STARTED: &str = "bb.started";
/// On the agent container: the agent CLI it runs (how its screen is read).
pub const TEMPLATE: &str = "bb.template";
/// The bb home a bottle belongs to: a bb acts only on its own home's.
pub const HOME: &str = "bb.home";
/// On a micro-VM's bundle: the host address its ports are published on.
pub const ADDRESS: &str = "bb.address";
/// On what another backend made in Docker (a micro-VM's bundle): the
/// backend whose bottle it is, which lists and cleans it up.
pub const BACKEND: &str = "bb.backend";
/// On images: a hash of what they were built from.
pub const CONTENT_HASH: &str = "bb.content-hash";

pub const ROLE_AGENT: &str = "agent";
pub const ROLE_SIDECARS: &str = "sidecars";
pub const ROLE_NETWORK: &str = "network";
/// The bottle's state volume (audit log, proposals, metadata).
pub const ROLE_STATE: &str = "state";

/// The bundle's name on the bottle's internal network.
pub const SIDECAR_ALIAS: &str = crate::plan::SIDECAR_HOST;
pub const EGRESS_PORT: u16 = 9099;

/// Container and network names of one bottle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub agent: String,
    pub sidecars: String,
    pub internal: String,
    pub egress: String,
    /// The volume its state lives in, on its engine.
    pub state: String,
}

pub fn names(slug: &str) -> Names {
    Names {
        agent: format!("bb-{slug}"),
        sidecars: format!("bb-sidecars-{slug}"),
        internal: format!("bb-{slug}-internal"),
        egress: format!("bb-{slug}-egress"),
        state: format!("bb-state-{slug}"),
    }
}

pub fn labels(
    home: &std::path::Path,
    slug: &str,
    agent: &str,
    bottle: &str,
    role: &str,
) -> HashMap<String, String> {
    HashMap::from([
        (HOME.to_string(), home_label(home)),
        (SLUG.to_string(), slug.to_string()),
        (AGENT.to_string(), agent.to_string()),
        (BOTTLE.to_string(), bottle.to_string()),
        (ROLE.to_string(), role.to_string()),
    ])
}

/// How a home is written in the `bb.home` label: its canonical path.
pub fn home_label(home: &std::path::Path) -> String {
    home.canonicalize()
        .unwrap_or_else(|_| home.to_path_buf())
        .display()
        .to_string()
}

/// Whether labels say a thing belongs to `home`. Things made before homes
/// were labelled count as this home's, as they always did.
pub fn belongs_to(
    labels: &std::collections::BTreeMap<String, String>,
    home: &std::path::Path,
) -> bool {
    labels.get(HOME).is_none_or(|h| *h == home_label(home))
}

/// A Docker label filter: `{"label": ["k=v", ...]}`.
pub fn filter(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.to_string()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect(),
    )])
}
