//! CONNECT: a blind tunnel with only the SNI checked on passthrough
//! routes, otherwise TLS intercepted with a leaf from the bottle CA and the
//! inside served as HTTP with every check. A tunnel keeps its connection's
//! slot under `max_connections` for as long as it lives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::answer::{failed, full, plain, refuse, Body};
use super::audit::Decision;
use super::config::Config;
use super::conn::{serve_http, Held};
use super::policy::{self, Block, Handling};
use super::proxy::{audit, resolve};
use super::shared::Shared;
use super::slots::Slot;
use super::upstream::DialError;
use crate::dlp;

type Tls = tokio_rustls::server::TlsStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The inside of an intercepted tunnel. Boxed: serving it handles requests,
/// which may open tunnels, so the future type would otherwise recurse.
fn serve_tunnel(
    stream: Tls,
    peer: SocketAddr,
    shared: Arc<Shared>,
    host: String,
    port: u16,
    held: Held,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(serve_http(stream, peer, shared, Some((host, port)), held))
}

/// The slot a new tunnel lives in: its connection's, handed on.
fn take_slot(held: &Held, shared: &Shared) -> Option<Slot> {
    let taken = held.lock().unwrap_or_else(|p| p.into_inner()).take();
    let slot = taken.or_else(|| shared.slots.try_take())?;
    // Busy with the CONNECT until now; a tunnel is idle until bytes move.
    slot.idle();
    Some(slot)
}

fn too_many() -> Response<Body> {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many open connections; try again shortly",
    )
}

pub(super) async fn connect(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    config: Arc<Config>,
    held: Held,
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
    // Data smuggled in a subdomain (`<secret>.allowed.example`).
    if let Some(f) = dlp::scan_host(&host) {
        let b = Block::secret(f.rule, "host");
        audit(
            &shared,
            peer,
            "[redacted]",
            "CONNECT",
            "",
            Decision::Blocked,
            Some(b.rule()),
        );
        return refuse(&b);
    }
    let blocked = |b: Block| {
        audit(
            &shared,
            peer,
            &host,
            "CONNECT",
            "",
            Decision::Blocked,
            Some(b.rule()),
        );
        refuse(&b)
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
    if super::policy::route_handling(&route) == Handling::Tunnel {
        let addr = match resolve(&route, &host, port).await {
            Ok(a) => a,
            Err(DialError::Blocked(b)) => return blocked(b),
            Err(DialError::Failed(f)) => return failed(&shared, peer, "CONNECT", "", &f),
        };
        // The tunnel keeps the connection's slot for as long as it lives.
        let Some(slot) = take_slot(&held, &shared) else {
            return too_many();
        };
        audit(&shared, peer, &host, "CONNECT", "", Decision::Tunnel, None);
        let shared2 = shared.clone();
        // Shed, at any stage, when it is the idlest and a new connection
        // needs room.
        let shed = slot.shed_signal();
        let work = async move {
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
                audit(
                    &shared2,
                    peer,
                    &host,
                    "CONNECT",
                    "",
                    Decision::Blocked,
                    rule,
                );
                return;
            }
            let Ok(Ok(mut upstream)) =
                tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await
            else {
                return;
            };
            // The pump writes what it reads: a TLS record read in two
            // parts must not wait out Nagle's delay.
            let _ = upstream.set_nodelay(true);
            if upstream.write_all(&hello).await.is_err() {
                return;
            }
            pump(&mut client, &mut upstream, idle, &slot).await;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = work => {}
                _ = shed.notified() => {}
            }
        });
        return Response::new(full(""));
    }
    let tls = match shared.minter.server_config(&host) {
        Ok(c) => c,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let Some(slot) = take_slot(&held, &shared) else {
        return too_many();
    };
    audit(
        &shared,
        peer,
        &host,
        "CONNECT",
        "",
        Decision::Intercept,
        None,
    );
    let shed = slot.shed_signal();
    let work = async move {
        let held: Held = Arc::new(std::sync::Mutex::new(Some(slot)));
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let Ok(Ok(stream)) =
            tokio::time::timeout(idle, acceptor.accept(TokioIo::new(upgraded))).await
        else {
            return;
        };
        serve_tunnel(stream, peer, shared, host, port, held).await;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = work => {}
            _ = shed.notified() => {}
        }
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

/// Copy both ways until both sides have closed, or nothing moves for
/// `idle`. Bytes moving mark the slot busy-then-idle (so the tunnel is not
/// the idlest); the idle clock is one timer per `idle`, not one per read.
async fn pump<A, B>(a: &mut A, b: &mut B, idle: Duration, slot: &Slot)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let moved = std::sync::atomic::AtomicBool::new(false);
    let mut a = Watched {
        inner: a,
        slot,
        moved: &moved,
    };
    // A TLS record each way (16 KiB), as before.
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut a, b, 16 * 1024, 16 * 1024);
    let watch = async {
        loop {
            tokio::time::sleep(idle).await;
            if !moved.swap(false, std::sync::atomic::Ordering::Relaxed) {
                return;
            }
        }
    };
    tokio::select! {
        _ = copy => {}
        _ = watch => {}
    }
}

/// The agent's side of a tunnel, noting each read that moved bytes.
struct Watched<'a, S> {
    inner: &'a mut S,
    slot: &'a Slot,
    moved: &'a std::sync::atomic::AtomicBool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved.store(true, std::sync::atomic::Ordering::Relaxed);
            self.slot.idle();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut *self.inner).poll_write(cx, data);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.moved.store(true, std::sync::atomic::Ordering::Relaxed);
            self.slot.idle();
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}
