//! The named secret shapes (one regex set, matched on upper-cased text a
//! block at a time), the entropy rule and the BIP-39 detector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::encoded::{base64_decode, printable};
use super::Finding;

struct Rule {
    name: &'static str,
    re: regex::bytes::Regex,
}

/// The named rules, and all of them as one set: one pass over the text
/// says whether any matches (most text: none), and only then is each
/// rule run to say which and where.
struct Rules {
    each: Vec<Rule>,
    any: regex::bytes::RegexSet,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        // Word boundaries are ASCII ((?-u:\b)): Unicode ones stop the
        // regex engine's DFA on any non-ASCII text, a hundredfold slower.
        let table: &[(&str, &str)] = &[
            (
                "aws-access-key-id",
                r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)",
            ),
            (
                "aws-secret-access-key",
                r#"aws.{0,20}(?:secret|key).{0,20}['"=:\s]([A-Za-z0-9/+]{40})(?-u:\b)"#,
            ),
            (
                "github-token",
                r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36,255}(?-u:\b)",
            ),
            (
                "github-fine-grained-token",
                r"(?-u:\b)github_pat_[A-Za-z0-9_]{80,255}(?-u:\b)",
            ),
            (
                "gitlab-token",
                r"(?-u:\b)gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_\-]{20,}(?-u:\b)",
            ),
            (
                "slack-token",
                r"(?-u:\b)xox[abposr]-[A-Za-z0-9\-]{10,}(?-u:\b)",
            ),
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
                r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            ),
            (
                "openai-api-key",
                r"(?-u:\b)sk-(?:proj-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}(?-u:\b)",
            ),
            (
                "anthropic-api-key",
                r"(?-u:\b)sk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_\-]{80,}(?-u:\b)",
            ),
        ];
        // In any case: a key lower-cased is still the key. The rules run
        // on the upper-cased text, upper-cased themselves: as fast as
        // matching case, where (?i) would be several times slower.
        let each: Vec<Rule> = table
            .iter()
            .filter_map(|(name, pattern)| {
                regex::bytes::Regex::new(&upper_pattern(pattern))
                    .ok()
                    .map(|re| Rule { name, re })
            })
            .collect();
        let any = regex::bytes::RegexSet::new(each.iter().map(|r| r.re.as_str()))
            .unwrap_or_else(|_| regex::bytes::RegexSet::empty());
        Rules { each, any }
    })
}

/// Long runs of base64/hex-ish characters with high entropy: the shape of
/// keys no named rule knows.
pub(super) fn high_entropy<'a>(
    runs: impl IntoIterator<Item = &'a (usize, &'a str)>,
) -> Option<usize> {
    for &(start, s) in runs {
        if s.len() < 32 {
            continue;
        }
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
            return Some(start);
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

/// A rule's pattern for upper-cased text: its letters upper-cased, except
/// in escapes (`\d`, `\s`, `\b`) and flag groups (`(?-u:`).
pub(super) fn upper_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '(' if chars.peek() == Some(&'?') => {
                out.push(c);
                for n in chars.by_ref() {
                    out.push(n);
                    if n == ':' || n == ')' {
                        break;
                    }
                }
            }
            _ => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

/// Text is upper-cased and matched a block at a time: no copy of a large
/// body, and the block stays in cache.
pub(super) const BLOCK: usize = 256 * 1024;
/// Blocks overlap by more than the longest shortest match of any rule, so
/// a shape across a block edge is whole in one of the two.
pub(super) const OVERLAP: usize = 1024;

/// The first named secret shape in `text`, in any case (no entropy rule).
pub(super) fn scan_named(text: &str) -> Option<Finding> {
    let rules = rules();
    let b = text.as_bytes();
    let mut upper = Vec::with_capacity(BLOCK.min(b.len()));
    let mut start = 0;
    loop {
        let end = (start + BLOCK).min(b.len());
        upper.clear();
        upper.extend(b[start..end].iter().map(u8::to_ascii_uppercase));
        let block = upper.as_slice();
        // Past the first block, byte 0 is context (a word boundary there
        // is the text's, not the block's); the previous block saw it.
        let from = usize::from(start > 0);
        if rules.any.is_match_at(block, from) {
            let found = rules.each.iter().find_map(|r| {
                r.re.find_at(block, from).map(|m| Finding {
                    rule: r.name,
                    at: start + m.start(),
                })
            });
            if found.is_some() {
                return found;
            }
        }
        if end == b.len() {
            return None;
        }
        start = end - OVERLAP;
    }
}

/// Whether wallet seed phrases are looked for (off by default, as in the
/// system bb replaces: ordinary English can run to a dozen list words).
static BIP39: AtomicBool = AtomicBool::new(false);

/// Turn the BIP-39 seed phrase detector on or off for this process. The
/// git gate's hook learns it from `BB_DLP_BIP39=1`.
pub fn set_bip39(on: bool) {
    BIP39.store(on, Ordering::Relaxed);
}

pub(super) fn bip39_on() -> bool {
    // Read once: every scan asks, and reading the environment takes a lock.
    static FROM_ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    BIP39.load(Ordering::Relaxed)
        || *FROM_ENV.get_or_init(|| std::env::var("BB_DLP_BIP39").as_deref() == Ok("1"))
}

/// A BIP-39 mnemonic: 12 to 24 consecutive words of the English list whose
/// checksum holds (so a run of list words in prose is not enough).
pub(super) fn bip39_phrase(text: &str) -> Option<usize> {
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
