//! The egress daemon's config, rendered by bb from the bottle's plan
//! (`/etc/bb/egress.json`). Token values are never in it: a credentialed
//! route names the environment variable of this process that holds one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The stable marker every refusal's body starts with: the agent sees
/// it, and bb reads an agent's screen for it (the agent is blocked).
pub const REFUSAL_MARKER: &str = "bb egress blocked this request";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub routes: Vec<RouteConfig>,
    pub ca_cert: PathBuf,
    /// The bottle CA's key: a file, or (as bb runs it) an env var.
    #[serde(default)]
    pub ca_key: Option<PathBuf>,
    #[serde(default)]
    pub ca_key_env: Option<String>,
    pub audit_log: Option<PathBuf>,
    /// Extra roots to trust for upstream TLS, beside the system's (a
    /// corporate TLS proxy's CA; the tests' mock APIs).
    #[serde(default)]
    pub upstream_ca: Option<PathBuf>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub dlp: DlpConfig,
    /// Provider token endpoints egress answers for the agent.
    #[serde(default)]
    pub token_refresh: Vec<RefreshConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub host: String,
    #[serde(default)]
    pub path_allowlist: Vec<String>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls_passthrough: bool,
    #[serde(default)]
    pub ssrf_ip_allowlist: Vec<String>,
    /// Ports the agent may reach the host on; empty means 443 and 80.
    #[serde(default)]
    pub ports: Vec<u16>,
}

impl RouteConfig {
    pub fn allows_port(&self, port: u16) -> bool {
        if self.ports.is_empty() {
            port == 443 || port == 80
        } else {
            self.ports.contains(&port)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DlpConfig {
    /// Also look for BIP-39 seed phrases.
    #[serde(default)]
    pub bip39: bool,
}

/// Does `pattern` (exact, or `*.example.com` for subdomains only) match
/// `host`? The one rule egress routes by and approvals merge by.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(base) => {
            let base = base.to_ascii_lowercase();
            host.len() > base.len() + 1
                && host.ends_with(&base)
                && host.as_bytes()[host.len() - base.len() - 1] == b'.'
        }
        None => host == pattern.to_ascii_lowercase(),
    }
}

impl RouteConfig {
    /// A route the agent asked for and the operator approved: no
    /// credential, no passthrough, default ports.
    pub fn requested(host: &str, paths: &[String]) -> RouteConfig {
        RouteConfig {
            host: host.to_ascii_lowercase(),
            path_allowlist: paths.to_vec(),
            auth: None,
            tls_passthrough: false,
            ssrf_ip_allowlist: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// What granting an agent's request for a host (and paths) does to a
/// bottle's live routes, so an approval can say it before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A host no route had: a new route.
    NewHost,
    /// The host's route allowed only `before`; it now allows every path.
    Widened { before: Vec<String> },
    /// The host's route allowed `before`; `added` join them.
    AddedPaths {
        before: Vec<String>,
        added: Vec<String>,
    },
    /// The host is under a wildcard route (`*.example.com`) that limits
    /// its paths; it gets a route of its own, with the wildcard's
    /// credential, passthrough and ports, allowing `paths` (empty: every
    /// path).
    OwnRoute {
        wildcard: String,
        before: Vec<String>,
        paths: Vec<String>,
    },
    /// Everything asked for is already allowed: nothing changes.
    Nothing,
}

impl Grant {
    /// Whether the change lets the agent reach paths it could not before
    /// on a host it could already reach (what an operator must see).
    pub fn widens(&self) -> bool {
        matches!(
            self,
            Grant::Widened { .. } | Grant::AddedPaths { .. } | Grant::OwnRoute { .. }
        )
    }
}

/// Grant a request for `host` and `paths` (empty: every path) in
/// `routes`: a new host is appended; the host's route gets the union of
/// paths (asking for every path opens it); a host under a path-limited
/// wildcard gets a route of its own. Credentials and passthrough stay as
/// the operator set them; an agent's request never adds one.
pub fn grant(routes: &mut Vec<RouteConfig>, host: &str, paths: &[String]) -> Grant {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let union = |have: &[String], want: &[String]| -> Vec<String> {
        let mut out = have.to_vec();
        out.extend(want.iter().filter(|p| !have.contains(p)).cloned());
        out
    };
    if let Some(r) = routes
        .iter_mut()
        .find(|r| !r.host.starts_with("*.") && r.host == host)
    {
        let before = r.path_allowlist.clone();
        if before.is_empty() {
            return Grant::Nothing;
        }
        if paths.is_empty() {
            r.path_allowlist.clear();
            return Grant::Widened { before };
        }
        let added: Vec<String> = paths
            .iter()
            .filter(|p| !before.contains(p))
            .cloned()
            .collect();
        if added.is_empty() {
            return Grant::Nothing;
        }
        r.path_allowlist = union(&before, paths);
        return Grant::AddedPaths { before, added };
    }
    if let Some(w) = routes
        .iter()
        .find(|r| r.host.starts_with("*.") && host_matches(&r.host, &host))
    {
        let before = w.path_allowlist.clone();
        if before.is_empty() || (!paths.is_empty() && paths.iter().all(|p| before.contains(p))) {
            return Grant::Nothing;
        }
        let own = RouteConfig {
            host: host.clone(),
            path_allowlist: if paths.is_empty() {
                Vec::new()
            } else {
                union(&before, paths)
            },
            ..w.clone()
        };
        let g = Grant::OwnRoute {
            wildcard: w.host.clone(),
            before,
            paths: own.path_allowlist.clone(),
        };
        routes.push(own);
        return g;
    }
    routes.push(RouteConfig::requested(&host, paths));
    Grant::NewHost
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub scheme: String,
    pub token_env: String,
}

/// Bounds that keep a misbehaving agent from taking the proxy down.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Request bodies larger than this are refused (they are scanned whole).
    pub body_bytes: usize,
    pub header_bytes: usize,
    /// Seconds a client may take to send its request head.
    pub header_timeout_secs: u64,
    /// Seconds a tunnel or keep-alive connection may sit idle.
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    /// Seconds to connect to an upstream.
    pub connect_timeout_secs: u64,
    /// The audit log rotates past this size (one older file is kept).
    pub audit_bytes: u64,
    /// Seconds an upstream may take to start its answer.
    pub response_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 16 * 1024 * 1024,
            header_bytes: 64 * 1024,
            header_timeout_secs: 10,
            idle_timeout_secs: 300,
            max_connections: 1024,
            connect_timeout_secs: 10,
            audit_bytes: 16 * 1024 * 1024,
            response_timeout_secs: 600,
        }
    }
}

/// A provider's OAuth token endpoint that egress answers for the agent:
/// the agent's refresh grant carries a placeholder, egress sends the real
/// refresh token, keeps what comes back, and hands the agent placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshConfig {
    pub host: String,
    pub path: String,
    /// The env var (and live name) of the access token routes inject.
    pub access_env: String,
    /// The env var holding the real refresh token.
    pub refresh_env: String,
    /// What the agent holds instead of either token.
    pub placeholder: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: route {host:?}: {why}")]
    Route {
        path: PathBuf,
        host: String,
        why: String,
    },
}

/// An IP network for the SSRF allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = match s.split_once('/') {
            Some((ip, b)) => (ip.parse().ok()?, b.parse().ok()?),
            None => {
                let ip: IpAddr = s.parse().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { addr: ip, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// A config from its JSON (`path` names it in errors): what egress
    /// accepts, so bb can check what it writes.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config = serde_json::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        for r in &c.routes {
            if let Some(bad) = r
                .ssrf_ip_allowlist
                .iter()
                .find(|s| Cidr::parse(s).is_none())
            {
                return Err(ConfigError::Route {
                    path: path.into(),
                    host: r.host.clone(),
                    why: format!("{bad:?} is not an IP or CIDR"),
                });
            }
            if let Some(a) = &r.auth {
                if !matches!(a.scheme.as_str(), "Bearer" | "token") {
                    return Err(ConfigError::Route {
                        path: path.into(),
                        host: r.host.clone(),
                        why: format!("auth scheme {:?}", a.scheme),
                    });
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: &str, paths: &[&str]) -> RouteConfig {
        RouteConfig::requested(
            host,
            &paths.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        )
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_grant_says_what_it_changes() {
        let mut routes = vec![route("api.example.org", &["/v1/"])];
        let mut token = route("*.corp.example", &["/api/"]);
        token.auth = Some(AuthConfig {
            scheme: "Bearer".into(),
            token_env: "T".into(),
        });
        routes.push(token);
        // Every path on a path-limited host: a widening.
        let mut r = routes.clone();
        assert_eq!(
            grant(&mut r, "API.example.org", &[]),
            Grant::Widened {
                before: strings(&["/v1/"])
            }
        );
        assert!(r[0].path_allowlist.is_empty());
        // Another path.
        let mut r = routes.clone();
        assert_eq!(
            grant(&mut r, "api.example.org", &strings(&["/v2/", "/v1/"])),
            Grant::AddedPaths {
                before: strings(&["/v1/"]),
                added: strings(&["/v2/"])
            }
        );
        assert_eq!(r[0].path_allowlist, ["/v1/", "/v2/"]);
        // What is allowed already changes nothing.
        let mut r = routes.clone();
        assert_eq!(
            grant(&mut r, "api.example.org", &strings(&["/v1/"])),
            Grant::Nothing
        );
        assert_eq!(r, routes);
        // Under a path-limited wildcard: a route of its own, keeping the
        // wildcard's credential.
        let mut r = routes.clone();
        let g = grant(&mut r, "git.corp.example", &strings(&["/raw/"]));
        assert!(matches!(g, Grant::OwnRoute { ref wildcard, .. } if wildcard == "*.corp.example"));
        assert!(g.widens());
        assert_eq!(r[2].host, "git.corp.example");
        assert_eq!(r[2].path_allowlist, ["/api/", "/raw/"]);
        assert_eq!(r[2].auth.as_ref().unwrap().token_env, "T");
        // A new host.
        let mut r = routes.clone();
        assert_eq!(grant(&mut r, "pypi.org", &[]), Grant::NewHost);
        assert_eq!(r[2], route("pypi.org", &[]));
        assert!(
            r[2].auth.is_none(),
            "an agent's request never carries credentials"
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }
}
