//! The git gate's remotes and the `insteadOf` rewrites that send the
//! agent's git traffic to it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::host::{expand_path, Host};
use crate::manifest::{Agent, Bottle, UpstreamScheme};

/// The sidecar bundle's name on the bottle's internal network.
pub const SIDECAR_HOST: &str = "sidecars";
pub const GIT_HTTP_PORT: u16 = 9420;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldSource {
    Agent,
    Bottle,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced {
    pub value: String,
    pub source: FieldSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub name: Option<Sourced>,
    pub email: Option<Sourced>,
}

impl Identity {
    /// `name=x (agent), email=y (bottle)`
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (label, field) in [("name", &self.name), ("email", &self.email)] {
            if let Some(f) = field {
                let src = match f.source {
                    FieldSource::Agent => "agent",
                    FieldSource::Bottle => "bottle",
                };
                parts.push(format!("{label}={} ({src})", f.value));
            }
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateRemote {
    pub name: String,
    pub upstream: String,
    pub host: String,
    pub port: u16,
    /// The key the gate pushes with, expanded; never inside the agent.
    pub identity_file: Option<PathBuf>,
    pub identity_file_present: bool,
    pub known_host_key: Option<String>,
    pub extra_hosts: BTreeMap<String, IpAddr>,
    pub allow_force_push: bool,
    /// Pushes wait for the operator's approval.
    pub review_pushes: bool,
    /// Where the agent's git reaches the gate.
    pub gate_url: String,
    /// URLs the agent's `~/.gitconfig` rewrites to `gate_url`.
    pub instead_of: Vec<String>,
}

pub fn identity(agent: &Agent, bottle: &Bottle) -> Identity {
    let pick = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(v), _) => Some(Sourced {
            value: v.clone(),
            source: FieldSource::Agent,
        }),
        (None, Some(v)) => Some(Sourced {
            value: v.clone(),
            source: FieldSource::Bottle,
        }),
        (None, None) => None,
    };
    Identity {
        name: pick(&agent.git_user.name, &bottle.git.user.name),
        email: pick(&agent.git_user.email, &bottle.git.user.email),
    }
}

pub fn gate_remotes(bottle: &Bottle, host: &dyn Host) -> Vec<GateRemote> {
    bottle
        .git
        .remotes
        .values()
        .map(|r| {
            let u = &r.upstream;
            let mut instead_of = vec![u.url.clone()];
            if u.scheme == UpstreamScheme::Ssh && u.port == 22 {
                // The scp-like form people paste from forges.
                instead_of.push(format!(
                    "{}@{}:{}",
                    u.user.as_deref().unwrap_or("git"),
                    u.host,
                    u.path
                ));
            }
            let identity_file = r.identity_file.as_deref().map(|p| expand_path(host, p));
            GateRemote {
                name: r.name.clone(),
                upstream: u.url.clone(),
                host: u.host.clone(),
                port: u.port,
                identity_file_present: identity_file
                    .as_deref()
                    .is_some_and(|p| host.file_exists(p)),
                identity_file,
                known_host_key: r.known_host_key.clone(),
                extra_hosts: r.extra_hosts.clone(),
                allow_force_push: r.allow_force_push,
                review_pushes: r.review_pushes,
                gate_url: format!("http://{SIDECAR_HOST}:{GIT_HTTP_PORT}/{}.git", r.name),
                instead_of,
            }
        })
        .collect()
}

/// The `~/.gitconfig` the agent gets: identity and rewrites to the gate.
pub fn gitconfig(identity: &Identity, remotes: &[GateRemote]) -> String {
    let mut out = String::new();
    if identity.name.is_some() || identity.email.is_some() {
        out.push_str("[user]\n");
        if let Some(n) = &identity.name {
            out.push_str(&format!("\tname = {}\n", quote(&n.value)));
        }
        if let Some(e) = &identity.email {
            out.push_str(&format!("\temail = {}\n", quote(&e.value)));
        }
    }
    for r in remotes {
        out.push_str(&format!("[url {}]\n", quote(&r.gate_url)));
        for from in &r.instead_of {
            out.push_str(&format!("\tinsteadOf = {}\n", quote(from)));
        }
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
