//! What a launch gives the agent's container: the host's values it reads
//! (secrets and gate keys for the bundle alone), the agent's environment,
//! its files and its skills.

use std::collections::HashMap;
use std::path::Path;

use super::bundle::gate_key_env;
use super::context::{self, Entry};
use super::launch::{LaunchError, NODE_UID};
use super::names::{EGRESS_PORT, SIDECAR_ALIAS};
use super::trust::{CA_BUNDLE, CA_GUEST};
use crate::backend::Progress;
use crate::manifest::EnvValue;
use crate::plan::{provider, BottlePlan, PlannedValue, SecretOrigin, SecretSources};

/// Host-side values launch needs: secret values (never in the plan) and
/// the host's env for `${VAR}` references.
pub struct HostValues {
    /// Route tokens, for egress alone.
    pub secrets: Vec<(String, String)>,
    /// SSH keys of git remotes, for the git gate alone.
    pub gate_keys: Vec<(String, String)>,
    pub env: HashMap<String, String>,
    pub codex_auth: Option<serde_json::Value>,
    pub user_home: std::path::PathBuf,
}

impl HostValues {
    /// Read what `plan` needs from this machine's environment and files.
    pub fn read(plan: &BottlePlan, user_home: &Path) -> HostValues {
        HostValues::from_sources(&SecretSources::of(plan), user_home)
    }

    /// Read the secrets `sources` names, as they are on this machine now.
    pub fn from_sources(sources: &SecretSources, user_home: &Path) -> HostValues {
        let env: HashMap<String, String> = std::env::vars().collect();
        let codex_auth = std::fs::read_to_string(
            std::env::var_os("CODEX_HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| user_home.join(".codex"))
                .join("auth.json"),
        )
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let mut secrets = Vec::new();
        for (name, origin) in &sources.tokens {
            let value = match origin {
                SecretOrigin::Env => env.get(name).cloned(),
                SecretOrigin::CodexLogin => crate::system::codex_token(
                    user_home,
                    crate::plan::provider::codex_login_field(name),
                ),
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                secrets.push((name.clone(), v));
            }
        }
        let gate_keys = sources
            .gate_keys
            .iter()
            .filter_map(|(remote, file)| {
                let key = std::fs::read_to_string(file).ok()?;
                Some((gate_key_env(remote), key))
            })
            .collect();
        HostValues {
            secrets,
            gate_keys,
            env,
            codex_auth,
            user_home: user_home.to_path_buf(),
        }
    }
}

/// The agent's environment: manifest and provider values, the proxy, and
/// the bottle CA for every TLS stack the images carry.
pub(crate) fn agent_env(plan: &BottlePlan, host: &HostValues, progress: &Progress) -> Vec<String> {
    let proxy = format!("http://{SIDECAR_ALIAS}:{EGRESS_PORT}");
    let mut env = vec![
        format!("HTTP_PROXY={proxy}"),
        format!("HTTPS_PROXY={proxy}"),
        format!("http_proxy={proxy}"),
        format!("https_proxy={proxy}"),
        format!("ALL_PROXY={proxy}"),
        format!("NO_PROXY=localhost,127.0.0.1,{SIDECAR_ALIAS}"),
        format!("no_proxy=localhost,127.0.0.1,{SIDECAR_ALIAS}"),
        format!("NODE_EXTRA_CA_CERTS={CA_BUNDLE}"),
        format!("SSL_CERT_FILE={CA_BUNDLE}"),
        format!("REQUESTS_CA_BUNDLE={CA_BUNDLE}"),
        format!("GIT_SSL_CAINFO={CA_BUNDLE}"),
        "TERM=xterm-256color".to_string(),
        "COLORTERM=truecolor".to_string(),
    ];
    for e in &plan.env {
        let value = match &e.value {
            PlannedValue::Provider(v) => v.clone(),
            PlannedValue::Manifest(EnvValue::Literal(v)) => v.clone(),
            PlannedValue::Manifest(EnvValue::Interpolated { template, refs }) => {
                let mut v = template.clone();
                for r in refs {
                    v = v.replace(
                        &format!("${{{r}}}"),
                        host.env.get(r).map(String::as_str).unwrap_or(""),
                    );
                }
                v
            }
            PlannedValue::Manifest(EnvValue::Ask(question)) => {
                let _ = progress.send(format!("env {} is asked at launch (\"{question}\"); set it in the manifest to give it a value", e.name).into());
                String::new()
            }
        };
        env.push(format!("{}={value}", e.name));
    }
    env
}

/// The plan's skills, each an archive of its folder under the agent's
/// `~/.claude/skills/`, owned by the agent's user.
pub(crate) fn skill_archives(plan: &BottlePlan) -> Result<Vec<Vec<u8>>, LaunchError> {
    plan.skills
        .iter()
        .map(|skill| {
            let rel = format!(".claude/skills/{}", skill.name);
            context::archive_dir_in(
                &skill.host_path,
                provider::GUEST_HOME,
                &rel,
                NODE_UID,
                NODE_UID,
            )
            .map_err(|e| LaunchError::State(format!("skill {}: {e}", skill.name)))
        })
        .collect()
}

pub(crate) fn agent_files(plan: &BottlePlan, host: &HostValues, ca_pem: &str) -> Vec<Entry> {
    let home = provider::GUEST_HOME;
    let mut files = vec![
        Entry::new(CA_GUEST, ca_pem, 0o644),
        Entry::new(provider::PROMPT_PATH, plan.prompt.clone(), 0o600).owned(NODE_UID, NODE_UID),
        Entry::new(
            format!("{home}/.gitconfig"),
            crate::plan::gitconfig(&plan.identity, &plan.remotes),
            0o644,
        )
        .owned(NODE_UID, NODE_UID),
    ];
    for (path, text) in provider::guest_files(
        plan.template,
        plan.workdir(),
        plan.daemons.contains(&crate::plan::Daemon::Supervise),
    ) {
        files.push(Entry::new(path, text, 0o600).owned(NODE_UID, NODE_UID));
    }
    if plan
        .secrets
        .iter()
        .any(|s| s.origin == SecretOrigin::CodexLogin)
    {
        if let Some(auth) = &host.codex_auth {
            let dummy = provider::codex_dummy_auth(auth);
            files.push(
                Entry::new(
                    format!("{home}/.codex/auth.json"),
                    serde_json::to_string_pretty(&dummy).unwrap_or_default(),
                    0o600,
                )
                .owned(NODE_UID, NODE_UID),
            );
        }
    }
    files
}
