//! Secret shapes: the one rule set the egress proxy scans requests with and
//! the git gate scans pushes with. A finding names its rule, never the
//! secret.

use std::sync::OnceLock;

pub mod archive;
mod encoded;
mod escapes;
pub mod inflate;
mod rules;

pub use encoded::held_back;
use encoded::{
    base32_decode, base64_decode, encoded_runs, hex_decode, hex_runs, printable, ENCODED,
};
pub use escapes::percent_decode;
use escapes::{escape_windows, Escapes};
use rules::{bip39_on, bip39_phrase, high_entropy, scan_named};
pub use rules::{entropy, set_bip39};

/// A rule that matched, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    /// Byte offset of the match in the scanned text.
    pub at: usize,
}

/// The first secret shape in `text` as it stands.
fn scan_plain(text: &str) -> Option<Finding> {
    scan_plain_with(text, &encoded_runs(text))
}

/// As `scan_plain`, with the text's encoded runs already found.
fn scan_plain_with(text: &str, runs: &[(usize, &str)]) -> Option<Finding> {
    if let Some(f) = scan_named(text) {
        return Some(f);
    }
    if let Some(at) = high_entropy(runs) {
        return Some(Finding {
            rule: "high-entropy-string",
            at,
        });
    }
    if bip39_on() {
        return bip39_phrase(text).map(|at| Finding {
            rule: "bip39-seed-phrase",
            at,
        });
    }
    None
}

/// The first secret shape in `text`, also where it is hidden: percent-
/// encoded, in another case (the named shapes), or inside long hex and
/// base64 runs (two layers deep). The one rule set of the proxy and the
/// gate; a finding in a decoded view points at the run that held it.
pub fn scan(text: &str) -> Option<Finding> {
    if text.len() < PARALLEL_FROM {
        return scan_views(text, 0);
    }
    let parts = parts(text);
    if parts.len() < 2 {
        return scan_views(text, 0);
    }
    // Large texts are scanned a part per core; the first finding by
    // position wins, as in one pass.
    std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .iter()
            .map(|&(start, end)| {
                scope.spawn(move || {
                    scan_views(&text[start..end], 0).map(|f| Finding {
                        at: start + f.at,
                        ..f
                    })
                })
            })
            .collect();
        running
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .min_by_key(|f| f.at)
    })
}

/// Below this a text is scanned in one piece.
const PARALLEL_FROM: usize = 1 << 20;
/// How far parts overlap each way: more than any shape, or the stretch
/// read around a percent escape, can reach.
const PART_OVERLAP: usize = 4 * escapes::REACH;

/// Overlapping parts of a large text, one per core, each starting and
/// ending outside an encoded run (so every run is whole in a part).
fn parts(text: &str) -> Vec<(usize, usize)> {
    if text.len() < PARALLEL_FROM {
        return vec![(0, text.len())];
    }
    // Asking costs file reads (cgroup quotas): once per process.
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if cores < 2 {
        return vec![(0, text.len())];
    }
    let b = text.as_bytes();
    // The nearest byte outside the alphabet at or after `i`, or None.
    let edge = |i: usize| (i..b.len()).find(|&j| !ENCODED[b[j] as usize]);
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..cores {
        let cut = text.len() * k / cores;
        let (Some(end), Some(next)) = (
            edge(cut + PART_OVERLAP),
            edge(cut.saturating_sub(PART_OVERLAP).max(start)),
        ) else {
            break;
        };
        // Both edges are ASCII bytes, so character boundaries.
        out.push((start, end));
        start = next;
    }
    out.push((start, text.len()));
    out
}

fn scan_views(text: &str, depth: usize) -> Option<Finding> {
    // One pass finds the runs both the entropy rule and the decoders read.
    let b64 = encoded_runs(text);
    if let Some(f) = scan_plain_with(text, &b64) {
        return Some(f);
    }
    // Escapes a reader undoes (percent-encoding, JSON's `\u`, HTML's
    // `&#..;`): only around them, since a secret they hide holds one.
    for kind in Escapes::ALL {
        for (start, end) in escape_windows(text, kind) {
            let decoded = kind.decode(&text[start..end]);
            if let Some(f) = scan_plain(&decoded) {
                return Some(Finding {
                    rule: f.rule,
                    at: start,
                });
            }
        }
    }
    if depth >= 2 {
        return None;
    }
    for (start, run) in &b64 {
        for (offset, hex) in hex_runs(run) {
            if let Some(inner) = hex_decode(hex).as_deref().and_then(printable) {
                if let Some(f) = scan_views(&inner, depth + 1) {
                    return Some(Finding {
                        rule: f.rule,
                        at: start + offset,
                    });
                }
            }
        }
    }
    for (at, run) in &b64 {
        if let Some(inner) = base32_decode(run).as_deref().and_then(printable) {
            if let Some(f) = scan_views(&inner, depth + 1) {
                return Some(Finding {
                    rule: f.rule,
                    at: *at,
                });
            }
        }
    }
    for (at, run) in b64 {
        // In a URL path a run starts at a segment: try the segments too.
        let pieces = std::iter::once(run).chain(
            run.split('/')
                .filter(|p| p.len() >= 24 && p.len() < run.len()),
        );
        for piece in pieces {
            if let Some(inner) = base64_decode(piece).as_deref().and_then(printable) {
                if let Some(f) = scan_views(&inner, depth + 1) {
                    return Some(Finding { rule: f.rule, at });
                }
            }
        }
    }
    None
}

/// Secrets in a host name: the named shapes in any case (DNS ignores case,
/// so a key can be smuggled lower-cased), the labels read joined (a key
/// split over two labels), and long random labels.
pub fn scan_host(host: &str) -> Option<Finding> {
    let joined: String = host.split('.').collect();
    if let Some(f) = scan(host).or_else(|| scan(&joined).map(|f| Finding { at: 0, ..f })) {
        return Some(f);
    }
    let mut at = 0;
    for label in host.split('.') {
        let digits = label.chars().filter(|c| c.is_ascii_digit()).count();
        if label.len() >= 32 && digits >= 6 && entropy(label) >= 3.5 {
            return Some(Finding {
                rule: "random-subdomain",
                at,
            });
        }
        at += label.len() + 1;
    }
    None
}

/// Scan bytes that may not be UTF-8; UTF-16 text is read as such.
pub fn scan_bytes(bytes: &[u8]) -> Option<Finding> {
    if let Some(text) = utf16(bytes) {
        if let Some(f) = scan(&text) {
            return Some(f);
        }
    }
    // Valid UTF-8 (nearly all text) is read in place; the lossy path is
    // several times slower.
    match std::str::from_utf8(bytes) {
        Ok(text) => scan(text),
        Err(_) => scan(&String::from_utf8_lossy(bytes)),
    }
}

/// `bytes` as UTF-16 text, when they look like it (a BOM, or a zero in
/// every other byte).
fn utf16(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 4 {
        return None;
    }
    let (le, body) = match bytes {
        [0xff, 0xfe, rest @ ..] => (true, rest),
        [0xfe, 0xff, rest @ ..] => (false, rest),
        _ => {
            // UTF-16 of text has a zero in nearly every other byte: the
            // first few KiB say whether to count the rest.
            let zeros =
                |b: &[u8], skip: usize| b.iter().skip(skip).step_by(2).filter(|b| **b == 0).count();
            let head = &bytes[..bytes.len().min(4096)];
            let half = head.len() / 4;
            if zeros(head, 0) < half && zeros(head, 1) < half {
                return None;
            }
            let pairs = bytes.len() / 2;
            let odd = zeros(bytes, 1);
            let even = zeros(bytes, 0);
            if odd * 10 >= pairs * 9 {
                (true, bytes)
            } else if even * 10 >= pairs * 9 {
                (false, bytes)
            } else {
                return None;
            }
        }
    };
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// The named shapes across two values read as one (a key split over two
/// headers), in either order. Only named shapes: joined values are no
/// single token.
pub fn scan_joined<'a>(values: impl Iterator<Item = &'a str>) -> Option<Finding> {
    // A shape split over two values that neither holds whole lies within
    // JOIN_REACH of the seam: each value is read only that far from it.
    let values: Vec<(&str, &str)> = values
        .take(64)
        .map(|v| {
            let v = v.trim();
            (tail(v, JOIN_REACH), head(v, JOIN_REACH))
        })
        .collect();
    let mut joined = String::new();
    for (i, (a, _)) in values.iter().enumerate() {
        for (j, (_, b)) in values.iter().enumerate() {
            if i == j {
                continue;
            }
            joined.clear();
            joined.push(' ');
            joined.push_str(a);
            joined.push_str(b);
            joined.push(' ');
            let found = scan_named(&joined).or_else(|| {
                joined
                    .contains('%')
                    .then(|| scan_named(&percent_decode(&joined)))
                    .flatten()
            });
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// How far from the seam of two joined values a shape split over them can
/// start or end: more than any named shape's longest head (prefix and
/// bounded body) and its percent-encoded form.
const JOIN_REACH: usize = 1024;

/// The last `n` bytes of `s` (or a little more, to a character boundary).
fn tail(s: &str, n: usize) -> &str {
    let mut at = s.len().saturating_sub(n);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[at..]
}

/// The first `n` bytes of `s` (or a little more, to a character boundary).
fn head(s: &str, n: usize) -> &str {
    let mut at = n.min(s.len());
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[..at]
}

/// A whole body or file as its reader sees it: scanned as it is, and
/// whatever compressed file or archive it is (by its magic bytes),
/// unpacked and scanned too, within `limits`. The finding's place says
/// which part held it.
pub fn scan_whole(
    bytes: &[u8],
    place: &str,
    limits: inflate::Limits,
) -> Result<Option<(Finding, String)>, inflate::Unreadable> {
    if let Some(f) = scan_bytes(bytes) {
        return Ok(Some((f, place.to_string())));
    }
    for part in archive::unpack(bytes, place, limits)? {
        if let Some(f) = scan_bytes(&part.bytes) {
            return Ok(Some((f, part.place)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
