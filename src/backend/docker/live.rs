//! Changing a running bottle's egress: the approved route merged into its
//! config, the config copied into the bundle, and egress told to reload
//! (SIGHUP through init; open tunnels stay up).

use std::path::Path;

use bollard::query_parameters::KillContainerOptions;
use bollard::Docker;
use serde_json::{json, Value};

use super::context::{self, Entry};
use super::names::names;
use crate::supervise::proposal::merge_egress;
use crate::supervise::EgressRequest;

/// Merge one request into a rendered egress config: a new host is
/// appended; an existing host gets the union of paths (empty = any path).
/// Credentials and passthrough stay as the operator set them.
pub fn merge_config(config: &mut Value, req: &EgressRequest) {
    let host = req.host.to_ascii_lowercase();
    let routes = config["routes"].as_array_mut();
    let Some(routes) = routes else {
        config["routes"] = json!([{"host": host, "path_allowlist": req.path_allowlist, "auth": null, "tls_passthrough": false, "ssrf_ip_allowlist": []}]);
        return;
    };
    match routes
        .iter_mut()
        .find(|r| r["host"].as_str() == Some(host.as_str()))
    {
        Some(r) => {
            let mut paths: Vec<String> = r["path_allowlist"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if paths.is_empty() || req.path_allowlist.is_empty() {
                paths.clear();
            } else {
                for p in &req.path_allowlist {
                    if !paths.contains(p) {
                        paths.push(p.clone());
                    }
                }
            }
            r["path_allowlist"] = json!(paths);
        }
        None => routes.push(json!({
            "host": host,
            "path_allowlist": req.path_allowlist,
            "auth": null,
            "tls_passthrough": false,
            "ssrf_ip_allowlist": [],
        })),
    }
}

pub async fn apply_egress(
    docker: &Docker,
    home: &Path,
    slug: &str,
    req: &EgressRequest,
) -> Result<(), String> {
    let mut config = read_config(home, slug)?;
    merge_config(&mut config, req);
    apply_config(docker, home, slug, &config).await?;
    if let Some(mut meta) = crate::state::read_metadata(home, slug) {
        meta.routes = merge_egress(&meta.routes, req);
        let _ = crate::state::write_metadata(&crate::state::dir(home, slug), &meta);
    }
    Ok(())
}

/// The bottle's live egress config, as bb last wrote it.
pub fn read_config(home: &Path, slug: &str) -> Result<Value, String> {
    let path = crate::state::dir(home, slug).join("egress.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The live routes in the manifest's shape (every host as a route).
pub fn config_to_egress(config: &Value) -> crate::manifest::Egress {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let routes = config["routes"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| crate::manifest::Route {
                    host: r["host"].as_str().unwrap_or_default().to_string(),
                    path_allowlist: strings(&r["path_allowlist"]),
                    auth: r["auth"]["token_env"]
                        .as_str()
                        .map(|t| crate::manifest::RouteAuth {
                            scheme: if r["auth"]["scheme"] == "token" {
                                crate::manifest::AuthScheme::Token
                            } else {
                                crate::manifest::AuthScheme::Bearer
                            },
                            token_ref: t.to_string(),
                        }),
                    role: None,
                    tls_passthrough: r["tls_passthrough"].as_bool().unwrap_or(false),
                    ssrf_ip_allowlist: strings(&r["ssrf_ip_allowlist"]),
                    ports: r["ports"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    crate::manifest::Egress {
        routes,
        allowlist: Vec::new(),
        bip39: config["dlp"]["bip39"].as_bool().unwrap_or(false),
    }
}

/// Put edited routes into a live config. A credential the bottle was not
/// started with has no value in the bundle, so it is refused.
pub fn egress_into_config(config: &mut Value, e: &crate::manifest::Egress) -> Result<(), String> {
    let known: Vec<String> = config_to_egress(config)
        .routes
        .iter()
        .filter_map(|r| r.auth.as_ref().map(|a| a.token_ref.clone()))
        .collect();
    let mut routes = Vec::new();
    for r in &e.routes {
        if let Some(a) = &r.auth {
            if !known.contains(&a.token_ref) {
                return Err(format!(
                    "{}: token_ref {} is not one this bottle was started with; add it to the bottle's manifest and restart the bottle",
                    r.host, a.token_ref
                ));
            }
        }
        routes.push(json!({
            "host": r.host,
            "path_allowlist": r.path_allowlist,
            "auth": r.auth.as_ref().map(|a| json!({"scheme": a.scheme.as_str(), "token_env": a.token_ref})),
            "tls_passthrough": r.tls_passthrough,
            "ssrf_ip_allowlist": r.ssrf_ip_allowlist,
            "ports": r.ports,
        }));
    }
    for h in &e.allowlist {
        routes.push(json!({"host": h, "path_allowlist": [], "auth": null, "tls_passthrough": false, "ssrf_ip_allowlist": []}));
    }
    config["routes"] = Value::Array(routes);
    Ok(())
}

/// Write `config` as the bottle's egress config, copy it into the bundle
/// and have egress reload it.
pub async fn apply_config(
    docker: &Docker,
    home: &Path,
    slug: &str,
    config: &Value,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dir = crate::state::dir(home, slug);
    let path = dir.join("egress.json");
    let bytes = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
    // Temp file, then rename: a reload never reads half a config.
    let tmp = dir.join(".egress.json.tmp");
    crate::ca::write_file(&tmp, &bytes, 0o600).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    let owner = std::fs::metadata(&dir).map_err(|e| e.to_string())?;
    // As at launch: root's, readable by egress and supervise (the group).
    let tar = context::archive(&[
        Entry::new("/etc/bb/.egress.json.new", bytes, 0o640).owned(0, owner.gid() as u64)
    ])
    .map_err(|e| e.to_string())?;
    let bundle = names(slug).sidecars;
    context::upload(docker, &bundle, "/", tar)
        .await
        .map_err(|e| format!("cannot update {bundle}: {e}"))?;
    let (code, out) = super::exec::run(
        docker,
        &bundle,
        "0:0",
        &["mv", "/etc/bb/.egress.json.new", "/etc/bb/egress.json"],
    )
    .await
    .map_err(|e| e.to_string())?;
    if code != 0 {
        return Err(format!("cannot update {bundle}'s config: {}", out.trim()));
    }
    docker
        .kill_container(
            &bundle,
            Some(KillContainerOptions {
                signal: "HUP".into(),
            }),
        )
        .await
        .map_err(|e| format!("cannot signal {bundle} to reload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_like_the_proposal_says() {
        let mut c = json!({"routes": [{"host": "github.com", "path_allowlist": ["/me/"], "auth": {"scheme": "Bearer", "token_env": "T"}, "tls_passthrough": false, "ssrf_ip_allowlist": []}]});
        merge_config(
            &mut c,
            &EgressRequest {
                host: "GitHub.com".into(),
                path_allowlist: vec!["/you/".into()],
            },
        );
        assert_eq!(c["routes"][0]["path_allowlist"], json!(["/me/", "/you/"]));
        assert_eq!(c["routes"][0]["auth"]["token_env"], "T", "credentials stay");
        merge_config(
            &mut c,
            &EgressRequest {
                host: "pypi.org".into(),
                path_allowlist: vec![],
            },
        );
        assert_eq!(c["routes"][1]["host"], "pypi.org");
        assert_eq!(
            c["routes"][1]["auth"],
            Value::Null,
            "an agent's request never carries credentials"
        );
    }
}
