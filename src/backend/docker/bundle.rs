//! What the sidecar bundle is given: the egress and git-gate configs
//! rendered from the plan, the extra upstream roots, and the secrets,
//! handed to its init on stdin rather than put in its container config.

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
pub fn gate_config(plan: &BottlePlan) -> serde_json::Value {
    let remotes: Vec<serde_json::Value> = plan
        .remotes
        .iter()
        .map(|r| {
            let host = if r.port == 22 {
                r.host.clone()
            } else {
                format!("[{}]:{}", r.host, r.port)
            };
            serde_json::json!({
                "name": r.name,
                "upstream": r.upstream,
                "identity_env": r.identity_file.as_ref().map(|_| gate_key_env(&r.name)),
                "known_host": r.known_host_key.as_ref().map(|k| format!("{host} {k}")),
                "allow_force_push": r.allow_force_push,
            })
        })
        .collect();
    serde_json::json!({
        "listen": format!("0.0.0.0:{}", crate::plan::GIT_HTTP_PORT),
        // The gate's own home: no other daemon can read or change a mirror.
        "repos_dir": "/var/lib/bb-gate/git",
        "bip39": plan.bip39,
        "remotes": remotes,
    })
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
pub fn egress_config(plan: &BottlePlan) -> serde_json::Value {
    let routes: Vec<serde_json::Value> = plan
        .routes
        .iter()
        .map(|r| {
            serde_json::json!({
                "host": r.host,
                "path_allowlist": r.path_allowlist,
                "auth": r.auth.as_ref().map(|a| serde_json::json!({"scheme": a.scheme.as_str(), "token_env": a.token_ref})),
                "tls_passthrough": r.tls_passthrough,
                "ssrf_ip_allowlist": r.ssrf_ip_allowlist,
                "ports": r.ports,
            })
        })
        .collect();
    serde_json::json!({
        "listen": format!("0.0.0.0:{EGRESS_PORT}"),
        "routes": routes,
        "ca_cert": "/etc/bb/ca.crt",
        "ca_key_env": CA_KEY_ENV,
        "audit_log": "/var/lib/bb/audit.jsonl",
        "upstream_ca": (!plan.upstream_ca.is_empty()).then_some(UPSTREAM_CA_GUEST),
        "dlp": {"bip39": plan.bip39},
        "token_refresh": plan.token_endpoint.iter().map(|t| serde_json::json!({
            "host": t.host,
            "path": t.path,
            "access_env": t.access_ref,
            "refresh_env": t.refresh_ref,
            "placeholder": provider::OAUTH_PLACEHOLDER,
        })).collect::<Vec<_>>(),
    })
}
