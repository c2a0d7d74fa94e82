//! Changing a running bottle's egress: the approved route merged into its
//! config, the config copied into the bundle, and egress told to reload
//! (SIGHUP through init; open tunnels stay up). The config is egress's own
//! type, so what bb writes is what egress reads.

use std::path::Path;

use bb_contract::egress::{Config as EgressConfig, RouteConfig};
use bollard::query_parameters::KillContainerOptions;
use bollard::Docker;

use super::bundle::manifest_route;
use super::context::{self, Entry};
use super::names::names;
use crate::supervise::EgressRequest;

/// Merge one request into an egress config, as the approval showed it
/// (the contract's one rule for it).
pub fn merge_config(config: &mut EgressConfig, req: &EgressRequest) {
    bb_contract::egress::grant(&mut config.routes, &req.host, &req.path_allowlist);
}

pub async fn apply_egress(docker: &Docker, slug: &str, req: &EgressRequest) -> Result<(), String> {
    let mut config = read_config(docker, slug).await?;
    merge_config(&mut config, req);
    apply_config(docker, slug, &config).await
}

/// Where egress reads its config in the bundle.
const CONFIG: &str = "/etc/bb/egress.json";

/// The bottle's live egress config, as egress reads it (from the bundle,
/// running or not).
pub async fn read_config(docker: &Docker, slug: &str) -> Result<EgressConfig, String> {
    let bundle = names(slug).sidecars;
    let bytes = super::operator::download(docker, &bundle, CONFIG)
        .await
        .map_err(|e| format!("cannot read {CONFIG} in {bundle}: {e}"))?
        .ok_or_else(|| format!("{bundle} has no {CONFIG}: stop the bottle and start it again"))?;
    let text = String::from_utf8_lossy(&bytes);
    EgressConfig::parse(&text, Path::new(CONFIG)).map_err(|e| e.to_string())
}

fn auth_of(r: &RouteConfig) -> Option<crate::manifest::RouteAuth> {
    r.auth.as_ref().map(|a| crate::manifest::RouteAuth {
        scheme: if a.scheme == "token" {
            crate::manifest::AuthScheme::Token
        } else {
            crate::manifest::AuthScheme::Bearer
        },
        token_ref: a.token_env.clone(),
    })
}

/// The live routes in the manifest's shape (every host as a route).
pub fn config_to_egress(config: &EgressConfig) -> crate::manifest::Egress {
    let routes = config
        .routes
        .iter()
        .map(|r| crate::manifest::Route {
            host: r.host.clone(),
            path_allowlist: r.path_allowlist.clone(),
            auth: auth_of(r),
            role: None,
            tls_passthrough: r.tls_passthrough,
            ssrf_ip_allowlist: r.ssrf_ip_allowlist.clone(),
            ports: r.ports.clone(),
        })
        .collect();
    crate::manifest::Egress {
        routes,
        allowlist: Vec::new(),
        bip39: config.dlp.bip39,
    }
}

/// Put edited routes into a live config. A credential the bottle was not
/// started with has no value in the bundle, so it is refused.
pub fn egress_into_config(
    config: &mut EgressConfig,
    e: &crate::manifest::Egress,
) -> Result<(), String> {
    let known: Vec<&str> = config
        .routes
        .iter()
        .filter_map(|r| r.auth.as_ref().map(|a| a.token_env.as_str()))
        .collect();
    let mut routes = Vec::new();
    for r in &e.routes {
        if let Some(a) = &r.auth {
            if !known.contains(&a.token_ref.as_str()) {
                return Err(format!(
                    "{}: token_ref {} is not one this bottle was started with; add it to the bottle's manifest and restart the bottle",
                    r.host, a.token_ref
                ));
            }
        }
        routes.push(manifest_route(r));
    }
    for h in &e.allowlist {
        routes.push(RouteConfig::requested(h, &[]));
    }
    config.routes = routes;
    Ok(())
}

/// Put `config` in the bundle as egress's config (it is the one copy)
/// and have egress reload it.
pub async fn apply_config(
    docker: &Docker,
    slug: &str,
    config: &EgressConfig,
) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
    // As at launch: root's, readable by egress and supervise (the state
    // group); beside it first, then renamed, so a reload never reads half.
    let gid = u64::from(bb_sidecar::init::STATE_GID);
    let tar =
        context::archive(&[Entry::new("/etc/bb/.egress.json.new", bytes, 0o640).owned(0, gid)])
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
        let auth = crate::manifest::RouteAuth {
            scheme: crate::manifest::AuthScheme::Bearer,
            token_ref: "T".into(),
        };
        let mut c = EgressConfig::parse(
            r#"{"listen": "0.0.0.0:1", "routes": [], "ca_cert": "/c", "audit_log": null}"#,
            Path::new("x"),
        )
        .unwrap();
        let mut github = crate::manifest::Route::bare("github.com");
        github.path_allowlist = vec!["/me/".into()];
        github.auth = Some(auth);
        c.routes.push(manifest_route(&github));
        merge_config(
            &mut c,
            &EgressRequest {
                host: "GitHub.com".into(),
                path_allowlist: vec!["/you/".into()],
            },
        );
        assert_eq!(c.routes[0].path_allowlist, ["/me/", "/you/"]);
        assert_eq!(
            c.routes[0].auth.as_ref().unwrap().token_env,
            "T",
            "credentials stay"
        );
        merge_config(
            &mut c,
            &EgressRequest {
                host: "pypi.org".into(),
                path_allowlist: vec![],
            },
        );
        assert_eq!(c.routes[1].host, "pypi.org");
        assert!(
            c.routes[1].auth.is_none(),
            "an agent's request never carries credentials"
        );
        // What bb writes, egress reads back the same.
        let text = serde_json::to_string(&c).unwrap();
        let back = EgressConfig::parse(&text, Path::new("egress.json")).unwrap();
        assert_eq!(back.routes, c.routes);
    }
}
