//! Request bodies on scanned routes, read as the upstream will read them.
//! A small body (most API calls) is read whole and scanned before anything
//! goes upstream; a compressed file or archive sent as it is (by its magic
//! bytes) is read whole and unpacked to be scanned. A large one streams:
//! it is scanned a window at a time on the blocking pool, each window
//! forwarded only once scanned, with its tail held back and scanned again
//! with the next (so a secret across two windows is seen whole and never
//! half sent). A body with a content coding (gzip, deflate, br, zstd,
//! stacked) is decoded as it arrives, bounded against bombs, and what goes
//! upstream is the decoded body that was scanned (its coding dropped), so
//! the upstream reads exactly what the scan read. A finding, the cap or a
//! bomb aborts the upstream request and the agent gets the refusal.
//! Memory per upload: about two windows.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

use super::answer::{Body, BoxError};
use super::policy::Block;
use crate::dlp;
use crate::dlp::inflate::{self, Coding, Limits, Unreadable};

/// Bodies up to this size are read whole and scanned before the request
/// goes upstream.
pub const WHOLE_UP_TO: usize = 64 * 1024;
/// Bodies in a content coding are read whole up to this much decoded, past
/// where a decompression bomb shows (its ratio, past the floor): a bomb is
/// refused before anything is dialled, whatever the upstream does.
const CODED_WHOLE_UP_TO: usize = 4 * inflate::RATIO_FLOOR as usize;
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
#[derive(Debug, Clone)]
pub enum Refused {
    Block(Block),
    Malformed,
    TooSlow,
}

/// A body ready to forward: whole and scanned, or streaming with its
/// verdict to check after the exchange. Decoded when it had a coding.
pub enum Scanned {
    Whole(Bytes),
    Streaming(Body, Verdict),
}

/// How to read one request's body.
pub struct Reading {
    /// Its content codings, in the order applied (empty: as it is).
    pub codings: Vec<Coding>,
    /// The most it may hold, decoded.
    pub cap: usize,
    /// Large bodies may stream (else they are read whole, up to the cap).
    pub stream_ok: bool,
    /// An HTML form (`application/x-www-form-urlencoded`): its fields are
    /// read joined, as a server reads them.
    pub form: bool,
}

/// The body as the upstream reads it, scanned: whole, or streaming.
pub async fn scan(body: Incoming, how: Reading) -> Result<Scanned, Refused> {
    let cap = how.cap;
    let coded = !how.codings.is_empty();
    let mut src = if coded {
        Source::decoding(body, how.codings, cap)
    } else {
        Source::Plain(body)
    };
    let mut first = BytesMut::new();
    // Read up to WHOLE_UP_TO (or all of it, when it cannot stream).
    let limit = match (how.stream_ok, coded) {
        (false, _) => cap,
        (true, true) => CODED_WHOLE_UP_TO.min(cap),
        (true, false) => WHOLE_UP_TO,
    };
    let ended = read_into(&mut src, &mut first, limit, cap).await?;
    if ended || dlp::archive::sniff(&first).is_some() {
        // A compressed file or archive is unpacked whole to be read: the
        // rest of it first (up to the cap).
        if !ended {
            read_into(&mut src, &mut first, cap, cap).await?;
        }
        let bytes = first.freeze();
        check_whole(bytes.clone(), cap, how.form).await?;
        return Ok(Scanned::Whole(bytes));
    }
    // Too large to read whole: stream it, starting with what was read.
    let verdict = Verdict::default();
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(pump(src, first, cap, tx, verdict.clone()));
    Ok(Scanned::Streaming(
        Receiver(rx).map_err(BoxError::from).boxed(),
        verdict,
    ))
}

/// Read from `src` into `buf` until it holds more than `limit`; true when
/// the body ended first.
async fn read_into(
    src: &mut Source,
    buf: &mut BytesMut,
    limit: usize,
    cap: usize,
) -> Result<bool, Refused> {
    while buf.len() <= limit {
        match src.next().await {
            Next::End => return Ok(true),
            Next::Failed(r) => return Err(r),
            Next::Trailers(_) => {}
            Next::Data(data) => {
                buf.extend_from_slice(&data);
                if buf.len() > cap {
                    return Err(Refused::Block(Block::BodyTooLarge(cap)));
                }
            }
        }
    }
    Ok(false)
}

/// Scan a whole body (decoded, and unpacked where it is a compressed file
/// or archive) off the async workers.
async fn check_whole(bytes: Bytes, cap: usize, form: bool) -> Result<(), Refused> {
    let small = bytes.len() <= INLINE_SCAN && dlp::archive::sniff(&bytes).is_none();
    let check = move || -> Result<(), Block> {
        match dlp::scan_whole(&bytes, "body", Limits::sent(cap)) {
            Err(u) => return Err(Block::Undecodable(u)),
            Ok(Some((f, place))) => {
                let within = (place != "body").then(|| place.trim_start_matches("body: ").into());
                return Err(Block::Secret {
                    rule: f.rule,
                    place: "body",
                    within,
                });
            }
            Ok(None) => {}
        }
        // A secret split over two fields of a form, as over two headers.
        if form {
            let text = String::from_utf8_lossy(&bytes);
            let values: Vec<String> = text
                .split('&')
                .map(|kv| dlp::percent_decode(kv.split_once('=').map_or(kv, |(_, v)| v)))
                .collect();
            if let Some(f) = dlp::scan_joined(values.iter().map(String::as_str)) {
                return Err(Block::secret(f.rule, "body"));
            }
        }
        Ok(())
    };
    // A small body scans in well under a millisecond: the hand-off to the
    // blocking pool would cost more than it saves.
    let found = if small {
        check()
    } else {
        off_workers(check).await.unwrap_or_else(|| {
            Err(Block::Undecodable(Unreadable::Corrupt {
                what: "body".into(),
                why: "the scan failed".into(),
            }))
        })
    };
    found.map_err(Refused::Block)
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

/// Where a body's bytes come from: the agent's as they are, or decoded.
enum Source {
    Plain(Incoming),
    Decoded {
        rx: mpsc::Receiver<Result<Bytes, Unreadable>>,
        /// How the agent's side broke off, if it did (the decoder then
        /// sees its input end early).
        broke: Arc<Mutex<Option<Refused>>>,
    },
}

enum Next {
    Data(Bytes),
    Trailers(http::HeaderMap),
    End,
    Failed(Refused),
}

impl Source {
    /// Decode `body` as `codings` say, on a blocking thread, as it comes.
    fn decoding(body: Incoming, codings: Vec<Coding>, cap: usize) -> Source {
        let broke = Arc::new(Mutex::new(None));
        let input = feed(body, broke.clone());
        let what = format!(
            "{} body",
            codings
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rx = decode_on_thread(input, codings, Limits::sent(cap), what, true);
        Source::Decoded { rx, broke }
    }

    async fn next(&mut self) -> Next {
        match self {
            Source::Plain(body) => match tokio::time::timeout(BODY_TIMEOUT, body.frame()).await {
                Err(_) => Next::Failed(Refused::TooSlow),
                Ok(None) => Next::End,
                Ok(Some(Err(_))) => Next::Failed(Refused::Malformed),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Next::Data(data),
                    Err(frame) => match frame.into_trailers() {
                        Ok(t) => Next::Trailers(t),
                        Err(_) => Next::Data(Bytes::new()),
                    },
                },
            },
            Source::Decoded { rx, broke } => match rx.recv().await {
                Some(Ok(data)) => Next::Data(data),
                None => Next::End,
                Some(Err(u)) => {
                    let agent = broke.lock().unwrap_or_else(|p| p.into_inner()).take();
                    Next::Failed(agent.unwrap_or(Refused::Block(Block::Undecodable(u))))
                }
            },
        }
    }
}

/// The agent's body as a channel of chunks for a blocking reader; how it
/// broke off, if it did, goes to `broke` (and the channel ends).
fn feed(mut body: Incoming, broke: Arc<Mutex<Option<Refused>>>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let failed = match tokio::time::timeout(BODY_TIMEOUT, body.frame()).await {
                Err(_) => Refused::TooSlow,
                Ok(Some(Err(_))) => Refused::Malformed,
                Ok(None) => return,
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(data).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            };
            *broke.lock().unwrap_or_else(|p| p.into_inner()) = Some(failed);
            return;
        }
    });
    rx
}

/// A blocking `Read` over a channel of chunks.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.chunk = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

/// Decoders running at once; more wait their turn (holding no thread).
const DECODERS: usize = 64;

/// Decode `input` on a thread of its own into a channel of decoded chunks
/// (an error last, if it fails). A decoder waits on the agent's input and
/// on the scan for as long as the body lasts, so it runs on its own thread,
/// never the blocking pool the scans share (it would starve them). `fill`:
/// send full windows (a request body, scanned a window at a time) rather
/// than each piece as soon as it decodes (an answer streaming to the
/// agent).
pub fn decode_on_thread(
    input: mpsc::Receiver<Bytes>,
    codings: Vec<Coding>,
    limits: Limits,
    what: String,
    fill: bool,
) -> mpsc::Receiver<Result<Bytes, Unreadable>> {
    static TURNS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let turns = TURNS
        .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(DECODERS)))
        .clone();
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let Ok(turn) = turns.acquire_owned().await else {
            return;
        };
        let failed = tx.clone();
        let named = what.clone();
        let spawned = std::thread::Builder::new()
            .name("bb-decode".into())
            .spawn(move || {
                decode(input, codings, limits, what, fill, tx);
                drop(turn);
            });
        if let Err(e) = spawned {
            // Never read as a body that ended early: as one that failed.
            let why = format!("no thread to decode it ({e})");
            let _ = failed
                .send(Err(Unreadable::Corrupt { what: named, why }))
                .await;
        }
    });
    rx
}

fn decode(
    input: mpsc::Receiver<Bytes>,
    codings: Vec<Coding>,
    limits: Limits,
    what: String,
    fill: bool,
    tx: mpsc::Sender<Result<Bytes, Unreadable>>,
) {
    {
        let reader = ChannelReader {
            rx: input,
            chunk: Bytes::new(),
        };
        let mut d = inflate::decoder(&codings, reader, limits, &what);
        let mut buf = vec![0u8; WINDOW];
        loop {
            let mut n = 0;
            let result = loop {
                match d.read(&mut buf[n..]) {
                    Ok(0) => break Ok(()),
                    Ok(k) => {
                        n += k;
                        if !fill || n == buf.len() {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(inflate::unreadable(e, &what)),
                }
            };
            if n > 0
                && tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
            {
                return;
            }
            match result {
                Err(u) => {
                    let _ = tx.blocking_send(Err(u));
                    return;
                }
                Ok(()) if n == 0 => return,
                Ok(()) => {}
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

type Item = Result<Frame<Bytes>, BodyError>;

/// Read the body, scan each window, send on what passed.
async fn pump(
    mut src: Source,
    mut window: BytesMut,
    cap: usize,
    tx: mpsc::Sender<Item>,
    verdict: Verdict,
) {
    let mut total = window.len();
    let mut trailers = None;
    loop {
        let ended = if window.len() >= WINDOW {
            false
        } else {
            match src.next().await {
                Next::Failed(Refused::Block(b)) => {
                    refuse(&verdict, &tx, b).await;
                    return;
                }
                Next::Failed(_) => {
                    let _ = tx
                        .send(Err(BodyError("the agent's body broke off".into())))
                        .await;
                    return;
                }
                Next::End => true,
                Next::Trailers(t) => {
                    trailers = Some(t);
                    continue;
                }
                Next::Data(data) => {
                    total += data.len();
                    if total > cap {
                        refuse(&verdict, &tx, Block::BodyTooLarge(cap)).await;
                        return;
                    }
                    window.extend_from_slice(&data);
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
            refuse(&verdict, &tx, Block::secret(f.rule, "body")).await;
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

/// An upstream's answer in a content coding, decoded as it streams (for
/// the scrubber, which must read it): each piece passed on as soon as it
/// decodes, so server-sent events are not held up.
pub fn decoded_answer(body: Incoming, codings: Vec<Coding>) -> Body {
    let broke = Arc::new(Mutex::new(None));
    let input = feed(body, broke);
    let what = format!(
        "{} answer",
        codings
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rx = decode_on_thread(input, codings, Limits::answer(), what, false);
    struct Answer(mpsc::Receiver<Result<Bytes, Unreadable>>);
    impl hyper::body::Body for Answer {
        type Data = Bytes;
        type Error = BodyError;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Item>> {
            self.0
                .poll_recv(cx)
                .map(|o| o.map(|r| r.map(Frame::data).map_err(|u| BodyError(u.to_string()))))
        }
    }
    Answer(rx).map_err(BoxError::from).boxed()
}
