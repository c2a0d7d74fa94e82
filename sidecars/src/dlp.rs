//! Secret shapes: the one rule set the egress proxy scans requests with and
//! the git gate scans pushes with. A finding names its rule, never the
//! secret.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use regex::Regex;

/// A rule that matched, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    /// Byte offset of the match in the scanned text.
    pub at: usize,
}

struct Rule {
    name: &'static str,
    re: Regex,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let table: &[(&str, &str)] = &[
            (
                "aws-access-key-id",
                r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
            ),
            (
                "aws-secret-access-key",
                r#"(?i)aws.{0,20}(?:secret|key).{0,20}['"=:\s]([A-Za-z0-9/+]{40})\b"#,
            ),
            ("github-token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
            (
                "github-fine-grained-token",
                r"\bgithub_pat_[A-Za-z0-9_]{80,255}\b",
            ),
            (
                "gitlab-token",
                r"\bgl(?:pat|dt|ptt|rt)-[A-Za-z0-9_\-]{20,}\b",
            ),
            ("slack-token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}\b"),
            (
                "slack-webhook",
                r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
            ),
            (
                "private-key",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            ),
            (
                "jwt",
                r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            ),
            (
                "openai-api-key",
                r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}\b",
            ),
            (
                "anthropic-api-key",
                r"\bsk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_\-]{80,}\b",
            ),
        ];
        table
            .iter()
            .filter_map(|(name, pattern)| Regex::new(pattern).ok().map(|re| Rule { name, re }))
            .collect()
    })
}

/// Long runs of base64/hex-ish characters with high entropy: the shape of
/// keys no named rule knows.
fn high_entropy(text: &str) -> Option<usize> {
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let re = TOKEN.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9+/_\-]{32,}={0,2}").unwrap_or_else(|_| Regex::new("$^").unwrap())
    });
    for m in re.find_iter(text) {
        let s = m.as_str().trim_end_matches('=');
        let has_digit = s.chars().any(|c| c.is_ascii_digit());
        let has_upper = s.chars().any(|c| c.is_ascii_uppercase());
        let has_lower = s.chars().any(|c| c.is_ascii_lowercase());
        // Words, paths and hex digests (commit ids, content hashes) are
        // everywhere in normal traffic; require a mixed alphabet.
        if !(has_digit && has_upper && has_lower) {
            continue;
        }
        // Base64 of ordinary text (a file sent through an API) is not a
        // key: its decoded content is what gets scanned.
        if base64_decode(s).as_deref().and_then(printable).is_some() {
            continue;
        }
        if entropy(s) >= 4.5 {
            return Some(m.start());
        }
    }
    None
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The first named secret shape in `text` (no entropy rule).
fn scan_named(text: &str) -> Option<Finding> {
    rules().iter().find_map(|r| {
        r.re.find(text).map(|m| Finding {
            rule: r.name,
            at: m.start(),
        })
    })
}

/// Whether wallet seed phrases are looked for (off by default, as in the
/// system bb replaces: ordinary English can run to a dozen list words).
static BIP39: AtomicBool = AtomicBool::new(false);

/// Turn the BIP-39 seed phrase detector on or off for this process. The
/// git gate's hook learns it from `BB_DLP_BIP39=1`.
pub fn set_bip39(on: bool) {
    BIP39.store(on, Ordering::Relaxed);
}

fn bip39_on() -> bool {
    BIP39.load(Ordering::Relaxed) || std::env::var("BB_DLP_BIP39").as_deref() == Ok("1")
}

/// A BIP-39 mnemonic: 12 to 24 consecutive words of the English list whose
/// checksum holds (so a run of list words in prose is not enough).
fn bip39_phrase(text: &str) -> Option<usize> {
    let words: Vec<(usize, &str)> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
        .collect();
    let list = bip39::Language::English;
    let mut run_start = 0;
    for i in 0..=words.len() {
        let in_list = words
            .get(i)
            .is_some_and(|(_, w)| list.find_word(&w.to_ascii_lowercase()).is_some());
        if in_list {
            continue;
        }
        let run = &words[run_start..i];
        for start in 0..run.len() {
            for n in [24, 21, 18, 15, 12] {
                if let Some(window) = run.get(start..start + n) {
                    let phrase: Vec<String> =
                        window.iter().map(|(_, w)| w.to_ascii_lowercase()).collect();
                    if bip39::Mnemonic::parse_in_normalized(list, &phrase.join(" ")).is_ok() {
                        return Some(window[0].0);
                    }
                }
            }
        }
        run_start = i + 1;
    }
    None
}

/// The first secret shape in `text` as it stands.
fn scan_plain(text: &str) -> Option<Finding> {
    for r in rules() {
        if let Some(m) = r.re.find(text) {
            return Some(Finding {
                rule: r.name,
                at: m.start(),
            });
        }
    }
    if let Some(at) = high_entropy(text) {
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

/// Runs of `min` or more characters of `class` in `text`: (start, run).
fn runs(text: &str, min: usize, class: fn(u8) -> bool) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if class(b[i]) {
            let start = i;
            while i < b.len() && class(b[i]) {
                i += 1;
            }
            if i - start >= min {
                out.push((start, &text[start..i]));
            }
        } else {
            i += 1;
        }
    }
    out
}

fn hex_decode(run: &str) -> Option<Vec<u8>> {
    let run = &run[..run.len() & !1];
    (0..run.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&run[i..i + 2], 16).ok())
        .collect()
}

fn base64_decode(run: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let run = run.trim_end_matches('=');
    // One character past a whole quantum cannot be base64: drop it.
    let run = if run.len() % 4 == 1 {
        &run[..run.len() - 1]
    } else {
        run
    };
    STANDARD_NO_PAD
        .decode(run)
        .or_else(|_| URL_SAFE_NO_PAD.decode(run))
        .ok()
}

/// Decoded bytes worth scanning: mostly printable text.
fn printable(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let good = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .filter(|c| *c != char::REPLACEMENT_CHARACTER)
        .count();
    (good * 10 >= text.chars().count() * 9).then(|| text.into_owned())
}

/// The first secret shape in `text`, also where it is hidden: percent-
/// encoded, in another case (the named shapes), or inside long hex and
/// base64 runs (two layers deep). The one rule set of the proxy and the
/// gate; a finding in a decoded view points at the run that held it.
pub fn scan(text: &str) -> Option<Finding> {
    scan_views(text, 0)
}

fn scan_views(text: &str, depth: usize) -> Option<Finding> {
    if let Some(f) = scan_plain(text) {
        return Some(f);
    }
    if let Some(f) = scan_named(&text.to_ascii_uppercase()) {
        return Some(f);
    }
    if text.contains('%') {
        let decoded = percent_decode(text);
        if decoded != text {
            if let Some(f) =
                scan_plain(&decoded).or_else(|| scan_named(&decoded.to_ascii_uppercase()))
            {
                return Some(f);
            }
        }
    }
    if depth >= 2 {
        return None;
    }
    let hex = runs(text, 32, |b| b.is_ascii_hexdigit());
    let b64 = runs(text, 24, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
    });
    for (at, run) in hex {
        if let Some(inner) = hex_decode(run).as_deref().and_then(printable) {
            if let Some(f) = scan_views(&inner, depth + 1) {
                return Some(Finding { rule: f.rule, at });
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
    scan(&String::from_utf8_lossy(bytes))
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
            let pairs = bytes.len() / 2;
            let odd = bytes.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
            let even = bytes.iter().step_by(2).filter(|b| **b == 0).count();
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
    let values: Vec<&str> = values.take(64).collect();
    for (i, a) in values.iter().enumerate() {
        for (j, b) in values.iter().enumerate() {
            if i == j {
                continue;
            }
            let joined = format!(" {}{} ", a.trim(), b.trim());
            let found = scan_named(&joined)
                .or_else(|| scan_named(&joined.to_ascii_uppercase()))
                .or_else(|| scan_named(&percent_decode(&joined)));
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// Percent-decode (for URL paths and queries) so `%41KIA...` is still seen.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request body as its content encoding says to read it. Encodings the
/// scanner cannot read are refused rather than passed unscanned; a body
/// that inflates past `cap` is refused too.
pub fn decode_body<'a>(
    encoding: &str,
    bytes: &'a [u8],
    cap: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    use std::io::Read;
    let inflate = |r: &mut dyn Read| -> Result<std::borrow::Cow<'a, [u8]>, String> {
        let mut out = Vec::new();
        r.take(cap as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("the {encoding} body does not decode ({e})"))?;
        if out.len() > cap {
            return Err(format!("the {encoding} body inflates past {cap} bytes"));
        }
        Ok(std::borrow::Cow::Owned(out))
    };
    match encoding {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(bytes)),
        "gzip" | "x-gzip" => inflate(&mut flate2::read::GzDecoder::new(bytes)),
        "deflate" => inflate(&mut flate2::read::ZlibDecoder::new(bytes)),
        other => Err(format!(
            "the body's content encoding {other:?} cannot be scanned; send it uncompressed, gzip or deflate"
        )),
    }
}

#[cfg(test)]
mod tests {
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
