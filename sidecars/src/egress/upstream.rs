//! The upstream side of a forwarded request: a pool of connections per
//! scheme, host and port (hyper-util's client, TLS by hyper-rustls with
//! the upstream roots, sessions resumed), each dialled only to an address
//! the route may reach. Answers are bounded in time.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::answer::Body;
use super::config::Config;
use super::policy::{self, Block};
use super::proxy::resolve;

/// Why a connection could not be made: refused by policy (the agent gets
/// the 403 and its reason), or the network failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DialError {
    #[error("{0:?}")]
    Blocked(Block),
    #[error("{0}")]
    Failed(Failure),
}

/// An allowed request that could not reach its upstream: the network's or
/// the server's doing, never a policy refusal. The agent gets the gateway
/// error it is (502, or 504 for a timeout) with the reason; the audit log
/// says `failed`, and it is not counted as a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("{host} does not resolve ({why})")]
    Unresolvable { host: String, why: String },
    #[error("cannot connect to {host} ({why})")]
    Connect { host: String, why: String },
    #[error("the TLS handshake with {host} failed ({why})")]
    Tls { host: String, why: String },
    #[error("{host} did not answer within {secs} s")]
    Timeout { host: String, secs: u64 },
    #[error("the exchange with {host} broke off ({why})")]
    Broken { host: String, why: String },
}

impl Failure {
    /// The rule the audit log records.
    pub fn rule(&self) -> &'static str {
        match self {
            Failure::Unresolvable { .. } => "upstream-dns",
            Failure::Connect { .. } => "upstream-connect",
            Failure::Tls { .. } => "upstream-tls",
            Failure::Timeout { .. } => "upstream-timeout",
            Failure::Broken { .. } => "upstream-error",
        }
    }

    pub fn status(&self) -> http::StatusCode {
        match self {
            Failure::Timeout { .. } => http::StatusCode::GATEWAY_TIMEOUT,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// The answer's one line: what failed, and that it was no refusal.
    pub fn body(&self) -> String {
        format!("bb egress: {self}. The host is allowed: this is the network or the server, not a refusal; retrying may help.\n")
    }
}

/// Dials for the pool: the route is looked up in the config of the moment
/// and the address checked (SSRF) before the socket is opened.
#[derive(Clone)]
pub struct Dialer {
    config: Arc<Config>,
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<TcpStream>;
    type Error = DialError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, DialError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), DialError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_ascii_lowercase();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            let route = policy::check_host(&config, &host).map_err(DialError::Blocked)?;
            let addr: SocketAddr = resolve(route, &host, port).await?;
            let timeout = Duration::from_secs(config.limits.connect_timeout_secs);
            let failed = |why: String| {
                DialError::Failed(Failure::Connect {
                    host: host.clone(),
                    why,
                })
            };
            let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| failed(format!("no answer within {} s", timeout.as_secs())))?
                .map_err(|e| failed(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            Ok(TokioIo::new(tcp))
        })
    }
}

type Https = hyper_rustls::HttpsConnector<Dialer>;

/// The pool. A config reload makes a new one, so no connection outlives
/// the rules it was dialled under.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Https, Body>,
    answer: Duration,
}

/// Idle upstream connections kept per host and port.
const IDLE_PER_HOST: usize = 32;
/// How long an idle upstream connection is kept.
const IDLE_FOR: Duration = Duration::from_secs(60);

impl Upstream {
    pub fn new(config: Arc<Config>, tls: rustls::ClientConfig) -> Upstream {
        let answer = Duration::from_secs(config.limits.response_timeout_secs);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Dialer { config });
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_FOR)
            .pool_max_idle_per_host(IDLE_PER_HOST)
            // egress sets the Host the route is for.
            .set_host(false)
            .build(https);
        Upstream { client, answer }
    }

    /// Send `req` (absolute URI) on a pooled connection or a new one.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, DialError> {
        let host = req.uri().host().unwrap_or_default().to_string();
        match tokio::time::timeout(self.answer, self.client.request(req)).await {
            Err(_) => Err(DialError::Failed(Failure::Timeout {
                host,
                secs: self.answer.as_secs(),
            })),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify(&e, &host)),
        }
    }
}

/// What a client error was: the dialler's own verdict where it gave one,
/// a TLS failure, or the exchange breaking off.
fn classify(e: &(dyn std::error::Error + 'static), host: &str) -> DialError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(d) = err.downcast_ref::<DialError>() {
            return d.clone();
        }
        if err.downcast_ref::<rustls::Error>().is_some() {
            return DialError::Failed(Failure::Tls {
                host: host.to_string(),
                why: describe(e),
            });
        }
        cur = err.source();
    }
    DialError::Failed(Failure::Broken {
        host: host.to_string(),
        why: describe(e),
    })
}

/// The innermost cause: "connection refused" rather than "client error".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
