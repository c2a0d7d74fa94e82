//! The upstream side of a forwarded request: dial the address egress
//! checked, TLS to the route's host with the upstream roots, one HTTP/1
//! exchange, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::config::Config;
use super::proxy::{Body, Shared, Target};

pub async fn send(
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
