//! Encoded runs (base64 and hex) and their decoding: found by skipping
//! through text, decoded to be scanned as what they hold.

/// The base64 alphabet (both kinds): the bytes encoded runs are made of.
pub(super) const ENCODED: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        c += 1;
    }
    t
};

/// The shortest run the decoders try.
pub(super) const MIN_RUN: usize = 24;

/// Runs of 24 or more base64-alphabet characters (hex is a subset, so
/// hex runs lie inside them): (start, run). It probes the last byte of
/// each 24-byte window first, so ordinary text (short words) is skipped
/// mostly without reading every byte.
pub(super) fn encoded_runs(text: &str) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Invariant: `i` is 0 or follows a byte outside the alphabet.
    let mut i = 0;
    while i + MIN_RUN <= b.len() {
        let probe = i + MIN_RUN - 1;
        if !ENCODED[b[probe] as usize] {
            i = probe + 1;
            continue;
        }
        let mut j = probe;
        while j > i && ENCODED[b[j - 1] as usize] {
            j -= 1;
        }
        if j > i {
            // Too short a run so far: look again from where it starts.
            i = j;
            continue;
        }
        let mut end = probe + 1;
        while end < b.len() && ENCODED[b[end] as usize] {
            end += 1;
        }
        // ASCII bytes only, so these are character boundaries.
        out.push((i, &text[i..end]));
        i = end + 1;
    }
    out
}

/// How many bytes at the end of a scanned window of a streamed body to
/// hold back and scan again with the next: at least `tail`, starting on a
/// character; where the window ends inside an encoded run, starting a
/// whole number of base64 quanta into the run, so the next window decodes
/// it in step.
pub fn held_back(buf: &[u8], tail: usize) -> usize {
    if buf.len() <= tail {
        return buf.len();
    }
    let run_start = buf
        .iter()
        .rposition(|b| !ENCODED[*b as usize])
        .map_or(0, |i| i + 1);
    let mut start = buf.len() - tail;
    if run_start < buf.len() && run_start <= start {
        start -= (start - run_start) % 4;
    }
    while start > 0 && buf[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    buf.len() - start
}

/// Runs of 32 or more hex digits inside `run`: (offset, run).
pub(super) fn hex_runs(run: &str) -> Vec<(usize, &str)> {
    let b = run.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i - start >= 32 {
            out.push((start, &run[start..i]));
        }
        i += 1;
    }
    out
}

pub(super) fn hex_decode(run: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    run.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

pub(super) fn base64_decode(run: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let run = run.trim_end_matches('=');
    // One character past a whole quantum cannot be base64: drop it.
    let run = if run.len() % 4 == 1 {
        &run[..run.len() - 1]
    } else {
        run
    };
    let whole = |run: &str| {
        STANDARD_NO_PAD
            .decode(run)
            .or_else(|_| URL_SAFE_NO_PAD.decode(run))
            .ok()
    };
    // A run cut short (at the edge of a streamed window) ends mid-quantum:
    // read the whole quanta.
    whole(run).or_else(|| whole(&run[..run.len() - run.len() % 4]))
}

/// A run of base32 (RFC 4648, one case throughout) decoded; None when the
/// run is not base32. Runs cut mid-quantum read their whole quanta.
pub(super) fn base32_decode(run: &str) -> Option<Vec<u8>> {
    let upper = run
        .bytes()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c));
    let lower = run
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c));
    // A run of letters alone is a word, not an encoding.
    if !(upper || lower) || !run.bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let run = run.to_ascii_uppercase();
    // Whole 8-character quanta, or a valid partial one (2, 4, 5 or 7).
    let cut = match run.len() % 8 {
        0 | 2 | 4 | 5 | 7 => run.len(),
        r => run.len() - r,
    };
    data_encoding::BASE32_NOPAD
        .decode(&run.as_bytes()[..cut])
        .ok()
}

/// Decoded bytes worth scanning: mostly printable text.
pub(super) fn printable(bytes: &[u8]) -> Option<String> {
    // Most decoded runs are noise: judge the first few hundred bytes
    // before reading them all.
    const PEEK: usize = 512;
    if bytes.len() > 2 * PEEK && printable(&bytes[..PEEK]).is_none() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let good = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .filter(|c| *c != char::REPLACEMENT_CHARACTER)
        .count();
    (good * 10 >= text.chars().count() * 9).then(|| text.into_owned())
}
