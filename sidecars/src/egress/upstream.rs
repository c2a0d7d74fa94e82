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

use super::config::Config;
use super::policy::{self, Block};
use super::proxy::{resolve, Body};

/// Why a connection could not be made: refused by policy (the agent gets
/// the 403 and its reason), or the network failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{0:?}")]
    Blocked(Block),
    #[error("{0}")]
    Failed(String),
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
            let addr: SocketAddr = resolve(route, &host, port)
                .await
                .map_err(DialError::Blocked)?;
            let timeout = Duration::from_secs(config.limits.connect_timeout_secs);
            let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| DialError::Failed("connect timed out".into()))?
                .map_err(|e| DialError::Failed(e.to_string()))?;
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
        match tokio::time::timeout(self.answer, self.client.request(req)).await {
            Err(_) => Err(DialError::Failed(format!(
                "no answer within {} s",
                self.answer.as_secs()
            ))),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(blocked_in(&e).unwrap_or_else(|| DialError::Failed(describe(&e)))),
        }
    }
}

/// The policy refusal behind a client error, if that is what it was.
fn blocked_in(e: &(dyn std::error::Error + 'static)) -> Option<DialError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(DialError::Blocked(b)) = err.downcast_ref::<DialError>() {
            return Some(DialError::Blocked(b.clone()));
        }
        cur = err.source();
    }
    None
}

/// The innermost cause: "connection refused" rather than "client error".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
