//! The connections: accept, a slot each (shedding the idlest when all are
//! taken), HTTP/1 served on the client's stream or inside a tunnel, and
//! each connection marked busy or idle as its requests come and go.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::answer::{Body, BoxError};
use super::proxy::handle;
use super::shared::Shared;
use super::slots::Slot;

/// Accept connections until the listener fails.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    loop {
        // Out of file descriptors (or another passing error): wait and go
        // on; the bottle must not lose its way out.
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors: the idlest connection makes room.
                shared.slots.shed_idlest();
                eprintln!("bb-sidecar egress: accept failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // All slots taken: the idlest connection makes way; only when
            // every one is busy is this one refused.
            let Some(slot) = shared.slots.take(Duration::from_secs(1)).await else {
                let mut s = stream;
                let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await;
                return;
            };
            let _ = stream.set_nodelay(true);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
            let shed = slot.shed_signal();
            let held: Held = Arc::new(std::sync::Mutex::new(Some(slot)));
            let conn = serve_http(stream, peer, shared, None, held.clone());
            tokio::pin!(conn);
            tokio::select! {
                _ = &mut conn => {}
                _ = shed.notified() => {
                    // Shed before it ever got a request through (slow or
                    // silent): tell it why. The socket is still open: the
                    // connection future is alive until this block ends.
                    let never_served = held
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        .is_some_and(|s| !s.served());
                    if never_served {
                        send_now(fd, b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
                    }
                }
            }
        });
    }
}

/// Write what fits into the socket without waiting, and never raise
/// SIGPIPE: a last word before a shed connection is dropped.
fn send_now(fd: std::os::fd::RawFd, bytes: &[u8]) {
    // SAFETY: `fd` is the open socket of a connection whose stream is still
    // alive in the caller's scope; the buffer is valid for its length.
    unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// A connection's slot under `max_connections`. A CONNECT hands it on to
/// the tunnel, which keeps it for as long as it lives.
pub(super) type Held = Arc<std::sync::Mutex<Option<Slot>>>;

/// Run `f` on the slot, if this connection still holds it.
pub(super) fn with_slot(held: &Held, f: impl FnOnce(&Slot)) {
    if let Some(s) = held.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        f(s);
    }
}

/// Serve HTTP/1 on a stream: the client's own connection, or the decrypted
/// inside of an intercepted tunnel (`tunnel` names its host and port).
pub(super) async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tunnel: Option<(String, u16)>,
    held: Held,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.config().limits.clone();
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let tunnel = tunnel.clone();
        let held = held.clone();
        async move {
            with_slot(&held, Slot::busy);
            let resp = handle(req, peer, shared, tunnel, held.clone()).await;
            // Idle again once the answer has gone out.
            Ok::<_, Infallible>(resp.map(|b| Idles { inner: b, held }.boxed()))
        }
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs))
        .max_buf_size(limits.header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await;
}

/// A response body that marks its connection idle when it is done.
struct Idles {
    inner: Body,
    held: Held,
}

impl hyper::body::Body for Idles {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Idles {
    fn drop(&mut self) {
        with_slot(&self.held, Slot::idle);
    }
}
