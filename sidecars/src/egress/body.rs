//! Request bodies on scanned routes. A small body (most API calls) is read
//! whole and scanned before anything goes upstream. A large one streams:
//! it is scanned a window at a time on the blocking pool, each window
//! forwarded only once scanned, with its tail held back and scanned again
//! with the next (so a secret across two windows is seen whole and never
//! half sent). A finding, or the cap, aborts the upstream request and the
//! agent gets the refusal. Memory per upload: about two windows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

use super::policy::Block;
use super::proxy::{Body, BoxError};
use crate::dlp;

/// Bodies up to this size are read whole and scanned before the request
/// goes upstream.
pub const WHOLE_UP_TO: usize = 64 * 1024;
/// Plain bodies up to this size are scanned on the async worker.
const INLINE_SCAN: usize = 16 * 1024;
/// The bytes scanned at a time in a streamed body.
const WINDOW: usize = 64 * 1024;
/// The tail of each window held back and scanned again with the next:
/// more than any secret shape or the stretch read around an escape.
const TAIL: usize = 4 * 1024;
/// How long the agent may take to send the next part of a body.
const BODY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the scan of a streamed body concluded; set when it refused.
#[derive(Clone, Default)]
pub struct Verdict(Arc<Mutex<Option<Block>>>);

impl Verdict {
    pub fn refused(&self) -> Option<Block> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn refuse(&self, b: Block) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(b);
    }
}

/// Why a body cannot go upstream as it is.
pub enum Refused {
    Block(Block, http::StatusCode),
    Malformed,
    TooSlow,
}

/// A body ready to forward: whole and scanned, or streaming with its
/// verdict to check after the exchange.
pub enum Scanned {
    Whole(Bytes),
    Streaming(Body, Verdict),
}

/// The body as the upstream reads it, for scanning: UTF-16 and compressed
/// bodies are decoded, so they are read whole (up to the cap).
pub async fn scan(
    body: Incoming,
    encoding: &str,
    cap: usize,
    stream_ok: bool,
) -> Result<Scanned, Refused> {
    let mut body = body;
    let mut first = BytesMut::new();
    // Read up to WHOLE_UP_TO (or all of it, when it cannot stream).
    let limit = if stream_ok { WHOLE_UP_TO } else { cap };
    loop {
        if first.len() > limit {
            break;
        }
        match tokio::time::timeout(BODY_TIMEOUT, body.frame()).await {
            Err(_) => return Err(Refused::TooSlow),
            Ok(None) => {
                let bytes = first.freeze();
                check_whole(bytes.clone(), encoding, cap).await?;
                return Ok(Scanned::Whole(bytes));
            }
            Ok(Some(Err(_))) => return Err(Refused::Malformed),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    first.extend_from_slice(&data);
                    if first.len() > cap {
                        return Err(Refused::Block(
                            Block::BodyTooLarge(cap),
                            http::StatusCode::PAYLOAD_TOO_LARGE,
                        ));
                    }
                }
            }
        }
    }
    // Too large to read whole: stream it, starting with what was read.
    let verdict = Verdict::default();
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(pump(body, first, cap, tx, verdict.clone()));
    Ok(Scanned::Streaming(
        Receiver(rx).map_err(BoxError::from).boxed(),
        verdict,
    ))
}

/// Scan a whole body (decoded as the upstream will read it) off the async
/// workers.
async fn check_whole(bytes: Bytes, encoding: &str, cap: usize) -> Result<(), Refused> {
    let encoding = encoding.to_string();
    let small = bytes.len() <= INLINE_SCAN && matches!(encoding.as_str(), "" | "identity");
    let check = move || {
        let plain = dlp::decode_body(&encoding, &bytes, cap).map_err(Block::Undecodable)?;
        match dlp::scan_bytes(&plain) {
            Some(f) => Err(Block::Secret {
                rule: f.rule,
                place: "body",
            }),
            None => Ok(()),
        }
    };
    // A small body scans in well under a millisecond: the hand-off to the
    // blocking pool would cost more than it saves.
    let found = if small {
        check()
    } else {
        off_workers(check)
            .await
            .unwrap_or_else(|| Err(Block::Undecodable("the body scan failed".into())))
    };
    found.map_err(|b| Refused::Block(b, http::StatusCode::FORBIDDEN))
}

/// Run a scan on the blocking pool, as many at once as there are cores:
/// more would not scan faster, and each thread holds memory of its own
/// (64 uploads at once peaked 30 MiB higher without the limit). None if
/// the scan panicked.
async fn off_workers<T: Send + 'static>(scan: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static GATE: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let gate = GATE.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _turn = gate.acquire().await.ok()?;
    tokio::task::spawn_blocking(scan).await.ok()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

type Item = Result<Frame<Bytes>, BodyError>;

/// Read the agent's body, scan each window, send on what passed.
async fn pump(
    mut body: Incoming,
    mut window: BytesMut,
    cap: usize,
    tx: mpsc::Sender<Item>,
    verdict: Verdict,
) {
    let mut total = window.len();
    // Bytes at the start of `window` already scanned (the held tail).
    let mut done = 0;
    let mut trailers = None;
    loop {
        let ended = if window.len() - done >= WINDOW {
            false
        } else {
            match tokio::time::timeout(BODY_TIMEOUT, body.frame()).await {
                Err(_) | Ok(Some(Err(_))) => {
                    let _ = tx
                        .send(Err(BodyError("the agent's body broke off".into())))
                        .await;
                    return;
                }
                Ok(None) => true,
                Ok(Some(Ok(frame))) => {
                    match frame.into_data() {
                        Ok(data) => {
                            total += data.len();
                            if total > cap {
                                refuse(&verdict, &tx, Block::BodyTooLarge(cap)).await;
                                return;
                            }
                            window.extend_from_slice(&data);
                        }
                        Err(frame) => trailers = frame.into_trailers().ok(),
                    }
                    continue;
                }
            }
        };
        let buf = window.split().freeze();
        let scanned = buf.clone();
        let finding = off_workers(move || dlp::scan_bytes(&scanned))
            .await
            .flatten();
        if let Some(f) = finding {
            let b = Block::Secret {
                rule: f.rule,
                place: "body",
            };
            refuse(&verdict, &tx, b).await;
            return;
        }
        let keep = if ended { 0 } else { dlp::held_back(&buf, TAIL) };
        let send = buf.slice(..buf.len() - keep);
        if !send.is_empty() && tx.send(Ok(Frame::data(send))).await.is_err() {
            return;
        }
        if ended {
            if let Some(t) = trailers {
                let _ = tx.send(Ok(Frame::trailers(t))).await;
            }
            return;
        }
        window.extend_from_slice(&buf[buf.len() - keep..]);
        done = keep;
    }
}

/// Record the refusal, then end the upstream body with an error, so the
/// upstream request is aborted rather than ended short.
async fn refuse(verdict: &Verdict, tx: &mpsc::Sender<Item>, b: Block) {
    verdict.refuse(b);
    let _ = tx
        .send(Err(BodyError("refused by the egress scan".into())))
        .await;
}

/// The scanned body as the upstream request's body.
struct Receiver(mpsc::Receiver<Item>);

impl hyper::body::Body for Receiver {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Item>> {
        self.0.poll_recv(cx)
    }
}
