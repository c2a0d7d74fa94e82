//! Changing a running bottle's egress: the approved route merged into its
//! config, the config copied into the bundle, and egress told to reload
//! (SIGHUP through init; open tunnels stay up).

use std::path::Path;

use bollard::query_parameters::{KillContainerOptions, UploadToContainerOptions};
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
    use std::os::unix::fs::MetadataExt;
    let dir = crate::state::dir(home, slug);
    let path = dir.join("egress.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    merge_config(&mut config, req);
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?;
    // Temp file, then rename: a reload never reads half a config.
    let tmp = dir.join(".egress.json.tmp");
    crate::ca::write_file(&tmp, &bytes, 0o600).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    let owner = std::fs::metadata(&dir).map_err(|e| e.to_string())?;
    let tar = context::archive(&[Entry::new("/etc/bb/.egress.json.new", bytes, 0o600)
        .owned(owner.uid() as u64, owner.gid() as u64)])
    .map_err(|e| e.to_string())?;
    let bundle = names(slug).sidecars;
    docker
        .upload_to_container(
            &bundle,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
        .map_err(|e| format!("cannot update {bundle}: {e}"))?;
    let (code, out) = super::exec::run(
        docker,
        &bundle,
        &format!("{}:{}", owner.uid(), owner.gid()),
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
        .map_err(|e| format!("cannot signal {bundle} to reload: {e}"))?;
    if let Some(mut meta) = crate::state::read_metadata(home, slug) {
        meta.routes = merge_egress(&meta.routes, req);
        let _ = crate::state::write_metadata(&dir, &meta);
    }
    Ok(())
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
