//! What egress checks of a request before it reads the body or sends
//! anything, in order: the host, its route, port and path, TLS for a
//! credential, no protocol switch, then DLP over the URL and every header.

use http::Request;
use hyper::body::Incoming;

use super::config::{Config, RouteConfig};
use super::policy::{self, Block};
use super::proxy::Target;
use crate::dlp;

/// Headers that carry credentials; removed from what the agent sends on
/// routes where the proxy injects one.
pub(super) const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// The values a server reads one by one from a URL, which a secret could
/// be split across (read joined, as split headers are): the path's
/// segments and the query's values, decoded.
fn url_values(path_and_query: &str) -> Vec<String> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut out: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(dlp::percent_decode)
        .collect();
    out.extend(
        query
            .split(['&', ';'])
            .filter(|s| !s.is_empty())
            .map(|kv| dlp::percent_decode(kv.split_once('=').map_or(kv, |(_, v)| v))),
    );
    out
}

/// Each cookie's value, of every `Cookie` header.
fn cookie_values(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|cookie| {
            String::from_utf8_lossy(cookie.as_bytes())
                .split(';')
                .map(|kv| {
                    let v = kv.split_once('=').map_or(kv, |(_, v)| v).trim();
                    dlp::percent_decode(v.trim_matches('"'))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
/// What is checked before anything is read of the body or sent, in order:
/// the host (DLP, then its route), the port, the path, TLS for a
/// credential, no protocol switch, then DLP over the URL and every header
/// the agent sent. The route the request may take.
pub(super) fn check<'c>(
    req: &Request<Incoming>,
    target: &Target,
    config: &'c Config,
) -> Result<&'c RouteConfig, Block> {
    let path = req.uri().path();
    if let Some(f) = dlp::scan_host(&target.host) {
        return Err(Block::secret(f.rule, "host"));
    }
    let route = policy::check_host(config, &target.host)?;
    if !route.allows_port(target.port) {
        return Err(Block::PortNotAllowed {
            host: target.host.clone(),
            port: target.port,
        });
    }
    policy::check_path(route, &target.host, path)?;
    // A credential is injected only into TLS: plain HTTP would hand it to
    // anything on the path.
    if route.auth.is_some() && !target.https {
        return Err(Block::CredentialNeedsTls(target.host.clone()));
    }
    // A switch to another protocol (a WebSocket) would carry what no rule
    // here reads: refused, so the client uses plain requests (Codex
    // falls back to HTTPS with server-sent events).
    if let Some(to) = req.headers().get(http::header::UPGRADE) {
        return Err(Block::Upgrade(
            String::from_utf8_lossy(to.as_bytes())
                .chars()
                .take(40)
                .collect(),
        ));
    }
    // DLP: the URL (decoded), every header the agent sent, then the body.
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if let Some(f) = dlp::scan(&dlp::percent_decode(&path_and_query)) {
        let place = if f.at >= path.len() { "query" } else { "path" };
        return Err(Block::secret(f.rule, place));
    }
    let injecting = route.auth.is_some();
    // Every header the agent sent, one per line, read in one pass: no
    // shape spans a line, so this finds what each line read alone would.
    let mut lines = String::new();
    let mut values: Vec<std::ops::Range<usize>> = Vec::new();
    for (name, value) in req.headers() {
        if injecting && CREDENTIAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        lines.push_str(name.as_str());
        lines.push_str(": ");
        let start = lines.len();
        lines.push_str(&String::from_utf8_lossy(value.as_bytes()));
        values.push(start..lines.len());
        lines.push('\n');
    }
    if let Some(f) = dlp::scan(&lines) {
        return Err(Block::secret(f.rule, "headers"));
    }
    // A secret split over several headers.
    if let Some(f) = dlp::scan_joined(values.iter().map(|r| &lines[r.clone()])) {
        return Err(Block::secret(f.rule, "headers"));
    }
    // ...or over path segments and query values, or the cookies of one
    // header.
    for (place, split) in [
        ("query", url_values(&path_and_query)),
        ("headers", cookie_values(req.headers())),
    ] {
        if let Some(f) = dlp::scan_joined(split.iter().map(String::as_str)) {
            return Err(Block::secret(f.rule, place));
        }
    }
    Ok(route)
}
