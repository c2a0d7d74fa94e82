//! The forward proxy: plain HTTP and CONNECT on one port. Each request is
//! checked in order (host, path, DLP, credential injection, SSRF on the
//! address actually dialled) and refused with a one-line 403 that starts
//! with the marker. TLS is intercepted with the bottle CA unless the route
//! passes it through, in which case only the SNI is checked.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::audit::{now_ms, Audit, Record};
use super::certs::Minter;
use super::config::{Config, RouteConfig};
use super::policy::{self, Block, Handling};
use super::tokens::{self, Tokens};
use crate::dlp;

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that carry credentials; removed from what the agent sends on
/// routes where the proxy injects one.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// Everything the connections share. The config is swapped on reload;
/// connections already open keep the one they started with.
pub struct Shared {
    pub config: RwLock<Arc<Config>>,
    pub minter: Minter,
    pub tokens: Tokens,
    /// One refresh at a time: refresh tokens rotate, so a second grant
    /// must wait for the token the first one brings.
    pub refreshing: tokio::sync::Mutex<()>,
    pub audit: Audit,
    pub upstream_tls: Arc<rustls::ClientConfig>,
    pub permits: Arc<Semaphore>,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn replace_config(&self, c: Config) {
        crate::dlp::set_bip39(c.dlp.bip39);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c);
    }
}

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

fn refuse(status: StatusCode, block: &Block) -> Response<Body> {
    let mut r = Response::new(full(block.body()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-bb-egress", HeaderValue::from_static("blocked"));
    r
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("bb egress: {text}\n")));
    *r.status_mut() = status;
    r
}

/// Accept connections until the listener fails.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    loop {
        // Out of file descriptors (or another passing error): wait and go
        // on; the bottle must not lose its way out.
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bb-sidecar egress: accept failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
            // Over the connection limit: say so and close, at once.
            tokio::spawn(async move {
                let mut s = stream;
                let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await;
            });
            continue;
        };
        tokio::spawn(async move {
            let slot: Slot = Arc::new(std::sync::Mutex::new(Some(permit)));
            let _ = stream.set_nodelay(true);
            serve_http(stream, peer, shared, None, slot).await;
        });
    }
}

/// A connection's place under `max_connections`. A CONNECT hands it on to
/// the tunnel, which keeps it for as long as it lives.
type Slot = Arc<std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>;

/// Serve HTTP/1 on a stream: the client's own connection, or the decrypted
/// inside of an intercepted tunnel (`tunnel` names its host and port).
async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    slot: Slot,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.config().limits.clone();
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let tunnel = tunnel.clone();
        let slot = slot.clone();
        async move { Ok::<_, Infallible>(handle(req, peer, shared, tunnel, slot).await) }
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs))
        .max_buf_size(limits.header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await;
}

type Tls = tokio_rustls::server::TlsStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The inside of an intercepted tunnel. Boxed: serving it handles requests,
/// which may open tunnels, so the future type would otherwise recurse.
fn serve_tunnel(
    stream: Tls,
    peer: SocketAddr,
    shared: Arc<Shared>,
    host: String,
    port: u16,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    // The tunnel task holds the slot; its inside needs none.
    let slot: Slot = Arc::new(std::sync::Mutex::new(None));
    Box::pin(serve_http(stream, peer, shared, Some((host, port)), slot))
}

struct Target {
    https: bool,
    host: String,
    port: u16,
}

fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    slot: Slot,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
    Box::pin(handle_inner(req, peer, shared, tunnel, slot))
}

async fn handle_inner(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    slot: Slot,
) -> Response<Body> {
    let config = shared.config();
    if req.method() == Method::CONNECT {
        if tunnel.is_some() {
            return plain(
                StatusCode::BAD_REQUEST,
                "CONNECT inside a tunnel is not supported",
            );
        }
        return connect(req, peer, shared, config, slot).await;
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
                        "blocked",
                        Some(block.rule()),
                    );
                    return refuse(StatusCode::FORBIDDEN, &block);
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

fn audit(
    shared: &Shared,
    peer: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    decision: &str,
    rule: Option<String>,
) {
    shared.audit.record(Record {
        time_ms: now_ms(),
        client: peer.to_string(),
        host,
        method,
        path,
        decision,
        rule,
    });
}

/// Resolve `host` and pick the first address the route may reach.
async fn resolve(route: &RouteConfig, host: &str, port: u16) -> Result<SocketAddr, Block> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| Block::Resolve(host.to_string()))?
            .collect(),
    };
    let mut last = Block::Resolve(host.to_string());
    for a in addrs {
        match policy::check_ip(route, host, a.ip()) {
            Ok(()) => return Ok(a),
            Err(b) => last = b,
        }
    }
    Err(last)
}

async fn connect(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    config: Arc<Config>,
    slot: Slot,
) -> Response<Body> {
    let Some(authority) = req.uri().authority().cloned() else {
        return plain(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    let host = authority.host().to_ascii_lowercase();
    let Some(port) = authority.port_u16().filter(|p| *p != 0) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "CONNECT needs host:port with a port from 1 to 65535",
        );
    };
    // The tunnel keeps the connection's slot for as long as it lives.
    let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(slot) = taken.or_else(|| shared.permits.clone().try_acquire_owned().ok()) else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many open connections; try again shortly",
        );
    };
    // Data smuggled in a subdomain (`<secret>.allowed.example`).
    if let Some(f) = dlp::scan_host(&host) {
        let b = Block::Secret {
            rule: f.rule,
            place: "host",
        };
        audit(
            &shared,
            peer,
            "[redacted]",
            "CONNECT",
            "",
            "blocked",
            Some(b.rule()),
        );
        return refuse(StatusCode::FORBIDDEN, &b);
    }
    let blocked = |b: Block| {
        audit(
            &shared,
            peer,
            &host,
            "CONNECT",
            "",
            "blocked",
            Some(b.rule()),
        );
        refuse(StatusCode::FORBIDDEN, &b)
    };
    let route = match policy::check_host(&config, &host) {
        Ok(r) => r.clone(),
        Err(b) => return blocked(b),
    };
    if !route.allows_port(port) {
        return blocked(Block::PortNotAllowed {
            host: host.clone(),
            port,
        });
    }
    let idle = Duration::from_secs(config.limits.idle_timeout_secs);
    let connect_timeout = Duration::from_secs(config.limits.connect_timeout_secs);
    if route.handling() == Handling::Tunnel {
        let addr = match resolve(&route, &host, port).await {
            Ok(a) => a,
            Err(b) => return blocked(b),
        };
        audit(&shared, peer, &host, "CONNECT", "", "tunnel", None);
        let shared2 = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(upgraded) = hyper::upgrade::on(req).await else {
                return;
            };
            let mut client = TokioIo::new(upgraded);
            // Only the SNI is checked: it must name a host this route allows.
            let (hello, sni) = match read_client_hello(&mut client).await {
                Some(x) => x,
                None => return,
            };
            let sni_ok = sni
                .as_deref()
                .map(|s| s == host || policy::host_matches(&route.host, s))
                .unwrap_or(false);
            if !sni_ok {
                let rule = Some(format!("sni-mismatch:{}", sni.unwrap_or_default()));
                audit(&shared2, peer, &host, "CONNECT", "", "blocked", rule);
                return;
            }
            let Ok(Ok(mut upstream)) =
                tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await
            else {
                return;
            };
            if upstream.write_all(&hello).await.is_err() {
                return;
            }
            pump(&mut client, &mut upstream, idle).await;
        });
        return Response::new(full(""));
    }
    let tls = match shared.minter.server_config(&host) {
        Ok(c) => c,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    audit(&shared, peer, &host, "CONNECT", "", "intercept", None);
    tokio::spawn(async move {
        let _slot = slot;
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let Ok(Ok(stream)) =
            tokio::time::timeout(idle, acceptor.accept(TokioIo::new(upgraded))).await
        else {
            return;
        };
        serve_tunnel(stream, peer, shared, host, port).await;
    });
    Response::new(full(""))
}

/// Read the TLS ClientHello (buffering it to replay upstream) and its SNI.
async fn read_client_hello<S: AsyncRead + Unpin>(s: &mut S) -> Option<(Vec<u8>, Option<String>)> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut reader = &chunk[..n];
        acceptor.read_tls(&mut reader).ok()?;
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let sni = accepted
                    .client_hello()
                    .server_name()
                    .map(|s| s.to_ascii_lowercase());
                return Some((buf, sni));
            }
            Ok(None) => continue,
            Err(_) => return None,
        }
    }
}

/// Copy both ways until either side closes or nothing moves for `idle`.
async fn pump<A, B>(a: &mut A, b: &mut B, idle: Duration)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let mut abuf = vec![0u8; 16 * 1024];
    let mut bbuf = vec![0u8; 16 * 1024];
    loop {
        let step = tokio::time::timeout(idle, async {
            tokio::select! {
                r = ar.read(&mut abuf) => match r { Ok(0) | Err(_) => false, Ok(n) => bw.write_all(&abuf[..n]).await.is_ok() },
                r = br.read(&mut bbuf) => match r { Ok(0) | Err(_) => false, Ok(n) => aw.write_all(&bbuf[..n]).await.is_ok() },
            }
        })
        .await;
        if !matches!(step, Ok(true)) {
            break;
        }
    }
    let _ = aw.shutdown().await;
    let _ = bw.shutdown().await;
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
    let deny = |b: Block, status: StatusCode| {
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
            "blocked",
            Some(b.rule()),
        );
        refuse(status, &b)
    };
    if let Some(f) = dlp::scan_host(&target.host) {
        return deny(
            Block::Secret {
                rule: f.rule,
                place: "host",
            },
            StatusCode::FORBIDDEN,
        );
    }
    let route = match policy::check_host(&config, &target.host) {
        Ok(r) => r.clone(),
        Err(b) => return deny(b, StatusCode::FORBIDDEN),
    };
    if !route.allows_port(target.port) {
        return deny(
            Block::PortNotAllowed {
                host: target.host.clone(),
                port: target.port,
            },
            StatusCode::FORBIDDEN,
        );
    }
    if let Err(b) = policy::check_path(&route, &target.host, &path) {
        return deny(b, StatusCode::FORBIDDEN);
    }
    // A credential is injected only into TLS: plain HTTP would hand it to
    // anything on the path.
    if route.auth.is_some() && !target.https {
        return deny(
            Block::CredentialNeedsTls(target.host.clone()),
            StatusCode::FORBIDDEN,
        );
    }
    // DLP: the URL (decoded), every header the agent sent, then the body.
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if let Some(f) = dlp::scan(&dlp::percent_decode(&path_and_query)) {
        let place = if f.at >= path.len() { "query" } else { "path" };
        return deny(
            Block::Secret {
                rule: f.rule,
                place,
            },
            StatusCode::FORBIDDEN,
        );
    }
    let injecting = route.auth.is_some();
    for (name, value) in req.headers() {
        if injecting && CREDENTIAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let text = format!(
            "{}: {}",
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes())
        );
        if let Some(f) = dlp::scan(&text) {
            return deny(
                Block::Secret {
                    rule: f.rule,
                    place: "headers",
                },
                StatusCode::FORBIDDEN,
            );
        }
    }
    // A secret split over several headers.
    let values: Vec<String> = req
        .headers()
        .iter()
        .filter(|(n, _)| !(injecting && CREDENTIAL_HEADERS.contains(&n.as_str())))
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if let Some(f) = dlp::scan_joined(values.iter().map(String::as_str)) {
        return deny(
            Block::Secret {
                rule: f.rule,
                place: "headers",
            },
            StatusCode::FORBIDDEN,
        );
    }
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
    let scan_body = route.handling() != (Handling::Intercept { scan_body: false });
    let cap = config.limits.body_bytes;
    let body: Body = if scan_body || refresh.is_some() {
        let bytes =
            match tokio::time::timeout(Duration::from_secs(120), Limited::new(body, cap).collect())
                .await
            {
                Ok(Ok(b)) => b.to_bytes(),
                Ok(Err(e))
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return deny(Block::BodyTooLarge(cap), StatusCode::PAYLOAD_TOO_LARGE)
                }
                Ok(Err(_)) => {
                    return plain(StatusCode::BAD_REQUEST, "the request body is malformed")
                }
                Err(_) => {
                    return plain(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body took too long",
                    )
                }
            };
        if scan_body {
            // Scanned as the upstream will read it: decompressed, or refused.
            let encoding = parts
                .headers
                .get(http::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let plain = match decoded_body(&encoding, &bytes, cap) {
                Ok(p) => p,
                Err(why) => return deny(Block::Undecodable(why), StatusCode::FORBIDDEN),
            };
            if let Some(f) = dlp::scan_bytes(&plain) {
                return deny(
                    Block::Secret {
                        rule: f.rule,
                        place: "body",
                    },
                    StatusCode::FORBIDDEN,
                );
            }
        }
        let bytes = match &refresh {
            // The agent's grant names a placeholder; upstream gets the real one.
            Some(r) => match tokens::rewrite_grant(
                &bytes,
                &shared.tokens.get(&r.refresh_env).unwrap_or_default(),
            ) {
                Some(b) => {
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                    // The answer is read and rewritten: ask for it uncompressed.
                    parts.headers.remove(http::header::ACCEPT_ENCODING);
                    Bytes::from(b)
                }
                None => bytes,
            },
            None => bytes,
        };
        full(bytes)
    } else {
        // Not scanned: streamed, never held whole.
        body.boxed()
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
    let mut injected: Option<String> = None;
    if let Some(auth) = &route.auth {
        match shared.tokens.get(&auth.token_env) {
            Some(token) => match HeaderValue::from_str(&format!("{} {token}", auth.scheme)) {
                Ok(v) => {
                    parts.headers.insert(AUTHORIZATION, v);
                    // The answer is scrubbed of the token: ask for it
                    // uncompressed so the scrubber can read it.
                    parts.headers.remove(http::header::ACCEPT_ENCODING);
                    injected = Some(token);
                }
                Err(_) => return plain(StatusCode::BAD_GATEWAY, "the route's credential is not a valid header value"),
            },
            None => {
                return plain(
                    StatusCode::BAD_GATEWAY,
                    &format!("the credential for {} ({}) is not set in the bottle; restart it with the variable exported", target.host, auth.token_env),
                )
            }
        }
    }
    let addr = match resolve(&route, &target.host, target.port).await {
        Ok(a) => a,
        Err(b) => return deny(b, StatusCode::FORBIDDEN),
    };
    // Origin-form on the wire, with the Host the route is for.
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = pq.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/"));
    let default_port = if target.https { 443 } else { 80 };
    let host_header = if target.port == default_port {
        target.host.clone()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    if let Ok(v) = HeaderValue::from_str(&host_header) {
        parts.headers.insert(HOST, v);
    }
    let outgoing = Request::from_parts(parts, body);
    audit(&shared, peer, &target.host, &method, &path, "allowed", None);
    let resp = match send(outgoing, &target, addr, &shared, &config).await {
        Ok(resp) => resp,
        Err(e) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                &format!("upstream {} failed: {e}", target.host),
            )
        }
    };
    match (refresh, injected) {
        (Some(r), _) if resp.status().is_success() => keep_issued(resp, &r, &shared).await,
        (_, Some(token)) => {
            let (mut parts, body) = resp.into_parts();
            super::scrub::headers(&mut parts.headers, &token);
            // The length may change where a token is replaced.
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, super::scrub::Scrubbed::new(body, &token).boxed())
        }
        _ => resp.map(|b| b.boxed()),
    }
}

/// A request body as its content encoding says to read it. Encodings the
/// scanner cannot read are refused rather than passed unscanned; a body
/// that inflates past `cap` is refused too.
fn decoded_body<'a>(
    encoding: &str,
    bytes: &'a [u8],
    cap: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    use std::io::Read;
    let inflate = |r: &mut dyn Read| -> Result<std::borrow::Cow<'a, [u8]>, String> {
        let mut out = Vec::new();
        r.take(cap as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("the {encoding} body does not decode ({e})"))?;
        if out.len() > cap {
            return Err(format!("the {encoding} body inflates past {cap} bytes"));
        }
        Ok(std::borrow::Cow::Owned(out))
    };
    match encoding {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(bytes)),
        "gzip" | "x-gzip" => inflate(&mut flate2::read::GzDecoder::new(bytes)),
        "deflate" => inflate(&mut flate2::read::ZlibDecoder::new(bytes)),
        other => Err(format!(
            "the body's content encoding {other:?} cannot be scanned; send it uncompressed, gzip or deflate"
        )),
    }
}

/// A token endpoint's answer: egress keeps the new tokens, the agent gets
/// placeholders. An answer that cannot be read whole is refused rather
/// than passed on with real tokens in it.
async fn keep_issued(
    resp: Response<Incoming>,
    r: &tokens::RefreshConfig,
    shared: &Shared,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let Ok(Ok(bytes)) = tokio::time::timeout(
        Duration::from_secs(30),
        Limited::new(body, 1024 * 1024).collect(),
    )
    .await
    else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the token endpoint's answer could not be read",
        );
    };
    let Some((issued, answer)) = tokens::rewrite_answer(&bytes.to_bytes(), &r.placeholder) else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the token endpoint's answer has no access_token",
        );
    };
    shared.tokens.set(&r.access_env, issued.access);
    if let Some(refresh) = issued.refresh {
        shared.tokens.set(&r.refresh_env, refresh);
    }
    for h in [
        http::header::CONTENT_LENGTH,
        http::header::TRANSFER_ENCODING,
        http::header::CONTENT_ENCODING,
    ] {
        parts.headers.remove(h);
    }
    Response::from_parts(parts, full(answer))
}

async fn send(
    req: Request<Body>,
    target: &Target,
    addr: SocketAddr,
    shared: &Shared,
    config: &Config,
) -> Result<Response<Incoming>, String> {
    let timeout = Duration::from_secs(config.limits.connect_timeout_secs);
    let answer = Duration::from_secs(config.limits.response_timeout_secs);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    if target.https {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(shared.upstream_tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        within(answer, exchange(TokioIo::new(tls), req)).await
    } else {
        within(answer, exchange(TokioIo::new(tcp), req)).await
    }
}

/// An upstream that never answers must not hold the agent forever.
async fn within(
    limit: Duration,
    f: impl std::future::Future<Output = Result<Response<Incoming>, String>>,
) -> Result<Response<Incoming>, String> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| format!("no answer within {} s", limit.as_secs()))?
}

async fn exchange<S>(io: S, req: Request<Body>) -> Result<Response<Incoming>, String>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}
