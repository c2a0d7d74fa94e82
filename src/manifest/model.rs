//! The resolved, validated manifest: what the rest of bb works from.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The agent CLI a bottle runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    #[default]
    Claude,
    Codex,
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::Claude => "claude",
            Template::Codex => "codex",
        }
    }

    /// The template a [`Template::name`] names.
    pub fn from_name(name: &str) -> Option<Template> {
        [Template::Claude, Template::Codex]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// What the agent's container may use: a ceiling, so a runaway or hostile
/// agent cannot take the machine down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub memory_mb: u64,
    pub pids: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_mb: 8192,
            pids: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provider {
    pub template: Template,
    /// A custom agent Dockerfile (as written; `~` and relative paths are
    /// resolved at plan time).
    pub dockerfile: Option<String>,
    /// Codex only: inject the host's ChatGPT token from egress.
    pub forward_host_credentials: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AuthScheme {
    Bearer,
    #[serde(rename = "token")]
    Token,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Bearer => "Bearer",
            AuthScheme::Token => "token",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteAuth {
    pub scheme: AuthScheme,
    /// The host environment variable that holds the token.
    pub token_ref: String,
}

/// Explicit markers that give a route a meaning to bb. Behaviour keys off
/// these, never off host names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The Claude provider's OAuth route.
    ClaudeCodeOauth,
}

impl Role {
    pub const NAMES: &'static [&'static str] = &["claude_code_oauth"];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClaudeCodeOauth => "claude_code_oauth",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Lower-cased; `*.example.com` matches subdomains only.
    pub host: String,
    pub path_allowlist: Vec<String>,
    pub auth: Option<RouteAuth>,
    pub role: Option<Role>,
    pub tls_passthrough: bool,
    /// IPs or CIDRs, normalised (`10.0.0.1/32`).
    pub ssrf_ip_allowlist: Vec<String>,
    /// Ports the agent may reach the host on; empty means 443 and 80.
    pub ports: Vec<u16>,
}

/// The ports a route without `ports:` allows.
pub const DEFAULT_PORTS: &[u16] = &[443, 80];

impl Route {
    pub fn bare(host: &str) -> Route {
        Route {
            host: host.to_ascii_lowercase(),
            path_allowlist: Vec::new(),
            auth: None,
            role: None,
            tls_passthrough: false,
            ssrf_ip_allowlist: Vec::new(),
            ports: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Egress {
    pub routes: Vec<Route>,
    /// Bare hosts: no auth, no path filter.
    pub allowlist: Vec<String>,
    /// Also look for BIP-39 seed phrases (egress and the git gate).
    pub bip39: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitUser {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl GitUser {
    /// Per-field overlay: `self`'s fields win where set.
    pub fn over(&self, base: &GitUser) -> GitUser {
        GitUser {
            name: self.name.clone().or_else(|| base.name.clone()),
            email: self.email.clone().or_else(|| base.email.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamScheme {
    Ssh,
    Https,
}

/// A parsed `Upstream` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: String,
    pub scheme: UpstreamScheme,
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
    /// Without the leading `/`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The gate's name for this repository.
    pub name: String,
    pub upstream: Upstream,
    pub identity_file: Option<String>,
    pub known_host_key: Option<String>,
    pub extra_hosts: BTreeMap<String, IpAddr>,
    /// Whether the gate forwards branch deletions and non-fast-forward
    /// updates (default: refused).
    pub allow_force_push: bool,
    /// Whether the gate holds each push for the operator's approval before
    /// it goes upstream (default: pushes that pass the checks go at once).
    pub review_pushes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Git {
    pub user: GitUser,
    /// Keyed by upstream host, lower-cased.
    pub remotes: BTreeMap<String, Remote>,
}

/// An environment value for the agent, as the manifest wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `${HOST_VAR}` references, filled from the host at launch.
    Interpolated {
        template: String,
        refs: Vec<String>,
    },
    /// `?message`: asked of the operator at launch.
    Ask(String),
}

/// A bottle with `extends:` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bottle {
    pub name: String,
    pub path: PathBuf,
    /// Parents, nearest first.
    pub extends: Vec<String>,
    pub env: BTreeMap<String, EnvValue>,
    pub provider: Provider,
    /// Legacy `agent_provider.auth_token`: sugar for a claude_code_oauth route.
    pub legacy_auth_token: Option<String>,
    pub git: Git,
    pub egress: Egress,
    pub supervise: bool,
    pub limits: Limits,
    /// The engine its bottles run on (a name config.yaml gives), when it
    /// pins one.
    pub engine: Option<String>,
}

/// Where an agent file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Home,
    Repo,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Home => "home",
            Source::Repo => "repo",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub name: String,
    pub path: PathBuf,
    pub source: Source,
    pub bottle: String,
    pub skills: Vec<String>,
    pub git_user: GitUser,
    /// The Markdown body, trimmed: the agent's system prompt.
    pub prompt: String,
}
