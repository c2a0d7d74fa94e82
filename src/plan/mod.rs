//! Resolving an agent, its bottle and its provider template into the plan
//! a person reviews before launch. Pure: the same manifest and host give the
//! same plan (the slug's random suffix aside, which the caller passes in).

mod egress;
mod git;
mod host;
pub mod provider;
mod slug;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use egress::{Handling, PlannedRoute, RouteSource};
pub use git::{
    gitconfig, identity as git_identity, FieldSource, GateRemote, Identity, Sourced, GIT_HTTP_PORT,
    SIDECAR_HOST,
};
pub use host::{expand_path, skill_dir, FixedHost, Host};
pub use slug::{random_suffix, slug};

use crate::manifest::{Agent, Bottle, EnvValue, Role, Source, Template};
use provider::{runtime, CODEX_HOST_TOKEN_REF, OAUTH_PLACEHOLDER};

/// The sidecar bundle's image repository (bb-sidecar and git, from
/// images/); each build is tagged with its content hash.
pub const SIDECAR_IMAGE: &str = "bb-sidecars";

/// Where a bottle's agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Docker,
    Smolmachines,
    /// Local programs in a PTY: for bb's own tests only, never offered.
    Local,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Smolmachines => "smolmachines",
            BackendKind::Local => "local",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dockerfile {
    /// One of bb's own, under images/ and embedded in the binary.
    Builtin {
        name: String,
    },
    Custom {
        path: PathBuf,
        present: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub repository: String,
    pub dockerfile: Dockerfile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commands {
    /// A fresh session.
    pub fresh: Vec<String>,
    /// Continuing the last session; bb falls back to `fresh` when there is
    /// nothing to continue.
    pub resume: Vec<String>,
    /// A shell test that holds when there is a conversation to continue.
    pub history: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvEntry {
    pub name: String,
    #[serde(skip)]
    pub value: PlannedValue,
    /// Placeholders stand in for credentials the proxy injects; they are
    /// not shown, so nobody mistakes them for real ones.
    pub hidden: bool,
    /// Host variables the value is built from that the host lacks.
    pub missing_refs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedValue {
    Manifest(EnvValue),
    Provider(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretOrigin {
    /// A host environment variable.
    Env,
    /// The host's Codex login (`~/.codex/auth.json`).
    CodexLogin,
}

/// Where a bottle's secrets are read from on this machine (never their
/// values): read at launch, and again when its sidecar bundle restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSources {
    /// Route tokens, for egress: name and where it comes from.
    pub tokens: Vec<(String, SecretOrigin)>,
    /// Git remotes' SSH keys, for the gate: remote name and key file.
    pub gate_keys: Vec<(String, PathBuf)>,
}

impl SecretSources {
    pub fn of(plan: &BottlePlan) -> SecretSources {
        SecretSources {
            tokens: plan
                .secrets
                .iter()
                .map(|s| (s.name.clone(), s.origin))
                .collect(),
            gate_keys: plan
                .remotes
                .iter()
                .filter_map(|r| Some((r.name.clone(), r.identity_file.clone()?)))
                .collect(),
        }
    }
}

/// A credential the egress proxy holds for the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    pub origin: SecretOrigin,
    pub present: bool,
    /// Hosts whose requests carry it.
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skill {
    pub name: String,
    pub host_path: PathBuf,
    pub present: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Daemon {
    Egress,
    GitGate,
    Supervise,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Egress => "egress",
            Daemon::GitGate => "git-gate",
            Daemon::Supervise => "supervise",
        }
    }
}

/// Everything bb will make for one bottle, before anything is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BottlePlan {
    pub slug: String,
    pub agent: String,
    pub agent_source: Source,
    pub agent_path: PathBuf,
    pub bottle: String,
    pub bottle_path: PathBuf,
    /// The bottle's parents, nearest first.
    pub extends: Vec<String>,
    pub template: Template,
    pub backend: BackendKind,
    pub image: Image,
    pub commands: Commands,
    pub prompt: String,
    pub routes: Vec<PlannedRoute>,
    pub identity: Identity,
    pub remotes: Vec<GateRemote>,
    pub env: Vec<EnvEntry>,
    pub secrets: Vec<Secret>,
    pub skills: Vec<Skill>,
    pub daemons: Vec<Daemon>,
    /// The user's code copied in, if any.
    pub workspace: Option<crate::workspace::Workspace>,
    /// Why no directory is copied, when bb refused the one it was run from.
    pub workspace_refused: Option<String>,
    /// Also look for BIP-39 seed phrases in what leaves.
    pub bip39: bool,
    /// The agent container's memory and process ceilings.
    pub limits: crate::manifest::Limits,
    /// The engine to run on, by name (the bottle's `engine:`, or `bb start
    /// --engine`); None: the default one.
    pub engine: Option<String>,
    /// The provider's token endpoint egress answers for the agent.
    pub token_endpoint: Option<provider::TokenEndpoint>,
    /// Extra roots egress trusts for upstream TLS (config.yaml
    /// `upstream_ca`), beside the system's.
    pub upstream_ca: Vec<PathBuf>,
}

impl BottlePlan {
    /// Have egress also trust these CA files for upstreams.
    pub fn with_upstream_ca(mut self, files: Vec<PathBuf>) -> BottlePlan {
        self.upstream_ca = files;
        self
    }

    /// Copy `ws` into the bottle as the session's working directory.
    pub fn with_workspace(mut self, ws: crate::workspace::Workspace) -> BottlePlan {
        self.workspace = Some(ws);
        self
    }

    /// No workspace, and why (shown in the preflight).
    pub fn without_workspace(mut self, why: &crate::workspace::NotCopied) -> BottlePlan {
        self.workspace = None;
        self.workspace_refused = Some(why.to_string());
        self
    }

    /// Env values the manifest asks the operator for at launch: (name,
    /// question), in order.
    pub fn questions(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter_map(|e| match &e.value {
                PlannedValue::Manifest(EnvValue::Ask(q)) => Some((e.name.clone(), q.clone())),
                _ => None,
            })
            .collect()
    }

    /// Fill an asked value with the operator's answer.
    pub fn answer(&mut self, name: &str, value: String) {
        if let Some(e) = self.env.iter_mut().find(|e| e.name == name) {
            e.value = PlannedValue::Manifest(EnvValue::Literal(value));
        }
    }

    /// The session's working directory inside the bottle.
    pub fn workdir(&self) -> &'static str {
        if self.workspace.is_some() {
            crate::workspace::GUEST_WORKSPACE
        } else {
            provider::GUEST_HOME
        }
    }
}

/// Resolve one agent into a plan.
pub fn resolve(
    agent: &Agent,
    bottle: &Bottle,
    host: &dyn Host,
    backend: BackendKind,
    suffix: &str,
) -> BottlePlan {
    let rt = runtime(bottle.provider.template);
    let has_prompt = !agent.prompt.is_empty();
    let image = match &bottle.provider.dockerfile {
        None => Image {
            repository: rt.image.to_string(),
            dockerfile: Dockerfile::Builtin {
                name: rt.dockerfile.to_string(),
            },
        },
        Some(raw) => {
            let path = expand_path(host, raw);
            Image {
                repository: format!("bb-agent-{}", bottle.name),
                dockerfile: Dockerfile::Custom {
                    present: host.file_exists(&path),
                    path,
                },
            }
        }
    };
    let routes = egress::effective_routes(bottle);
    let token_endpoint = egress::token_endpoint(bottle, &routes);
    let mut secrets = secrets(&routes, host);
    if let Some(t) = &token_endpoint {
        secrets.push(Secret {
            name: t.refresh_ref.to_string(),
            origin: SecretOrigin::CodexLogin,
            present: host.has_codex_login(),
            used_by: vec![t.host.to_string()],
        });
    }
    let remotes = git::gate_remotes(bottle, host);

    let mut env: Vec<EnvEntry> = bottle
        .env
        .iter()
        .map(|(name, value)| EnvEntry {
            name: name.clone(),
            missing_refs: match value {
                EnvValue::Interpolated { refs, .. } => {
                    refs.iter().filter(|r| !host.has_env(r)).cloned().collect()
                }
                _ => Vec::new(),
            },
            value: PlannedValue::Manifest(value.clone()),
            hidden: false,
        })
        .collect();
    let mut provider_env: Vec<(String, String, bool)> = rt
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v, false))
        .collect();
    if routes
        .iter()
        .any(|r| r.role == Some(Role::ClaudeCodeOauth) && r.auth.is_some())
    {
        // Claude Code will not start without a token; the proxy swaps this
        // placeholder for the real one on the way out.
        provider_env.push((
            "CLAUDE_CODE_OAUTH_TOKEN".into(),
            OAUTH_PLACEHOLDER.into(),
            true,
        ));
    }
    for (name, value, hidden) in provider_env {
        // The manifest wins on a clash.
        if !env.iter().any(|e| e.name == name) {
            env.push(EnvEntry {
                name,
                value: PlannedValue::Provider(value),
                hidden,
                missing_refs: Vec::new(),
            });
        }
    }
    env.sort_by(|a, b| a.name.cmp(&b.name));

    let mut daemons = vec![Daemon::Egress];
    if !remotes.is_empty() {
        daemons.push(Daemon::GitGate);
    }
    if bottle.supervise {
        daemons.push(Daemon::Supervise);
    }

    BottlePlan {
        slug: slug(&agent.name, suffix),
        agent: agent.name.clone(),
        agent_source: agent.source,
        agent_path: agent.path.clone(),
        bottle: bottle.name.clone(),
        bottle_path: bottle.path.clone(),
        extends: bottle.extends.clone(),
        template: bottle.provider.template,
        backend,
        image,
        commands: Commands {
            fresh: rt.argv(has_prompt, false),
            resume: rt.argv(has_prompt, true),
            history: Some(rt.history_check.to_string()),
        },
        prompt: agent.prompt.clone(),
        routes,
        identity: git::identity(agent, bottle),
        remotes,
        env,
        secrets,
        skills: agent
            .skills
            .iter()
            .map(|name| {
                let host_path = skill_dir(host, name);
                Skill {
                    name: name.clone(),
                    present: host.file_exists(&host_path),
                    host_path,
                }
            })
            .collect(),
        daemons,
        workspace: None,
        workspace_refused: None,
        token_endpoint,
        upstream_ca: Vec::new(),
        limits: bottle.limits,
        bip39: bottle.egress.bip39,
        engine: bottle.engine.clone(),
    }
}

fn secrets(routes: &[PlannedRoute], host: &dyn Host) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    for r in routes {
        let Some(auth) = &r.auth else { continue };
        match out.iter_mut().find(|s| s.name == auth.token_ref) {
            Some(s) => s.used_by.push(r.host.clone()),
            None => {
                let (origin, present) = if auth.token_ref == CODEX_HOST_TOKEN_REF {
                    (SecretOrigin::CodexLogin, host.has_codex_login())
                } else {
                    (SecretOrigin::Env, host.has_env(&auth.token_ref))
                };
                out.push(Secret {
                    name: auth.token_ref.clone(),
                    origin,
                    present,
                    used_by: vec![r.host.clone()],
                });
            }
        }
    }
    out
}

/// Why a plan cannot launch as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocker {
    #[error("secret {0} is not set in the host environment: export it, then launch again")]
    MissingSecret(String),
    #[error("no Codex login on the host (~/.codex/auth.json): run `codex login --device-auth`, then launch again")]
    MissingCodexLogin,
    #[error("env {name} uses ${{{var}}}, which the host environment does not set: export it, then launch again")]
    MissingEnvRef { name: String, var: String },
    #[error("skill {name} is not on the host at {}", path.display())]
    MissingSkill { name: String, path: PathBuf },
    #[error("git remote {name}: IdentityFile {} does not exist", path.display())]
    MissingIdentity { name: String, path: PathBuf },
    #[error("agent_provider.dockerfile {} does not exist", .0.display())]
    MissingDockerfile(PathBuf),
}

impl BottlePlan {
    /// What stops this plan from launching; empty when it can.
    pub fn blockers(&self) -> Vec<Blocker> {
        let mut out = Vec::new();
        for s in self.secrets.iter().filter(|s| !s.present) {
            let b = match s.origin {
                SecretOrigin::Env => Blocker::MissingSecret(s.name.clone()),
                SecretOrigin::CodexLogin => Blocker::MissingCodexLogin,
            };
            // One login holds both Codex tokens: one line for it.
            if !out.contains(&b) {
                out.push(b);
            }
        }
        for e in &self.env {
            for var in &e.missing_refs {
                out.push(Blocker::MissingEnvRef {
                    name: e.name.clone(),
                    var: var.clone(),
                });
            }
        }
        for s in self.skills.iter().filter(|s| !s.present) {
            out.push(Blocker::MissingSkill {
                name: s.name.clone(),
                path: s.host_path.clone(),
            });
        }
        for r in &self.remotes {
            if let (Some(path), false) = (&r.identity_file, r.identity_file_present) {
                out.push(Blocker::MissingIdentity {
                    name: r.name.clone(),
                    path: path.clone(),
                });
            }
        }
        if let Dockerfile::Custom {
            path,
            present: false,
        } = &self.image.dockerfile
        {
            out.push(Blocker::MissingDockerfile(path.clone()));
        }
        out
    }

    /// Names of the env the agent gets, placeholders left out.
    pub fn visible_env(&self) -> Vec<&str> {
        self.env
            .iter()
            .filter(|e| !e.hidden)
            .map(|e| e.name.as_str())
            .collect()
    }

    pub fn tls_intercepts(&self) -> bool {
        self.routes
            .iter()
            .any(|r| r.handling() != egress::Handling::Tunnel)
    }
}

#[cfg(test)]
mod tests;
