//! What the sidecar bundle is given: the egress and git-gate configs
//! rendered from the plan, the extra upstream roots, and the secrets,
//! handed to its init on stdin rather than put in its container config.

use bb_contract::egress::RefreshConfig;
use bb_contract::egress::{AuthConfig, Config as EgressConfig, DlpConfig, RouteConfig};
use bb_contract::gate::{GateConfig, RemoteConfig};

use super::launch::LaunchError;
use super::names::EGRESS_PORT;
use crate::plan::{provider, BottlePlan};

/// The env var of the bundle holding a remote's SSH key.
pub fn gate_key_env(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BB_GIT_KEY_{clean}")
}

/// The git gate's config: one mirror per remote, its key by env name and
/// its pinned host key.
pub fn gate_config(plan: &BottlePlan) -> GateConfig {
    let remotes = plan
        .remotes
        .iter()
        .map(|r| {
            let host = if r.port == 22 {
                r.host.clone()
            } else {
                format!("[{}]:{}", r.host, r.port)
            };
            RemoteConfig {
                name: r.name.clone(),
                upstream: r.upstream.clone(),
                identity_env: r.identity_file.as_ref().map(|_| gate_key_env(&r.name)),
                known_host: r.known_host_key.as_ref().map(|k| format!("{host} {k}")),
                allow_force_push: r.allow_force_push,
                review_pushes: r.review_pushes,
            }
        })
        .collect();
    GateConfig {
        listen: format!("0.0.0.0:{}", crate::plan::GIT_HTTP_PORT),
        // The gate's own home: no other daemon can read or change a mirror.
        repos_dir: "/var/lib/bb-gate/git".into(),
        remotes,
        hook_binary: None,
        push_bytes: GateConfig::DEFAULT_PUSH_BYTES,
        bip39: plan.bip39,
        // The state dir's queue, where supervise files proposals too.
        queue: Some("/var/lib/bb/proposals".into()),
    }
}

/// The env var (of egress alone) holding the bottle CA's private key.
pub const CA_KEY_ENV: &str = "BB_CA_KEY";

/// The bundle's tmpfs for what its daemons must write but no disk may hold.
pub const RUNTIME_DIR: &str = "/run/bb";

/// Write the secrets to the bundle's init as one JSON line, then close its
/// stdin.
pub async fn hand_over_secrets(
    mut attached: bollard::container::AttachContainerResults,
    secrets: &std::collections::BTreeMap<&str, &str>,
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut line = serde_json::to_vec(secrets).map_err(|e| e.to_string())?;
    line.push(b'\n');
    attached
        .input
        .write_all(&line)
        .await
        .map_err(|e| e.to_string())?;
    attached.input.flush().await.map_err(|e| e.to_string())?;
    attached.input.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Where the bundle keeps the extra upstream roots (config.yaml `upstream_ca`).
pub const UPSTREAM_CA_GUEST: &str = "/etc/bb/upstream-ca.pem";

/// The extra upstream roots, read from the user's files as one PEM bundle;
/// a file that is missing or holds no certificate is an error naming it.
pub fn upstream_ca_bundle(plan: &BottlePlan) -> Result<Option<String>, LaunchError> {
    if plan.upstream_ca.is_empty() {
        return Ok(None);
    }
    let mut bundle = String::new();
    for path in &plan.upstream_ca {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LaunchError::Blocked(format!(
                "config.yaml upstream_ca: cannot read {}: {e}",
                path.display()
            ))
        })?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(LaunchError::Blocked(format!(
                "config.yaml upstream_ca: {} holds no PEM certificate",
                path.display()
            )));
        }
        bundle.push_str(text.trim_end());
        bundle.push('\n');
    }
    Ok(Some(bundle))
}

/// The egress daemon's config: routes, and for credentialed ones the env
/// variable of the bundle that holds the token (never the token itself).
pub fn egress_config(plan: &BottlePlan) -> EgressConfig {
    EgressConfig {
        listen: format!("0.0.0.0:{EGRESS_PORT}"),
        routes: plan.routes.iter().map(|r| manifest_route(r)).collect(),
        ca_cert: "/etc/bb/ca.crt".into(),
        ca_key: None,
        ca_key_env: Some(CA_KEY_ENV.into()),
        audit_log: Some("/var/lib/bb/audit.jsonl".into()),
        upstream_ca: (!plan.upstream_ca.is_empty()).then(|| UPSTREAM_CA_GUEST.into()),
        limits: Default::default(),
        dlp: DlpConfig { bip39: plan.bip39 },
        token_refresh: plan
            .token_endpoint
            .iter()
            .map(|t| RefreshConfig {
                host: t.host.to_string(),
                path: t.path.to_string(),
                access_env: t.access_ref.to_string(),
                refresh_env: t.refresh_ref.to_string(),
                placeholder: provider::OAUTH_PLACEHOLDER.into(),
            })
            .collect(),
    }
}

/// One route as egress reads it (a plan's, or an operator's live edit).
fn route_config(
    host: &str,
    paths: &[String],
    auth: Option<&crate::manifest::RouteAuth>,
    tls_passthrough: bool,
    ssrf_ip_allowlist: &[String],
    ports: &[u16],
) -> RouteConfig {
    RouteConfig {
        host: host.to_string(),
        path_allowlist: paths.to_vec(),
        auth: auth.map(|a| AuthConfig {
            scheme: a.scheme.as_str().into(),
            token_env: a.token_ref.clone(),
        }),
        tls_passthrough,
        ssrf_ip_allowlist: ssrf_ip_allowlist.to_vec(),
        ports: ports.to_vec(),
    }
}

/// A route (planned, or an operator's live edit) as egress reads it.
pub fn manifest_route(r: &crate::manifest::Route) -> RouteConfig {
    route_config(
        &r.host,
        &r.path_allowlist,
        r.auth.as_ref(),
        r.tls_passthrough,
        &r.ssrf_ip_allowlist,
        &r.ports,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bb writes for each starter bottle is what egress loads.
    #[test]
    fn egress_loads_the_config_bb_writes() {
        for starter in ["claude", "codex"] {
            let dir = tempfile::tempdir().unwrap();
            for (path, text) in crate::firstrun::STARTERS {
                let p = dir.path().join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            let m = crate::manifest::load(&crate::manifest::Layout {
                home: dir.path().into(),
                repo: None,
            });
            let (agent, bottle) = m
                .agents
                .values()
                .find(|a| a.bottle == starter)
                .map(|a| (a, &m.bottles[&a.bottle]))
                .unwrap();
            let plan = crate::plan::resolve(
                agent,
                bottle,
                &crate::plan::FixedHost::default(),
                crate::plan::BackendKind::Docker,
                "x",
            );
            let text = serde_json::to_string_pretty(&egress_config(&plan)).unwrap();
            let loaded = EgressConfig::parse(&text, std::path::Path::new("egress.json"))
                .unwrap_or_else(|e| panic!("{starter}: {e}\n{text}"));
            assert_eq!(loaded.routes.len(), plan.routes.len());
            assert_eq!(
                loaded.token_refresh.len(),
                plan.token_endpoint.iter().count()
            );
            assert_eq!(loaded.ca_key_env.as_deref(), Some(CA_KEY_ENV));
            let gate = serde_json::to_string(&gate_config(&plan)).unwrap();
            serde_json::from_str::<GateConfig>(&gate).unwrap();
        }
    }
}
