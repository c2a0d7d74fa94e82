//! The preflight JSON contract, version 2 (1 had `image.reference`, a tag;
//! images are now tagged by content at build). These structs are the contract:
//! they are separate from the plan's own types so the plan can change
//! without breaking scripts. Add fields freely; removing or renaming one
//! needs a new version.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{BottlePlan, Dockerfile, FieldSource, Handling, SecretOrigin};

pub const JSON_VERSION: u32 = 2;

#[derive(Debug, Serialize)]
pub struct Preflight {
    pub version: u32,
    pub agent: AgentJson,
    pub bottle: BottleJson,
    pub provider: String,
    pub backend: String,
    /// The Docker engine it would run on, by name; null: the default one.
    pub engine: Option<String>,
    pub image: ImageJson,
    pub command: CommandJson,
    pub prompt: PromptJson,
    pub egress: EgressJson,
    pub git: GitJson,
    pub env: EnvJson,
    pub secrets: Vec<SecretJson>,
    /// The agent container's ceilings: `{memory_mb, pids}`.
    pub limits: crate::manifest::Limits,
    pub skills: Vec<SkillJson>,
    pub sidecars: Vec<String>,
    /// The directory copied into the bottle, or null.
    pub workspace: Option<WorkspaceJson>,
    /// Why no directory is copied, when bb refused the one it ran from.
    pub workspace_refused: Option<String>,
    /// Why launch would fail now; empty when it can go ahead.
    pub blockers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AgentJson {
    pub name: String,
    pub source: String,
    pub path: String,
}

#[derive(Debug, Serialize)]
pub struct BottleJson {
    pub name: String,
    pub path: String,
    pub extends: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ImageJson {
    /// The image's repository; each build is tagged with its content hash.
    pub repository: String,
    /// `images/<name>` for bb's own Dockerfiles, else the custom path.
    pub dockerfile: String,
    pub custom: bool,
}

#[derive(Debug, Serialize)]
pub struct CommandJson {
    pub fresh: Vec<String>,
    pub resume: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PromptJson {
    pub lines: usize,
    pub first_line: String,
}

#[derive(Debug, Serialize)]
pub struct EgressJson {
    pub routes: Vec<RouteJson>,
    pub tls_interception: TlsJson,
    /// Whether BIP-39 seed phrases are also refused.
    pub dlp_bip39: bool,
    /// Extra CA files egress trusts for upstreams (config.yaml upstream_ca).
    pub upstream_ca: Vec<String>,
    /// The provider token endpoint egress answers for the agent, if any.
    pub token_refresh: Option<TokenRefreshJson>,
}

#[derive(Debug, Serialize)]
pub struct TokenRefreshJson {
    pub host: String,
    pub path: String,
    pub refresh_token_ref: String,
}

#[derive(Debug, Serialize)]
pub struct RouteJson {
    pub host: String,
    pub path_allowlist: Vec<String>,
    pub auth: Option<AuthJson>,
    pub role: Option<String>,
    pub credentialed: bool,
    pub tls_passthrough: bool,
    /// What egress does: "tunnel" (only the SNI is checked) or "intercept".
    pub handling: String,
    /// Whether request bodies are DLP-scanned (false on tunnels).
    pub body_scanned: bool,
    /// Whether egress injects the route's credential.
    pub credential_injected: bool,
    /// Ports the agent may reach the host on.
    pub ports: Vec<u16>,
    pub ssrf_ip_allowlist: Vec<String>,
    /// provider, bottle or allowlist.
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct AuthJson {
    pub scheme: String,
    pub token_ref: String,
}

#[derive(Debug, Serialize)]
pub struct TlsJson {
    pub enabled: bool,
    /// The bottle CA's SHA-256 fingerprint; null before launch, since the
    /// CA is minted at launch.
    pub ca_fingerprint: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GitJson {
    pub identity: IdentityJson,
    pub remotes: Vec<RemoteJson>,
}

#[derive(Debug, Serialize)]
pub struct IdentityJson {
    pub name: Option<SourcedJson>,
    pub email: Option<SourcedJson>,
}

#[derive(Debug, Serialize)]
pub struct SourcedJson {
    pub value: String,
    /// agent or bottle.
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct RemoteJson {
    pub name: String,
    pub upstream: String,
    pub identity_file: Option<String>,
    pub identity_file_present: bool,
    pub known_host_key_pinned: bool,
    pub extra_hosts: BTreeMap<String, String>,
    /// Whether the gate forwards deletions and non-fast-forward pushes.
    pub allow_force_push: bool,
    pub review_pushes: bool,
    pub gate_url: String,
    pub instead_of: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct EnvJson {
    /// Variables the agent gets, placeholders for credentials left out.
    pub names: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SecretJson {
    pub name: String,
    /// env or codex_login.
    pub origin: String,
    pub present: bool,
    pub used_by: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct WorkspaceJson {
    pub source: String,
    pub bytes: u64,
    pub files: u64,
    pub guest_path: String,
    /// Its repository, when it is one: the bottle gets a clone.
    pub git: Option<RepoJson>,
    /// Credentials that stay behind: in the repository's config, and
    /// credential stores not copied.
    pub left_behind: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RepoJson {
    pub branch: Option<String>,
    pub head: Option<String>,
    pub dirty: bool,
    pub remotes: Vec<RepoRemoteJson>,
}

#[derive(Debug, Serialize)]
pub struct RepoRemoteJson {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct SkillJson {
    pub name: String,
    pub present: bool,
}

impl Preflight {
    pub fn new(plan: &BottlePlan) -> Preflight {
        let sourced = |f: &Option<crate::plan::Sourced>| {
            f.as_ref().map(|s| SourcedJson {
                value: s.value.clone(),
                source: match s.source {
                    FieldSource::Agent => "agent".into(),
                    FieldSource::Bottle => "bottle".into(),
                },
            })
        };
        let (dockerfile, custom) = match &plan.image.dockerfile {
            Dockerfile::Builtin { name } => (format!("images/{name}"), false),
            Dockerfile::Custom { path, .. } => (path.display().to_string(), true),
        };
        Preflight {
            version: JSON_VERSION,
            agent: AgentJson {
                name: plan.agent.clone(),
                source: plan.agent_source.as_str().into(),
                path: plan.agent_path.display().to_string(),
            },
            bottle: BottleJson {
                name: plan.bottle.clone(),
                path: plan.bottle_path.display().to_string(),
                extends: plan.extends.clone(),
            },
            provider: plan.template.name().into(),
            backend: plan.backend.name().into(),
            engine: plan.engine.clone(),
            image: ImageJson {
                repository: plan.image.repository.clone(),
                dockerfile,
                custom,
            },
            command: CommandJson {
                fresh: plan.commands.fresh.clone(),
                resume: plan.commands.resume.clone(),
            },
            prompt: PromptJson {
                lines: plan.prompt.lines().count(),
                first_line: plan.prompt.lines().next().unwrap_or("").to_string(),
            },
            egress: EgressJson {
                routes: plan
                    .routes
                    .iter()
                    .map(|r| RouteJson {
                        host: r.host.clone(),
                        path_allowlist: r.path_allowlist.clone(),
                        auth: r.auth.as_ref().map(|a| AuthJson {
                            scheme: a.scheme.as_str().into(),
                            token_ref: a.token_ref.clone(),
                        }),
                        role: r.role.map(|r| r.as_str().into()),
                        credentialed: r.credentialed(),
                        tls_passthrough: r.tls_passthrough,
                        handling: match r.handling() {
                            Handling::Tunnel => "tunnel".into(),
                            Handling::Intercept { .. } => "intercept".into(),
                        },
                        body_scanned: r.handling() == (Handling::Intercept { scan_body: true }),
                        credential_injected: r.credentialed() && r.handling() != Handling::Tunnel,
                        ports: if r.ports.is_empty() {
                            crate::manifest::DEFAULT_PORTS.to_vec()
                        } else {
                            r.ports.clone()
                        },
                        ssrf_ip_allowlist: r.ssrf_ip_allowlist.clone(),
                        source: serde_json::to_value(r.source)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                    })
                    .collect(),
                tls_interception: TlsJson {
                    enabled: true,
                    ca_fingerprint: None,
                },
                dlp_bip39: plan.bip39,
                upstream_ca: plan
                    .upstream_ca
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                token_refresh: plan.token_endpoint.as_ref().map(|t| TokenRefreshJson {
                    host: t.host.into(),
                    path: t.path.into(),
                    refresh_token_ref: t.refresh_ref.into(),
                }),
            },
            git: GitJson {
                identity: IdentityJson {
                    name: sourced(&plan.identity.name),
                    email: sourced(&plan.identity.email),
                },
                remotes: plan
                    .remotes
                    .iter()
                    .map(|r| RemoteJson {
                        name: r.name.clone(),
                        upstream: r.upstream.clone(),
                        identity_file: r.identity_file.as_ref().map(|p| p.display().to_string()),
                        identity_file_present: r.identity_file_present,
                        known_host_key_pinned: r.known_host_key.is_some(),
                        extra_hosts: r
                            .extra_hosts
                            .iter()
                            .map(|(h, ip)| (h.clone(), ip.to_string()))
                            .collect(),
                        allow_force_push: r.allow_force_push,
                        review_pushes: r.review_pushes,
                        gate_url: r.gate_url.clone(),
                        instead_of: r.instead_of.clone(),
                    })
                    .collect(),
            },
            env: EnvJson {
                names: plan.visible_env().into_iter().map(String::from).collect(),
            },
            limits: plan.limits,
            secrets: plan
                .secrets
                .iter()
                .map(|s| SecretJson {
                    name: s.name.clone(),
                    origin: match s.origin {
                        SecretOrigin::Env => "env".into(),
                        SecretOrigin::CodexLogin => "codex_login".into(),
                    },
                    present: s.present,
                    used_by: s.used_by.clone(),
                })
                .collect(),
            skills: plan
                .skills
                .iter()
                .map(|s| SkillJson {
                    name: s.name.clone(),
                    present: s.present,
                })
                .collect(),
            sidecars: plan.daemons.iter().map(|d| d.name().to_string()).collect(),
            workspace: plan.workspace.as_ref().map(|w| WorkspaceJson {
                source: w.source.display().to_string(),
                bytes: w.bytes,
                files: w.files,
                guest_path: crate::workspace::GUEST_WORKSPACE.to_string(),
                git: w.git.as_ref().map(|g| RepoJson {
                    branch: g.branch.clone(),
                    head: g.head.clone(),
                    dirty: g.dirty,
                    remotes: g
                        .remotes
                        .iter()
                        .map(|(name, url)| RepoRemoteJson {
                            name: name.clone(),
                            url: url.clone(),
                        })
                        .collect(),
                }),
                left_behind: w
                    .git
                    .iter()
                    .flat_map(|g| g.removed.iter().cloned())
                    .chain(
                        w.left_out
                            .iter()
                            .map(|f| format!("{} (not copied)", f.display())),
                    )
                    .collect(),
            }),
            workspace_refused: plan.workspace_refused.clone(),
            blockers: plan.blockers().iter().map(|b| b.to_string()).collect(),
        }
    }
}

/// The plan as pretty-printed JSON.
pub fn to_json(plan: &BottlePlan) -> String {
    // Serializing plain structs of strings, lists and maps cannot fail.
    serde_json::to_string_pretty(&Preflight::new(plan))
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
}
