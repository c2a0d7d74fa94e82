//! Compressed bytes read as their reader will read them: the HTTP content
//! codings real clients send (`gzip`, `deflate`, `br`, `zstd`, stacked, as
//! `Content-Encoding` lists them) and compressed files sent as they are
//! (known by their magic bytes; see `archive`). Every decoder is bounded:
//! its output by a cap, and its expansion by a ratio past a floor, so a
//! decompression bomb is refused after a little work, never expanded.

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A content coding egress can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// zlib-wrapped deflate, as RFC 9110 says, or raw deflate, as some
    /// clients send it: both are read, as servers do.
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The codings of a `Content-Encoding` value, in the order they were
    /// applied (`identity` dropped). A coding nothing here can read is an
    /// error naming it.
    pub fn parse_header(value: &str) -> Result<Vec<Coding>, Unreadable> {
        let mut out = Vec::new();
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            out.push(match name.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                _ => return Err(Unreadable::Unsupported(name.to_string())),
            });
        }
        // More layers than anyone applies is a way to burn the decoder.
        if out.len() > MAX_LAYERS {
            return Err(Unreadable::TooDeep(out.len()));
        }
        Ok(out)
    }
}

/// Stacked codings or nested archives read at most this deep.
pub const MAX_LAYERS: usize = 4;

/// Why compressed bytes were not read through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the content encoding {0:?} cannot be read by the egress scan; send the body as identity, gzip, deflate, br or zstd")]
    Unsupported(String),
    #[error(
        "the body is compressed {0} times over; the egress scan reads at most {MAX_LAYERS} layers"
    )]
    TooDeep(usize),
    #[error("the {what} does not decode ({why})")]
    Corrupt { what: String, why: String },
    #[error("the {what} expands past {cap} bytes, the most the egress scan reads")]
    TooLarge { what: String, cap: usize },
    #[error("the {what} expands more than {MAX_RATIO}-fold, as a decompression bomb does")]
    Bomb { what: String },
}

impl Unreadable {
    /// Over a bound (refused as too large) rather than unreadable.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Unreadable::TooLarge { .. } | Unreadable::Bomb { .. })
    }
}

/// Expansion past this many times the compressed size is a bomb...
pub const MAX_RATIO: u64 = 100;
/// ...once the output is past this: small bodies may compress very well.
pub const RATIO_FLOOR: u64 = 1 << 20;
/// The largest zstd window a frame may ask for (the format's guaranteed
/// minimum; larger windows are a memory lever for the sender).
const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// The bounds of one decode: the most it may write, and how many times
/// the bytes read it may write once past `RATIO_FLOOR`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub cap: usize,
    pub ratio: u64,
}

impl Limits {
    /// What the agent sends: at most `cap`, and no bomb.
    pub const fn sent(cap: usize) -> Limits {
        Limits {
            cap,
            ratio: MAX_RATIO,
        }
    }

    /// An answer on its way to the agent: decoded only to be read, so
    /// bounded by nothing but the memory the stream holds.
    pub const fn answer() -> Limits {
        Limits {
            cap: usize::MAX / 2,
            ratio: u64::MAX,
        }
    }
}

/// Counts the compressed bytes read through it (shared with the bound
/// on the decoded side, however many decoders lie between).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decoded side: stops with `TooLarge` or `Bomb` as soon as the output
/// passes a bound.
pub struct Bounded<'a> {
    inner: Box<dyn Read + Send + 'a>,
    what: String,
    input: Arc<AtomicU64>,
    written: u64,
    cap: u64,
    ratio: u64,
}

impl Bounded<'_> {
    /// What the decoder has written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte past the cap is enough to know it is over.
        let room = (self.cap + 1 - self.written.min(self.cap)) as usize;
        let want = buf.len().min(room.max(1));
        let n = self.inner.read(&mut buf[..want]).map_err(|e| {
            // An error of ours from an inner layer passes through as it is.
            if e.get_ref().is_some_and(|i| i.is::<Unreadable>()) {
                return e;
            }
            std::io::Error::other(Unreadable::Corrupt {
                what: self.what.clone(),
                why: e.to_string(),
            })
        })?;
        self.written += n as u64;
        if self.written > self.cap {
            return Err(std::io::Error::other(Unreadable::TooLarge {
                what: self.what.clone(),
                cap: self.cap as usize,
            }));
        }
        let input = self.input.load(Ordering::Relaxed).max(1);
        if self.written > RATIO_FLOOR && self.written > input.saturating_mul(self.ratio) {
            return Err(std::io::Error::other(Unreadable::Bomb {
                what: self.what.clone(),
            }));
        }
        Ok(n)
    }
}

/// The reader's error as what went wrong with the bytes.
pub fn unreadable(e: std::io::Error, what: &str) -> Unreadable {
    match e.get_ref().and_then(|i| i.downcast_ref::<Unreadable>()) {
        Some(u) => u.clone(),
        None => Unreadable::Corrupt {
            what: what.to_string(),
            why: e.to_string(),
        },
    }
}

/// The bytes `codings` (in the order applied) made of `input`, undone in
/// reverse, bounded by `limits`. `what` names them in errors ("gzip body").
pub fn decoder<'a>(
    codings: &[Coding],
    input: impl Read + Send + 'a,
    limits: Limits,
    what: &str,
) -> Bounded<'a> {
    let read = Arc::new(AtomicU64::new(0));
    let mut r: Box<dyn Read + Send + 'a> = Box::new(Counting {
        inner: input,
        read: read.clone(),
    });
    for c in codings.iter().rev() {
        r = layer(*c, r);
    }
    Bounded {
        inner: r,
        what: what.to_string(),
        input: read,
        written: 0,
        cap: limits.cap as u64,
        ratio: limits.ratio,
    }
}

/// One decoder over `r`.
pub fn layer<'a>(c: Coding, r: Box<dyn Read + Send + 'a>) -> Box<dyn Read + Send + 'a> {
    match c {
        // Every member, as servers read a gzip stream.
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Coding::Deflate => Box::new(Deflate::new(r)),
        Coding::Brotli => Box::new(brotli_decompressor::Decompressor::new(r, 16 * 1024)),
        Coding::Zstd => Box::new(ZstdFrames::new(r)),
    }
}

/// The whole of `bytes` decoded, within `limits`.
pub fn decode_all(
    codings: &[Coding],
    bytes: &[u8],
    limits: Limits,
    what: &str,
) -> Result<Vec<u8>, Unreadable> {
    let mut out = Vec::new();
    decoder(codings, bytes, limits, what)
        .read_to_end(&mut out)
        .map_err(|e| unreadable(e, what))?;
    Ok(out)
}

/// The input again with its first bytes (read to tell zlib from raw)
/// put back in front.
type Replayed<'a> = std::io::Chain<std::io::Cursor<Vec<u8>>, Box<dyn Read + Send + 'a>>;

/// deflate as a server reads it: zlib when the first two bytes are a zlib
/// header, raw deflate otherwise.
enum Deflate<'a> {
    Start(Option<Box<dyn Read + Send + 'a>>),
    Zlib(flate2::read::ZlibDecoder<Replayed<'a>>),
    Raw(flate2::read::DeflateDecoder<Replayed<'a>>),
}

impl<'a> Deflate<'a> {
    fn new(r: Box<dyn Read + Send + 'a>) -> Self {
        Deflate::Start(Some(r))
    }
}

impl Read for Deflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self {
                Deflate::Zlib(d) => return d.read(buf),
                Deflate::Raw(d) => return d.read(buf),
                Deflate::Start(r) => {
                    let Some(mut r) = r.take() else {
                        return Ok(0);
                    };
                    let mut head = Vec::with_capacity(2);
                    (&mut r).take(2).read_to_end(&mut head)?;
                    let zlib = head.len() == 2
                        && head[0] & 0x0f == 8
                        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                    let whole = std::io::Cursor::new(head).chain(r);
                    *self = if zlib {
                        Deflate::Zlib(flate2::read::ZlibDecoder::new(whole))
                    } else {
                        Deflate::Raw(flate2::read::DeflateDecoder::new(whole))
                    };
                }
            }
        }
    }
}

/// Every zstd frame of a stream, skippable frames skipped, as `zstd -d`
/// and servers read one.
struct ZstdFrames<R: Read> {
    source: BufReader<R>,
    frame: ruzstd::decoding::FrameDecoder,
    /// A frame is being read.
    open: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(r: R) -> Self {
        let mut frame = ruzstd::decoding::FrameDecoder::new();
        frame.set_max_window_size(ZSTD_MAX_WINDOW);
        ZstdFrames {
            source: BufReader::with_capacity(64 * 1024, r),
            frame,
            open: false,
        }
    }

    /// Start the next frame; false at the end of the stream.
    fn next_frame(&mut self) -> std::io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.frame.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = std::io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut std::io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(std::io::Error::other("a skippable frame is cut short"));
                    }
                }
                Err(FrameDecoderError::WindowSizeTooBig { requested, .. }) => {
                    return Err(std::io::Error::other(format!(
                        "a frame asks for a {requested}-byte window; at most {ZSTD_MAX_WINDOW} is read"
                    )))
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.open {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.open = true;
            }
            while self.frame.can_collect() == 0 && !self.frame.is_finished() {
                self.frame
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            let n = self.frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.frame.is_finished() {
                self.open = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn zstd(b: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn brotli(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::BrotliCompress(
            &mut &b[..],
            &mut out,
            &brotli::enc::BrotliEncoderParams::default(),
        )
        .unwrap();
        out
    }

    const LIMITS: Limits = Limits::sent(16 << 20);

    #[test]
    fn every_coding_and_stack_decodes() {
        let text = b"{\"input\": \"the quick brown fox\"}".repeat(50);
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let raw = {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        for (header, body) in [
            ("gzip", gzip(&text)),
            ("x-gzip", gzip(&text)),
            ("deflate", zlib),
            ("deflate", raw),
            ("br", brotli(&text)),
            ("zstd", zstd(&text)),
            ("ZSTD", zstd(&text)),
            ("identity", text.clone()),
            ("gzip, zstd", zstd(&gzip(&text))),
            ("br,identity, gzip", gzip(&brotli(&text))),
        ] {
            let codings = Coding::parse_header(header).unwrap();
            assert_eq!(
                decode_all(&codings, &body, LIMITS, "body").unwrap(),
                text,
                "{header}"
            );
        }
    }

    #[test]
    fn two_gzip_members_and_two_zstd_frames_are_read_whole() {
        let (a, b) = (b"first half ".repeat(10), b"second half".repeat(10));
        let mut two = gzip(&a);
        two.extend(gzip(&b));
        let out = decode_all(&[Coding::Gzip], &two, LIMITS, "body").unwrap();
        assert_eq!(out, [a.clone(), b.clone()].concat());
        // Two frames with a skippable one between.
        let mut frames = zstd(&a);
        frames.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        frames.extend(zstd(&b));
        let out = decode_all(&[Coding::Zstd], &frames, LIMITS, "body").unwrap();
        assert_eq!(out, [a, b].concat());
    }

    #[test]
    fn unknown_codings_and_too_many_layers_are_named() {
        assert_eq!(
            Coding::parse_header("gzip, compress"),
            Err(Unreadable::Unsupported("compress".into()))
        );
        assert!(matches!(
            Coding::parse_header("gzip,gzip,gzip,gzip,gzip"),
            Err(Unreadable::TooDeep(5))
        ));
        assert!(matches!(
            decode_all(&[Coding::Gzip], b"not gzip at all", LIMITS, "gzip body"),
            Err(Unreadable::Corrupt { .. })
        ));
    }

    #[test]
    fn bombs_stop_early_and_caps_hold() {
        // 8 MiB of zeros in a few KiB (and the same stacked): refused as a
        // bomb once past the floor, long before the end.
        let zeros = vec![0u8; 8 << 20];
        for (codings, body) in [
            (vec![Coding::Gzip], gzip(&zeros)),
            (vec![Coding::Zstd], zstd(&zeros)),
            (vec![Coding::Brotli], brotli(&zeros)),
            (vec![Coding::Gzip, Coding::Gzip], gzip(&gzip(&zeros))),
        ] {
            let mut d = decoder(&codings, &body[..], LIMITS, "body");
            let e = std::io::copy(&mut d, &mut std::io::sink()).unwrap_err();
            assert!(
                matches!(unreadable(e, "body"), Unreadable::Bomb { .. }),
                "{codings:?}"
            );
            // Decoders read ahead (up to 64 KiB), so it stops within the
            // ratio of what they read, short of the 8 MiB.
            assert!(
                d.written() <= MAX_RATIO * (32 << 10) + (64 << 10),
                "{}",
                d.written()
            );
        }
        // Text that compresses well but honestly: the cap is what stops it.
        let text: Vec<u8> = (0..4_000_000u32)
            .flat_map(|i| format!("{i:x} ").into_bytes())
            .collect();
        let small = Limits::sent(1 << 20);
        assert!(matches!(
            decode_all(&[Coding::Gzip], &gzip(&text), small, "body"),
            Err(Unreadable::TooLarge { cap, .. }) if cap == 1 << 20
        ));
    }
}
