//! `egress:` — routes and the bare allowlist.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;

use super::issue::{index, is_env_name, key, Issue};
use super::model::{AuthScheme, Egress, Role, Route, RouteAuth};
use super::yaml::Seg;
use crate::suggest::did_you_mean;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressDoc {
    routes: Option<Vec<RouteDoc>>,
    allowlist: Option<Vec<String>>,
    dlp: Option<DlpDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DlpDoc {
    bip39: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDoc {
    host: String,
    path_allowlist: Option<Vec<String>>,
    auth: Option<AuthDoc>,
    role: Option<String>,
    pipelock: Option<PipelockDoc>,
    ports: Option<Vec<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthDoc {
    scheme: Option<String>,
    token_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelockDoc {
    tls_passthrough: Option<bool>,
    ssrf_ip_allowlist: Option<Vec<String>>,
}

pub fn validate(doc: EgressDoc, at: &[Seg]) -> Result<Egress, Issue> {
    let mut routes = Vec::new();
    let mut seen = BTreeSet::new();
    let mut oauth_routes = 0;
    let routes_at = key(at, "routes");
    for (i, r) in doc.routes.unwrap_or_default().into_iter().enumerate() {
        let here = index(&routes_at, i);
        let route = validate_route(r, &here)?;
        if !seen.insert(route.host.clone()) {
            return Err(Issue::at(
                &key(&here, "host"),
                format!(
                    "duplicate host {:?}: each host may have one route",
                    route.host
                ),
            ));
        }
        if route.role == Some(Role::ClaudeCodeOauth) {
            oauth_routes += 1;
            if oauth_routes > 1 {
                return Err(Issue::at(
                    &key(&here, "role"),
                    "only one route may have role claude_code_oauth",
                ));
            }
        }
        routes.push(route);
    }
    let mut allowlist = Vec::new();
    let allow_at = key(at, "allowlist");
    for (i, host) in doc.allowlist.unwrap_or_default().into_iter().enumerate() {
        let here = index(&allow_at, i);
        let host = validate_host(&host).map_err(|m| Issue::at(&here, m))?;
        if seen.contains(&host) || allowlist.contains(&host) {
            return Err(Issue::at(
                &here,
                format!("{host:?} is already listed; list each host once (a route already allows its host)"),
            ));
        }
        allowlist.push(host);
    }
    Ok(Egress {
        routes,
        allowlist,
        bip39: doc.dlp.and_then(|d| d.bip39).unwrap_or(false),
    })
}

fn validate_route(r: RouteDoc, at: &[Seg]) -> Result<Route, Issue> {
    let host = validate_host(&r.host).map_err(|m| Issue::at(&key(at, "host"), m))?;
    let mut path_allowlist = Vec::new();
    for (j, p) in r.path_allowlist.unwrap_or_default().into_iter().enumerate() {
        if !p.starts_with('/') {
            return Err(Issue::at(
                &index(&key(at, "path_allowlist"), j),
                format!("{p:?} must be an absolute path prefix starting with '/'"),
            ));
        }
        path_allowlist.push(p);
    }
    let auth = match r.auth {
        None => None,
        Some(a) => Some(validate_auth(a, &key(at, "auth"))?),
    };
    let role = match r.role {
        None => None,
        Some(name) => match name.as_str() {
            "claude_code_oauth" => Some(Role::ClaudeCodeOauth),
            other => {
                let hint = did_you_mean(other, Role::NAMES.iter().copied())
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                return Err(Issue::at(
                    &key(at, "role"),
                    format!(
                        "unknown role {other:?}{hint} (known roles: {})",
                        Role::NAMES.join(", ")
                    ),
                ));
            }
        },
    };
    if role == Some(Role::ClaudeCodeOauth) && auth.is_none() {
        return Err(Issue::at(
            &key(at, "auth"),
            "a claude_code_oauth route needs auth: {scheme: Bearer, token_ref: YOUR_TOKEN_VAR}",
        ));
    }
    let (tls_passthrough, ssrf_ip_allowlist) = match r.pipelock {
        None => (false, Vec::new()),
        Some(p) => {
            let pl_at = key(at, "pipelock");
            let mut ips = Vec::new();
            for (j, item) in p
                .ssrf_ip_allowlist
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let here = index(&key(&pl_at, "ssrf_ip_allowlist"), j);
                ips.push(parse_cidr(&item).map_err(|m| Issue::at(&here, m))?);
            }
            (p.tls_passthrough.unwrap_or(false), ips)
        }
    };
    if r.ports.as_ref().is_some_and(|p| p.is_empty()) {
        return Err(Issue::at(
            &key(at, "ports"),
            "is empty; list the ports, or omit the key for 443 and 80",
        ));
    }
    let ports = r.ports.unwrap_or_default();
    if let Some(j) = ports.iter().position(|p| *p == 0) {
        return Err(Issue::at(&index(&key(at, "ports"), j), "0 is not a port"));
    }
    Ok(Route {
        host,
        path_allowlist,
        auth,
        role,
        tls_passthrough,
        ssrf_ip_allowlist,
        ports,
    })
}

fn validate_auth(a: AuthDoc, at: &[Seg]) -> Result<RouteAuth, Issue> {
    if a.scheme.is_none() && a.token_ref.is_none() {
        return Err(Issue::at(
            at,
            "is empty; omit it for an unauthenticated route, or give both scheme and token_ref",
        ));
    }
    let scheme = match a.scheme.as_deref() {
        None | Some("") => {
            return Err(Issue::at(
                &key(at, "scheme"),
                "required when auth is set: Bearer or token",
            ))
        }
        Some("Bearer") => AuthScheme::Bearer,
        Some("token") => AuthScheme::Token,
        Some(other) => {
            let hint = did_you_mean(other, ["Bearer", "token"])
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            return Err(Issue::at(
                &key(at, "scheme"),
                format!("{other:?} is not one of Bearer, token{hint}"),
            ));
        }
    };
    let token_ref = match a.token_ref {
        None => {
            return Err(Issue::at(
                &key(at, "token_ref"),
                "required when auth is set: the name of the host environment variable that holds the token",
            ))
        }
        Some(t) if !is_env_name(&t) => {
            return Err(Issue::at(
                &key(at, "token_ref"),
                format!("{t:?} is not an environment variable name (letters, digits and _; not starting with a digit)"),
            ))
        }
        Some(t) => t,
    };
    Ok(RouteAuth { scheme, token_ref })
}

/// A host as a route or allowlist entry names it: a DNS name, `*.` plus a
/// DNS name, or an IP literal. Returns it lower-cased.
pub fn validate_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("host is empty".to_string());
    }
    if host.contains("://") || host.contains('/') {
        return Err(format!(
            "{host:?} is a URL; write only the host name (like api.example.com) and put paths in path_allowlist"
        ));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(host.to_string());
    }
    if host.contains(':') {
        return Err(format!("{host:?} has a port; write only the host name"));
    }
    let lower = host.to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok || name.len() > 253 {
        let wildcard = if name.contains('*') {
            " (a wildcard is allowed only as a leading `*.`)"
        } else {
            ""
        };
        return Err(format!("{host:?} is not a valid host name{wildcard}"));
    }
    Ok(lower)
}

/// An IP or CIDR, normalised to `ip/prefix`.
pub fn parse_cidr(item: &str) -> Result<String, String> {
    let (ip, prefix) = match item.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (item, None),
    };
    let addr: IpAddr = ip.parse().map_err(|_| {
        format!("{item:?} is not an IP address or CIDR (like 10.0.0.5 or 100.64.0.0/10)")
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(b) if b <= max => b,
            _ => {
                return Err(format!(
                    "{item:?} has a prefix length that is not 0..={max}"
                ))
            }
        },
    };
    Ok(format!("{addr}/{bits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(validate_host("API.Example.com").unwrap(), "api.example.com");
        assert_eq!(validate_host("*.example.com").unwrap(), "*.example.com");
        assert_eq!(validate_host("10.0.0.1").unwrap(), "10.0.0.1");
        assert!(validate_host("https://x.com")
            .unwrap_err()
            .contains("is a URL"));
        assert!(validate_host("x.com:443").unwrap_err().contains("port"));
        assert!(validate_host("a.*.com").unwrap_err().contains("wildcard"));
        assert!(validate_host("bad_host").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("100.78.141.42").unwrap(), "100.78.141.42/32");
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap(), "10.0.0.0/8");
        assert_eq!(parse_cidr("fd00::/8").unwrap(), "fd00::/8");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("gitea").is_err());
    }
}

/// Read an `egress:` block on its own (the operator's edit of a live
/// bottle), with the same rules as in a manifest. Errors name the line.
pub fn parse_block(text: &str) -> Result<Egress, String> {
    let node = super::yaml::parse(text).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let doc: EgressDoc = super::yaml::from_node(&node).map_err(|e| match e.line {
        Some(l) => format!("line {l}: {e}"),
        None => e.to_string(),
    })?;
    validate(doc, &[]).map_err(|i| {
        let path = super::yaml::format_path(&i.path);
        if path.is_empty() {
            i.message
        } else {
            format!("{path}: {}", i.message)
        }
    })
}

/// An egress block as YAML a person edits (the shape `parse_block` reads).
pub fn render_block(e: &Egress) -> String {
    let mut out = String::from("routes:\n");
    for r in &e.routes {
        out.push_str(&format!("  - host: {:?}\n", r.host));
        if !r.path_allowlist.is_empty() {
            let p: Vec<String> = r.path_allowlist.iter().map(|p| format!("{p:?}")).collect();
            out.push_str(&format!("    path_allowlist: [{}]\n", p.join(", ")));
        }
        if let Some(a) = &r.auth {
            out.push_str(&format!(
                "    auth: {{scheme: {}, token_ref: {}}}\n",
                a.scheme.as_str(),
                a.token_ref
            ));
        }
        if let Some(role) = r.role {
            out.push_str(&format!("    role: {}\n", role.as_str()));
        }
        if !r.ports.is_empty() {
            let p: Vec<String> = r.ports.iter().map(|p| p.to_string()).collect();
            out.push_str(&format!("    ports: [{}]\n", p.join(", ")));
        }
        if r.tls_passthrough || !r.ssrf_ip_allowlist.is_empty() {
            let ips: Vec<String> = r
                .ssrf_ip_allowlist
                .iter()
                .map(|p| format!("{p:?}"))
                .collect();
            out.push_str(&format!(
                "    pipelock: {{tls_passthrough: {}, ssrf_ip_allowlist: [{}]}}\n",
                r.tls_passthrough,
                ips.join(", ")
            ));
        }
    }
    if !e.allowlist.is_empty() {
        out.push_str("allowlist:\n");
        for h in &e.allowlist {
            out.push_str(&format!("  - {h:?}\n"));
        }
    }
    out
}

#[cfg(test)]
mod block_tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_are_validated() {
        let text = "routes:\n  - host: api.example.com\n    path_allowlist: [/v1/]\n    auth: {scheme: Bearer, token_ref: TOKEN}\n    pipelock: {tls_passthrough: true, ssrf_ip_allowlist: [10.0.0.1]}\nallowlist: [github.com]\n";
        let e = parse_block(text).unwrap();
        assert_eq!(parse_block(&render_block(&e)).unwrap(), e);
        assert!(parse_block("routes:\n  - host: https://x\n")
            .unwrap_err()
            .contains("routes[0].host"));
        assert!(parse_block("routs: []\n")
            .unwrap_err()
            .contains("did you mean \"routes\""));
    }
}
