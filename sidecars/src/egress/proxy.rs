//! The forward proxy: plain HTTP and CONNECT on one port. Each request is
//! checked in order (host, path, DLP, credential injection, SSRF on the
//! address actually dialled) and refused with a one-line 403 that starts
//! with the marker. TLS is intercepted with the bottle CA unless the route
//! passes it through, in which case only the SNI is checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::answer::{failed, full, plain, refuse, Body, BoxError};
use super::audit::{now_ms, Decision, Record};
use super::body;
use super::checks::{check, CREDENTIAL_HEADERS};
use super::config::{Config, RouteConfig};
use super::conn::Held;
use super::policy::{self, Block, Handling};
use super::returned::answer;
use super::shared::Shared;
use super::tokens;
use super::tunnel;
use super::upstream::{DialError, Failure};
use crate::dlp::inflate::Coding;

pub(super) struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

pub(super) fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    held: Held,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
    Box::pin(handle_inner(req, peer, shared, tunnel, held))
}

async fn handle_inner(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    held: Held,
) -> Response<Body> {
    let config = shared.config();
    if req.method() == Method::CONNECT {
        if tunnel.is_some() {
            return plain(
                StatusCode::BAD_REQUEST,
                "CONNECT inside a tunnel is not supported",
            );
        }
        return tunnel::connect(req, peer, shared, config, held).await;
    }
    let target = match &tunnel {
        Some((host, port)) => {
            // Inside a tunnel the Host header must name the tunnel's host:
            // a spoofed Host would dodge the allowlist.
            let named = req
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| {
                    h.rsplit_once(':')
                        .map(|(h, _)| h)
                        .unwrap_or(h)
                        .to_ascii_lowercase()
                });
            if let Some(named) = named {
                if named != *host {
                    let block = Block::HostNotAllowed(named);
                    audit(
                        &shared,
                        peer,
                        host,
                        req.method().as_str(),
                        req.uri().path(),
                        Decision::Blocked,
                        Some(block.rule()),
                    );
                    return refuse(&block);
                }
            }
            Target {
                https: true,
                host: host.clone(),
                port: *port,
            }
        }
        None => {
            let uri = req.uri();
            let Some(host) = uri.host() else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "this is a proxy: send absolute-form requests (http://host/path) or CONNECT",
                );
            };
            if uri.scheme_str() != Some("http") {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "plain requests must be http://; use CONNECT for https",
                );
            }
            Target {
                https: false,
                host: host.to_ascii_lowercase(),
                port: uri.port_u16().unwrap_or(80),
            }
        }
    };
    forward(req, target, peer, shared, config).await
}

pub(super) fn audit(
    shared: &Shared,
    peer: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    decision: Decision,
    rule: Option<String>,
) {
    shared.audit.record(Record {
        time_ms: now_ms(),
        client: peer.to_string().into(),
        host: host.into(),
        method: method.into(),
        path: path.into(),
        decision,
        rule,
    });
}

/// Resolve `host` and pick the first address the route may reach. A name
/// that does not resolve is the network's failure; addresses the route
/// may not reach are a refusal.
pub(super) async fn resolve(
    route: &RouteConfig,
    host: &str,
    port: u16,
) -> Result<SocketAddr, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let unresolvable = |why: String| {
        DialError::Failed(Failure::Unresolvable {
            host: host.to_string(),
            why,
        })
    };
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| unresolvable(e.to_string()))?
            .collect(),
    };
    let mut last = unresolvable("no address".into());
    for a in addrs {
        match policy::check_ip(route, host, a.ip()) {
            Ok(()) => return Ok(a),
            Err(b) => last = DialError::Blocked(b),
        }
    }
    Err(last)
}

/// Check, rewrite and send one request upstream; stream the answer back.
async fn forward(
    req: Request<Incoming>,
    target: Target,
    peer: SocketAddr,
    shared: Arc<Shared>,
    config: Arc<Config>,
) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let deny = |b: Block| {
        // A secret found in the URL must not land in the log through it.
        let (host, logged) = match &b {
            Block::Secret {
                place: "path" | "query",
                ..
            } => (target.host.as_str(), "[redacted]"),
            Block::Secret { place: "host", .. } => ("[redacted]", path.as_str()),
            _ => (target.host.as_str(), path.as_str()),
        };
        audit(
            &shared,
            peer,
            host,
            &method,
            logged,
            Decision::Blocked,
            Some(b.rule()),
        );
        refuse(&b)
    };
    let route = match check(&req, &target, &config) {
        Ok(route) => route,
        Err(b) => return deny(b),
    };
    let injecting = route.auth.is_some();
    let (mut parts, body) = req.into_parts();
    let refresh = config
        .token_refresh
        .iter()
        .find(|r| {
            target.https
                && policy::host_matches(&r.host, &target.host)
                && r.path == path
                && method == "POST"
        })
        .cloned();
    let _refreshing = match &refresh {
        Some(_) => Some(shared.refreshing.lock().await),
        None => None,
    };
    let (body, verdict) =
        match request_body(body, &mut parts, route, refresh.as_ref(), &shared, &config).await {
            Ok(read) => read,
            Err(body::Refused::Block(b)) => return deny(b),
            Err(body::Refused::Malformed) => {
                return plain(StatusCode::BAD_REQUEST, "the request body is malformed")
            }
            Err(body::Refused::TooSlow) => {
                return plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body took too long",
                )
            }
        };
    // Credentials: strip what the agent sent, inject the real one.
    for h in CREDENTIAL_HEADERS {
        if injecting || *h == "proxy-authorization" {
            parts.headers.remove(*h);
        }
    }
    parts.headers.remove(PROXY_AUTHORIZATION);
    parts
        .headers
        .remove(HeaderName::from_static("proxy-connection"));
    let injected = match inject(&mut parts.headers, route, &shared, &target) {
        Ok(injected) => injected,
        Err((status, why)) => return plain(status, &why),
    };
    if let Err((status, why)) = address(&mut parts, &target) {
        return plain(status, &why);
    }
    let outgoing = Request::from_parts(parts, body);
    let sent = shared.upstream().send(outgoing).await;
    // A streamed body the scan refused part-way: the upstream request was
    // aborted before the refused window; the agent gets the refusal.
    if let Some(b) = verdict.as_ref().and_then(body::Verdict::refused) {
        return deny(b);
    }
    let resp = match sent {
        Ok(resp) => resp,
        Err(DialError::Blocked(b)) => return deny(b),
        Err(DialError::Failed(f)) => return failed(&shared, peer, &method, &path, &f),
    };
    audit(
        &shared,
        peer,
        &target.host,
        &method,
        &path,
        Decision::Allowed,
        None,
    );
    answer(resp, refresh, injected, &shared).await
}

/// The request's body as upstream gets it: scanned unless its route says
/// not (decoded as it comes where it is in a content coding, and sent on
/// decoded), a token grant read whole and given the real token, others
/// streamed; with the scan's verdict where the body streams.
async fn request_body(
    body: Incoming,
    parts: &mut http::request::Parts,
    route: &RouteConfig,
    refresh: Option<&tokens::RefreshConfig>,
    shared: &Shared,
    config: &Config,
) -> Result<(Body, Option<body::Verdict>), body::Refused> {
    let scan_body =
        super::policy::route_handling(route) != (Handling::Intercept { scan_body: false });
    let cap = config.limits.body_bytes;
    let codings = match parts
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(",")
    {
        e if e.is_empty() => Vec::new(),
        e => match Coding::parse_header(&e) {
            Ok(c) => c,
            // Not scanned: passed as it is, whatever it says.
            Err(_) if !scan_body && refresh.is_none() => Vec::new(),
            Err(u) => return Err(body::Refused::Block(Block::Undecodable(u))),
        },
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if scan_body && declared.is_some_and(|n| n > cap) {
        return Err(body::Refused::Block(Block::BodyTooLarge(cap)));
    }
    let form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut verdict = None;
    let body: Body = if scan_body || refresh.is_some() {
        // A body in a content coding is decoded as it comes and sent on
        // decoded, so upstream reads what the scan read; a token grant is
        // rewritten, so read whole. Others stream when large.
        let decoding = !codings.is_empty();
        let scanned = body::scan(
            body,
            body::Reading {
                codings,
                cap,
                stream_ok: refresh.is_none(),
                form: form && scan_body,
            },
        )
        .await;
        if decoding {
            parts.headers.remove(http::header::CONTENT_ENCODING);
            parts.headers.remove(http::header::CONTENT_LENGTH);
        }
        match scanned? {
            body::Scanned::Streaming(b, v) => {
                verdict = Some(v);
                b
            }
            body::Scanned::Whole(bytes) => {
                let bytes = match refresh {
                    // The agent's grant names a placeholder; upstream gets
                    // the real one.
                    Some(r) => match tokens::rewrite_grant(
                        &bytes,
                        &shared.tokens.get(&r.refresh_env).unwrap_or_default(),
                    ) {
                        Some(b) => {
                            parts.headers.remove(http::header::CONTENT_LENGTH);
                            // The answer is read and rewritten: ask for it
                            // uncompressed.
                            parts.headers.remove(http::header::ACCEPT_ENCODING);
                            Bytes::from(b)
                        }
                        None => bytes,
                    },
                    None => bytes,
                };
                full(bytes)
            }
        }
    } else {
        // Not scanned: streamed, never held whole.
        body.map_err(BoxError::from).boxed()
    };
    Ok((body, verdict))
}

/// A request bb cannot send: what it answers itself (a status, one line).
type Unsent = (StatusCode, String);

/// The route's credential, put in as its scheme says; the token, to be
/// scrubbed from the answer. An answer of bb's own where it cannot be.
fn inject(
    headers: &mut http::HeaderMap,
    route: &RouteConfig,
    shared: &Shared,
    target: &Target,
) -> Result<Option<String>, Unsent> {
    let Some(auth) = &route.auth else {
        return Ok(None);
    };
    let Some(token) = shared.tokens.get(&auth.token_env) else {
        return Err((
            StatusCode::BAD_GATEWAY,
            format!(
                "the credential for {} ({}) is not set in the bottle; restart it with the variable exported",
                target.host, auth.token_env
            ),
        ));
    };
    let Ok(value) = HeaderValue::from_str(&format!("{} {token}", auth.scheme)) else {
        return Err((
            StatusCode::BAD_GATEWAY,
            "the route's credential is not a valid header value".into(),
        ));
    };
    headers.insert(AUTHORIZATION, value);
    // The answer is scrubbed of the token: ask for it uncompressed so the
    // scrubber can read it.
    headers.remove(http::header::ACCEPT_ENCODING);
    Ok(Some(token))
}

/// Absolute form for the pool (it keys connections by scheme, host and
/// port, and dials only what the route allows); origin form on the wire,
/// with the Host the route is for.
fn address(parts: &mut http::request::Parts, target: &Target) -> Result<(), Unsent> {
    let scheme = if target.https { "https" } else { "http" };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let authority = if target.host.contains(':') && !target.host.starts_with('[') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    parts.uri = match format!("{scheme}://{authority}{pq}").parse::<Uri>() {
        Ok(u) => u,
        Err(_) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "the request target is malformed".into(),
            ))
        }
    };
    let default_port = if target.https { 443 } else { 80 };
    let host_header = if target.port == default_port {
        target.host.clone()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    if let Ok(v) = HeaderValue::from_str(&host_header) {
        parts.headers.insert(HOST, v);
    }
    Ok(())
}
