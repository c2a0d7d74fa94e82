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
mod tests {
    use super::encoded::MIN_RUN;
    use super::*;

    #[test]
    fn named_shapes_are_found() {
        let cases = [
            ("aws-access-key-id", "key=AKIAIOSFODNN7EXAMPLE"),
            ("github-token", "token ghp_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ"),
            ("gitlab-token", "glpat-xxxxxxxxxxxxxxxxxxxx"),
            ("slack-token", "xoxb-1234567890-abcdefghij"),
            ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            ("private-key", "-----BEGIN RSA PRIVATE KEY-----"),
            ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
        ];
        for (rule, text) in cases {
            assert_eq!(scan(text).map(|f| f.rule), Some(rule), "{text}");
        }
    }

    /// Runs the plain way: every byte read.
    fn naive_runs(text: &str) -> Vec<(usize, &str)> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let start = i;
            while i < b.len() && ENCODED[b[i] as usize] {
                i += 1;
            }
            if i - start >= MIN_RUN {
                out.push((start, &text[start..i]));
            }
            i = i.max(start + 1);
        }
        out
    }

    #[test]
    fn encoded_runs_skips_ahead_but_finds_every_run() {
        // Pseudo-random mixes of alphabet and other bytes, runs of every
        // length around the minimum, at every offset.
        let mut seed = 7u64;
        for _ in 0..500 {
            let mut text = String::new();
            for _ in 0..40 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = (seed >> 33) as usize % 40;
                text.push_str(&"aZ9+/-_".repeat(6)[..len]);
                text.push(if seed & 1 == 0 { ' ' } else { '.' });
            }
            assert_eq!(encoded_runs(&text), naive_runs(&text), "{text}");
        }
        assert_eq!(encoded_runs(&"a".repeat(24)), vec![(0, &*"a".repeat(24))]);
        assert!(encoded_runs(&"a".repeat(23)).is_empty());
    }

    #[test]
    fn large_texts_are_scanned_in_parts_that_miss_nothing() {
        let filler = "ordinary words, and some more of them; ".repeat(100_000);
        let key = "AKIAIOSFODNN7EXAMPLE";
        let parts = parts(&filler);
        // One part per core (this machine may have one).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(parts.len(), cores);
        for w in parts.windows(2) {
            assert!(w[1].0 + PART_OVERLAP <= w[0].1, "{parts:?}");
        }
        // A secret at each part's edge, encoded or not, is still found,
        // at its own position.
        for &(_, end) in &parts {
            for at in [end.saturating_sub(10), end.saturating_sub(PART_OVERLAP / 2)] {
                let at = (at..).find(|&i| filler.is_char_boundary(i)).unwrap();
                let mut text = filler.clone();
                text.insert_str(at, &format!(" {key} "));
                assert_eq!(scan(&text).map(|f| f.at), Some(at + 1), "plain at {at}");
                let mut text = filler.clone();
                let hex: String = format!("key={key}")
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                text.insert_str(at, &format!(" {hex} "));
                assert!(scan(&text).is_some(), "hex at {at}");
            }
        }
        assert_eq!(scan(&filler), None);
    }

    #[test]
    fn high_entropy_strings_are_found_but_ordinary_text_is_not() {
        assert_eq!(
            scan("x=Zq8rT2mW9vKx4Lp7Yb3Nd6Hs1Jf5Gc0QeRtUvWx").map(|f| f.rule),
            Some("high-entropy-string")
        );
        for ok in [
            "GET /repos/owner/project/commits/4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "https://registry.npmjs.org/@types/node/-/node-20.11.5.tgz",
            "The quick brown fox jumps over the lazy dog, twice over.",
            "application/vnd.github.v3+json",
            "/simple/requests/",
        ] {
            assert_eq!(scan(ok), None, "{ok}");
        }
    }

    #[test]
    fn hosts_smuggling_data_are_found() {
        assert_eq!(
            scan_host("akiaiosfodnn7example.example.com").map(|f| f.rule),
            Some("aws-access-key-id")
        );
        assert_eq!(
            scan_host("4f9a1c2e7b3d8a6f0e5c9b2a7d4e1f3c8b6a.example.com").map(|f| f.rule),
            Some("random-subdomain")
        );
        for ok in [
            "api.github.com",
            "my-loadbalancer-1234567890.us-west-2.elb.amazonaws.com",
            "registry.npmjs.org",
        ] {
            assert_eq!(scan_host(ok), None, "{ok}");
        }
    }

    #[test]
    fn encodings_and_case_do_not_hide_secrets() {
        use base64::Engine;
        let key = "AKIAIOSFODNN7EXAMPLE";
        let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("id={key}"));
        let b64_of_hex = base64::engine::general_purpose::STANDARD.encode(&hex);
        for hidden in [
            format!("k={}", key.to_ascii_lowercase()),
            format!("data={hex}"),
            format!("data={}", hex.to_ascii_uppercase()),
            format!("blob {b64} end"),
            format!("blob {b64_of_hex}"),
            format!("x=%{}", &hex[..2]) + &key[1..],
        ] {
            assert_eq!(
                scan(&hidden).map(|f| f.rule),
                Some("aws-access-key-id"),
                "{hidden}"
            );
        }
        let utf16: Vec<u8> = format!("note {key}")
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert!(scan_bytes(&utf16).is_some());
        assert_eq!(
            scan_joined(["AKIAIOSFOD", "NN7EXAMPLE"].into_iter()).map(|f| f.rule),
            Some("aws-access-key-id")
        );
        // Long values are read near the seam only, and still joined there,
        // percent-encoded too.
        let (a, b) = (
            format!("{} AKIAIOSFOD", "word ".repeat(2000)),
            format!("NN7EX%41MPLE {}", "word ".repeat(2000)),
        );
        assert_eq!(
            scan_joined([a.as_str(), b.as_str()].into_iter()).map(|f| f.rule),
            Some("aws-access-key-id")
        );
        // Two hex labels of a wildcard host spell the key.
        assert!(scan_host(&format!("{}.{}.example.com", &hex[..20], &hex[20..])).is_some());
        // Ordinary hex and base64 stay quiet.
        for ok in [
            "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            // A README sent through the GitHub contents API.
            "{\"content\": \"IyBNeSBwcm9qZWN0CgpBIHNtYWxsIHRvb2wgdGhhdCBkb2VzIG9uZSB0aGluZyB3ZWxsLiBSdW4gaXQgd2l0aCBgbWFrZWAsIHRoZW4gcmVhZCB0aGUgb3V0cHV0Lgo=\"}",
        ] {
            assert_eq!(scan(ok), None, "{ok}");
        }
    }

    #[test]
    fn what_a_server_decodes_does_not_hide_secrets() {
        let key = "AKIAIOSFODNN7EXAMPLE";
        let escaped: String = key
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let base32 = data_encoding::BASE32.encode(format!("id={key}").as_bytes());
        for hidden in [
            // JSON string escapes, wholly or in part.
            format!("{{\"k\": \"{escaped}\"}}"),
            r#"{"k": "AKIA\u0049OSFODNN7EXAMPLE"}"#.to_string(),
            // HTML character references.
            "<v>&#65;KIA&#x49;OSFODNN7EXAMPLE</v>".to_string(),
            // base32, padded or not, either case.
            format!("X-Data: {base32}"),
            format!("x {}", base32.trim_end_matches('=').to_ascii_lowercase()),
        ] {
            assert_eq!(
                scan(&hidden).map(|f| f.rule),
                Some("aws-access-key-id"),
                "{hidden}"
            );
        }
        // Ordinary upper-case words and base32-looking names stay quiet.
        for ok in [
            "CONTENT-TYPE APPLICATION JSON WITH SOME UPPERCASE WORDS",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
            r#"{"path": "C:\\Users\\me", "nl": "a\nb"}"#,
        ] {
            assert_eq!(scan(ok), None, "{ok}");
        }
    }

    #[test]
    fn whole_bodies_are_read_through_compressed_files_and_archives() {
        use std::io::Write;
        let limits = inflate::Limits::sent(16 << 20);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
            .unwrap();
        let gz = gz.finish().unwrap();
        let (f, place) = scan_whole(&gz, "the body", limits).unwrap().unwrap();
        assert_eq!((f.rule, place.as_str()), ("aws-access-key-id", "the body"));
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("a/b.txt", deflated).unwrap();
        w.write_all(&b"ordinary text, ".repeat(40)).unwrap();
        w.write_all(b"token ghp_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ")
            .unwrap();
        let zip = w.finish().unwrap().into_inner();
        let (f, place) = scan_whole(&zip, "the body", limits).unwrap().unwrap();
        assert_eq!(
            (f.rule, place.as_str()),
            ("github-token", "the body: a/b.txt")
        );
        assert_eq!(scan_whole(b"hello", "x", limits), Ok(None));
    }

    #[test]
    fn seed_phrases_are_found_when_asked_for() {
        // The BIP-39 test vector for all-zero entropy: a valid checksum.
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let text = format!("my wallet: {phrase}.");
        assert_eq!(bip39_phrase(&text), Some("my wallet: ".len()));
        // Twelve list words with a wrong checksum are prose, not a seed.
        assert_eq!(bip39_phrase("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"), None);
        assert_eq!(bip39_phrase("the quick brown fox"), None);
        assert_eq!(scan(&text).map(|f| f.rule), None, "off by default");
        set_bip39(true);
        assert_eq!(scan(&text).map(|f| f.rule), Some("bip39-seed-phrase"));
        set_bip39(false);
    }

    #[test]
    fn percent_encoding_does_not_hide_secrets() {
        assert_eq!(
            percent_decode("%41KIA%49OSFODNN7EXAMPLE"),
            "AKIAIOSFODNN7EXAMPLE"
        );
        assert!(scan(&percent_decode("/x?k=%41KIAIOSFODNN7EXAMPLE")).is_some());
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
