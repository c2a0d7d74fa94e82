//! What the proxy decides, kept apart from sockets: which route a host
//! takes, whether a path is allowed, and whether an address may be dialled.

use std::net::IpAddr;

use http::StatusCode;

use super::config::{Cidr, Config, RouteConfig};
use crate::dlp::inflate::Unreadable;

/// The stable marker every refusal's body starts with.
pub use bb_contract::egress::REFUSAL_MARKER as MARKER;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    HostNotAllowed(String),
    IpLiteral(String),
    PathNotAllowed {
        host: String,
        path: String,
        /// Why the path could not be checked, when that is the reason.
        why: Option<&'static str>,
    },
    Secret {
        rule: &'static str,
        place: &'static str,
        /// Where inside the place, for a body: the file of an archive
        /// that held it (never the secret).
        within: Option<String>,
    },
    Ssrf {
        host: String,
        ip: IpAddr,
    },
    BodyTooLarge(usize),
    /// A credentialed route asked for over plain HTTP.
    CredentialNeedsTls(String),
    /// A body the scan cannot read through as its reader would: an
    /// unknown content encoding, a broken one, or a bomb.
    Undecodable(Unreadable),
    PortNotAllowed {
        host: String,
        port: u16,
    },
    /// A protocol switch (WebSocket): what would pass after it is not
    /// HTTP, and could not be checked.
    Upgrade(String),
}

/// What the proxy does with a route's traffic. One rule, enforced here and
/// shown by bb's preflight:
/// - `tls_passthrough` without `auth`: a blind tunnel, only the SNI checked;
/// - `tls_passthrough` with `auth`: intercepted so the credential can be
///   injected, but the body is not DLP-scanned (LLM API bodies are large
///   and full of code that trips patterns);
/// - otherwise: intercepted and scanned whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Tunnel,
    Intercept { scan_body: bool },
}

pub fn handling(tls_passthrough: bool, credentialed: bool) -> Handling {
    match (tls_passthrough, credentialed) {
        (true, false) => Handling::Tunnel,
        (true, true) => Handling::Intercept { scan_body: false },
        (false, _) => Handling::Intercept { scan_body: true },
    }
}

/// What the proxy does with `route`'s traffic.
pub fn route_handling(route: &RouteConfig) -> Handling {
    handling(route.tls_passthrough, route.auth.is_some())
}

impl Block {
    /// A secret found in `place` (`host`, `path`, `query`, `headers`,
    /// `body`).
    pub fn secret(rule: &'static str, place: &'static str) -> Block {
        Block::Secret {
            rule,
            place,
            within: None,
        }
    }

    /// The rule name for the audit log.
    pub fn rule(&self) -> String {
        match self {
            Block::HostNotAllowed(_) => "host-not-allowed".into(),
            Block::IpLiteral(_) => "ip-literal".into(),
            Block::PathNotAllowed { .. } => "path-not-allowed".into(),
            Block::Secret { rule, .. } => format!("dlp:{rule}"),
            Block::Ssrf { .. } => "ssrf".into(),
            Block::BodyTooLarge(_) => "body-too-large".into(),
            Block::CredentialNeedsTls(_) => "credential-needs-tls".into(),
            Block::Undecodable(Unreadable::Bomb { .. }) => "decompression-bomb".into(),
            Block::Undecodable(Unreadable::TooLarge { .. }) => "body-too-large".into(),
            Block::Undecodable(_) => "undecodable-body".into(),
            Block::PortNotAllowed { .. } => "port-not-allowed".into(),
            Block::Upgrade(_) => "protocol-upgrade".into(),
        }
    }

    /// The status the agent is answered with: 403 for policy, 413 for what
    /// is too large to scan, 415 for an encoding nothing here reads, 400
    /// for a body that does not decode.
    pub fn status(&self) -> StatusCode {
        match self {
            Block::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Block::Undecodable(u) if u.is_too_large() => StatusCode::PAYLOAD_TOO_LARGE,
            Block::Undecodable(Unreadable::Unsupported(_) | Unreadable::TooDeep(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Block::Undecodable(Unreadable::Corrupt { .. }) => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// One stable line: the marker, what was refused, and how to ask.
    pub fn body(&self) -> String {
        let why = match self {
            Block::HostNotAllowed(h) => {
                format!("host {h} is not in this bottle's egress allowlist")
            }
            Block::IpLiteral(h) => {
                format!("{h} is an IP address; bottles reach hosts by name only")
            }
            Block::PathNotAllowed {
                host,
                path,
                why: None,
            } => format!("path {path} is not allowed on {host}"),
            Block::PathNotAllowed {
                host,
                path,
                why: Some(why),
            } => format!("path {path} on {host} cannot be checked safely: {why}"),
            Block::Secret {
                rule,
                place,
                within: None,
            } => format!("the request's {place} looks like a secret ({rule})"),
            Block::Secret {
                rule,
                place,
                within: Some(within),
            } => format!("the request's {place} looks like a secret ({rule}) in {within}"),
            Block::Ssrf { host, ip } => format!("{host} resolves to {ip}, an internal address"),
            Block::BodyTooLarge(n) => format!("the request body is over {n} bytes"),
            Block::Undecodable(why) => why.to_string(),
            Block::Upgrade(to) => format!(
                "switching protocols (to {to}) is not supported: what follows could not be checked"
            ),
            Block::PortNotAllowed { host, port } => {
                format!("port {port} is not allowed on {host}")
            }
            Block::CredentialNeedsTls(h) => {
                format!("{h} carries a credential, which goes only over https")
            }
        };
        // What to do next: ask, where the policy refused; else send it
        // in a form that can be read.
        let next = match self {
            Block::Undecodable(_) | Block::BodyTooLarge(_) => {
                "Send the body uncompressed or in a smaller form"
            }
            Block::Upgrade(_) => "Use plain HTTPS requests",
            _ => "To ask for access, use the supervise tool (egress-proxy-block) with your reason",
        };
        format!("{MARKER}: {why}. {next}.\n")
    }
}

/// A rule the audit log names, in words for the operator (`bb logs`, the
/// network view): each `Block`'s and each upstream `Failure`'s rule.
pub fn rule_reason(rule: &str) -> String {
    if let Some(kind) = rule.strip_prefix("dlp:") {
        return format!("it looked like a secret ({kind})");
    }
    if let Some(sni) = rule.strip_prefix("sni-mismatch:") {
        return format!("its TLS name ({sni}) is not the host it asked for");
    }
    match rule {
        "host-not-allowed" => "no route allows this host",
        "path-not-allowed" => "the host's route does not allow this path",
        "port-not-allowed" => "the host's route does not allow this port",
        "ip-literal" => "it named an IP address; bottles reach hosts by name",
        "ssrf" => "the host resolves to an internal address",
        "body-too-large" => "its body was over the limit",
        "decompression-bomb" => "its compressed body expanded like a decompression bomb",
        "credential-needs-tls" => "a credential goes only over https",
        "undecodable-body" => "its body could not be decoded to be checked",
        "protocol-upgrade" => {
            "it asked to switch protocols (a WebSocket), which egress cannot check"
        }
        "upstream-dns" => "the host does not resolve (not a refusal)",
        "upstream-connect" => "the host could not be connected to (not a refusal)",
        "upstream-tls" => "the TLS handshake with the host failed (not a refusal)",
        "upstream-timeout" => "the host did not answer in time (not a refusal)",
        "upstream-error" => "the exchange with the host broke off (not a refusal)",
        other => other,
    }
    .to_string()
}

pub use bb_contract::egress::host_matches;

/// The route for `host`: an exact route wins over a wildcard.
pub fn route<'a>(config: &'a Config, host: &str) -> Option<&'a RouteConfig> {
    let exact = config
        .routes
        .iter()
        .find(|r| !r.host.starts_with("*.") && host_matches(&r.host, host));
    exact.or_else(|| {
        config
            .routes
            .iter()
            .find(|r| r.host.starts_with("*.") && host_matches(&r.host, host))
    })
}

/// Check a host the agent names: it must be a name with a route.
pub fn check_host<'a>(config: &'a Config, host: &str) -> Result<&'a RouteConfig, Block> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        // An IP literal can still match a route that lists exactly it.
        return config
            .routes
            .iter()
            .find(|r| r.host == bare)
            .ok_or_else(|| Block::IpLiteral(bare.to_string()));
    }
    route(config, host).ok_or_else(|| Block::HostNotAllowed(host.to_ascii_lowercase()))
}

/// A request path as the upstream will read it: percent-decoded once.
/// Refused when its meaning could differ between this check and the
/// upstream: bad escapes, dot segments (also as `%2e` or with `;params`),
/// backslashes, NUL, or escapes left after decoding (double encoding).
pub fn normalise_path(path: &str) -> Result<String, &'static str> {
    if !path.starts_with('/') {
        return Err("it is not absolute");
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err("it has a broken %-escape"),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| "it is not UTF-8 once decoded")?;
    if decoded.contains(['\\', '\0']) {
        return Err("it has a backslash or NUL");
    }
    let b = decoded.as_bytes();
    if b.windows(3).any(|w| {
        w[0] == b'%' && (w[1] as char).is_ascii_hexdigit() && (w[2] as char).is_ascii_hexdigit()
    }) {
        return Err("it is encoded twice");
    }
    let dot = decoded.split('/').any(|seg| {
        let seg = seg.split(';').next().unwrap_or(seg);
        seg == "." || seg == ".."
    });
    if dot {
        return Err("it has a . or .. segment");
    }
    Ok(decoded)
}

/// Is `path` under one of the route's prefixes? Both are compared decoded,
/// and a path that cannot be read one way only is refused.
pub fn check_path(route: &RouteConfig, host: &str, path: &str) -> Result<(), Block> {
    if route.path_allowlist.is_empty() {
        return Ok(());
    }
    let refuse = |why: Option<&'static str>| {
        Err(Block::PathNotAllowed {
            host: host.to_string(),
            path: path.to_string(),
            why,
        })
    };
    let decoded = match normalise_path(path) {
        Ok(d) => d,
        Err(why) => return refuse(Some(why)),
    };
    let allowed = route.path_allowlist.iter().any(|p| {
        let prefix = normalise_path(p).unwrap_or_else(|_| p.clone());
        decoded.starts_with(prefix.as_str())
    });
    if allowed {
        Ok(())
    } else {
        refuse(None)
    }
}

/// Addresses a bottle must not reach unless its route allows them.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // ULA
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] == 0xfd00 && seg[1] == 0xec2) // AWS IMDS v6
        }
    }
}

/// May the proxy dial `ip` for `route`?
pub fn check_ip(route: &RouteConfig, host: &str, ip: IpAddr) -> Result<(), Block> {
    if !is_internal(ip) {
        return Ok(());
    }
    let allowed = route
        .ssrf_ip_allowlist
        .iter()
        .filter_map(|s| Cidr::parse(s))
        .any(|c| c.contains(ip));
    if allowed {
        Ok(())
    } else {
        Err(Block::Ssrf {
            host: host.to_string(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_egress_logs_reads_as_a_reason() {
        use crate::egress::upstream::Failure;
        let (h, w) = ("x.example".to_string(), "why".to_string());
        let blocks = [
            Block::HostNotAllowed(h.clone()),
            Block::IpLiteral(h.clone()),
            Block::PathNotAllowed {
                host: h.clone(),
                path: "/".into(),
                why: None,
            },
            Block::secret("aws-access-key-id", "body"),
            Block::Ssrf {
                host: h.clone(),
                ip: "10.0.0.1".parse().unwrap(),
            },
            Block::BodyTooLarge(1),
            Block::CredentialNeedsTls(h.clone()),
            Block::Undecodable(Unreadable::Unsupported("x".into())),
            Block::Undecodable(Unreadable::Bomb { what: "b".into() }),
            Block::Undecodable(Unreadable::TooLarge {
                what: "b".into(),
                cap: 1,
            }),
            Block::PortNotAllowed {
                host: h.clone(),
                port: 1,
            },
            Block::Upgrade("websocket".into()),
        ];
        let failures = [
            Failure::Unresolvable {
                host: h.clone(),
                why: w.clone(),
            },
            Failure::Connect {
                host: h.clone(),
                why: w.clone(),
            },
            Failure::Tls {
                host: h.clone(),
                why: w.clone(),
            },
            Failure::Timeout {
                host: h.clone(),
                secs: 1,
            },
            Failure::Broken { host: h, why: w },
        ];
        let rules = blocks
            .iter()
            .map(Block::rule)
            .chain(failures.iter().map(|f| f.rule().to_string()))
            .chain(["sni-mismatch:evil.example".to_string()]);
        for rule in rules {
            assert_ne!(rule_reason(&rule), rule, "{rule}");
        }
    }

    #[test]
    fn paths_are_checked_as_the_upstream_reads_them() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:0", "ca_cert": "x", "ca_key": "y", "audit_log": null,
            "routes": [{"host": "h", "path_allowlist": ["/allowed/", "/me%2Fapp/"]}]
        }))
        .unwrap();
        let r = &c.routes[0];
        for ok in [
            "/allowed/x",
            "/allowed/a/b?q",
            "/me%2Fapp/issues",
            "/me/app/x",
            "/allowed/%41",
        ] {
            assert_eq!(check_path(r, "h", ok), Ok(()), "{ok}");
        }
        for bad in [
            "/allowed/../secret",
            "/allowed/./../secret",
            "/allowed/%2e%2e/secret",
            "/allowed/%2E%2E/secret",
            "/allowed/..%2fsecret",
            "/allowed/..;/secret",
            "/allowed/%252e%252e/secret",
            "/allowed/..\\secret",
            "/allowed/%5c..%5csecret",
            "/allowed/%00",
            "/allowed/%zz",
            "/allowed/%",
            "/secret",
            "/allowedx",
        ] {
            assert!(check_path(r, "h", bad).is_err(), "{bad}");
        }
        let open: Config = serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:0", "ca_cert": "x", "ca_key": "y", "audit_log": null,
            "routes": [{"host": "h"}]
        }))
        .unwrap();
        assert_eq!(
            check_path(&open.routes[0], "h", "/a/../b"),
            Ok(()),
            "no allowlist, no path rule"
        );
    }

    fn config(routes: &[(&str, &[&str])]) -> Config {
        let routes: Vec<serde_json::Value> = routes
            .iter()
            .map(|(h, ssrf)| serde_json::json!({"host": h, "ssrf_ip_allowlist": ssrf}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:0", "routes": routes, "ca_cert": "x", "ca_key": "y", "audit_log": null
        }))
        .unwrap()
    }

    #[test]
    fn wildcards_match_subdomains_not_the_apex() {
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert!(host_matches("github.com", "GitHub.com."));
    }

    #[test]
    fn hosts_ips_and_ssrf() {
        let c = config(&[
            ("github.com", &[]),
            ("*.example.com", &[]),
            ("gitea.local", &["100.78.141.42/32"]),
        ]);
        assert!(check_host(&c, "github.com").is_ok());
        assert_eq!(
            check_host(&c, "evil.com"),
            Err(Block::HostNotAllowed("evil.com".into()))
        );
        assert_eq!(
            check_host(&c, "140.82.112.3"),
            Err(Block::IpLiteral("140.82.112.3".into()))
        );
        let r = check_host(&c, "gitea.local").unwrap();
        assert!(check_ip(r, "gitea.local", "100.78.141.42".parse().unwrap()).is_ok());
        assert!(check_ip(r, "gitea.local", "100.78.141.43".parse().unwrap()).is_err());
        let gh = check_host(&c, "github.com").unwrap();
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.1",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(
                check_ip(gh, "github.com", bad.parse().unwrap()).is_err(),
                "{bad}"
            );
        }
        assert!(check_ip(gh, "github.com", "140.82.112.3".parse().unwrap()).is_ok());
    }

    #[test]
    fn refusals_carry_the_marker() {
        let b = Block::HostNotAllowed("evil.com".into()).body();
        assert!(b.starts_with(MARKER));
        assert_eq!(b.lines().count(), 1);
    }
}
