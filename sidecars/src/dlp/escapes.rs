//! Escapes the reader of a request undoes before it reads the text:
//! percent-encoding (URLs, forms), JSON string escapes (`\u0041`, `\/`),
//! and HTML/XML character references (`&#65;`, `&#x41;`). A secret hidden
//! by escapes holds at least one, so only the stretches around them are
//! decoded and scanned.

/// How far around an escape a secret it hides can reach: longer than any
/// named shape (and its fully escaped form).
pub const REACH: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    Percent,
    Json,
    Html,
}

impl Escapes {
    pub const ALL: [Escapes; 3] = [Escapes::Percent, Escapes::Json, Escapes::Html];

    /// Whether an escape of this kind starts at `i`.
    fn starts(self, b: &[u8], i: usize) -> bool {
        let hex = |k: usize| b.get(i + k).is_some_and(u8::is_ascii_hexdigit);
        match self {
            Escapes::Percent => b[i] == b'%' && hex(1) && hex(2),
            Escapes::Json => b[i] == b'\\' && b.get(i + 1) == Some(&b'u') && (2..6).all(hex),
            Escapes::Html => {
                b[i] == b'&'
                    && b.get(i + 1) == Some(&b'#')
                    && b.get(i + 2)
                        .is_some_and(|c| c.is_ascii_digit() || *c == b'x' || *c == b'X')
            }
        }
    }

    /// The byte every escape of this kind begins with.
    fn lead(self) -> u8 {
        match self {
            Escapes::Percent => b'%',
            Escapes::Json => b'\\',
            Escapes::Html => b'&',
        }
    }

    /// `s` with this kind's escapes undone.
    pub fn decode(self, s: &str) -> String {
        match self {
            Escapes::Percent => percent_decode(s),
            Escapes::Json => json_unescape(s),
            Escapes::Html => html_unescape(s),
        }
    }
}

/// The stretches of `text` around its escapes of `kind`, merged, on
/// character boundaries.
pub fn escape_windows(text: &str, kind: Escapes) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let lead = char::from(kind.lead());
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    // `find` of one ASCII character is a vectorised memchr: most text has
    // no escape, and this is most of the time a scan of it takes.
    while let Some(i) = text[from..].find(lead).map(|i| i + from) {
        from = i + 1;
        if !kind.starts(b, i) {
            continue;
        }
        let mut start = i.saturating_sub(REACH);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (i + 8 + REACH).min(b.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
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

/// JSON string escapes undone, as a JSON parser reads them (surrogate
/// pairs joined; a lone surrogate becomes U+FFFD). Other text is kept.
fn json_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    let hex4 = |at: usize| {
        s.get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(_, next)) = chars.peek() else {
            out.push(c);
            break;
        };
        let simple = match next {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            '/' => Some('/'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            chars.next();
            continue;
        }
        if next == 'u' {
            if let Some(hi) = hex4(i + 2) {
                // Skip `u` and the four digits.
                for _ in 0..5 {
                    chars.next();
                }
                let low = (0xd800..0xdc00).contains(&hi)
                    && s.get(i + 6..i + 8) == Some("\\u")
                    && hex4(i + 8).is_some_and(|lo| (0xdc00..0xe000).contains(&lo));
                let code = if low {
                    let lo = hex4(i + 8).unwrap_or(0);
                    for _ in 0..6 {
                        chars.next();
                    }
                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// HTML/XML numeric character references undone (`&#65;`, `&#x41;`, the
/// `;` optional as browsers read them).
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let (radix, digits_from) = match after.as_bytes().first() {
            Some(b'x' | b'X') => (16, 1),
            _ => (10, 0),
        };
        let digits: &str = &after[digits_from..];
        let len = digits
            .bytes()
            .take_while(|c| (*c as char).is_digit(radix))
            .count()
            .min(8);
        match u32::from_str_radix(&digits[..len], radix)
            .ok()
            .and_then(char::from_u32)
        {
            Some(ch) if len > 0 => {
                out.push(ch);
                let mut next = &digits[len..];
                if let Some(r) = next.strip_prefix(';') {
                    next = r;
                }
                rest = next;
            }
            _ => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_decodes_as_its_reader_does() {
        assert_eq!(
            percent_decode("%41KIA%49OSFODNN7EXAMPLE"),
            "AKIAIOSFODNN7EXAMPLE"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(
            json_unescape(r#"\u0041KIA\u0049OSF\/ODNN7EXAMPLE \"q\" \ud83d\ude00 \ud800x"#),
            "AKIAIOSF/ODNN7EXAMPLE \"q\" 😀 \u{fffd}x"
        );
        assert_eq!(json_unescape(r"\u00"), r"\u00");
        assert_eq!(
            html_unescape("&#65;KIA&#x49;OSFODNN7EXAMPLE &#; &#xZZ &#66"),
            "AKIAIOSFODNN7EXAMPLE &#; &#xZZ B"
        );
    }

    #[test]
    fn windows_surround_only_real_escapes() {
        let text = format!("{} \\u0041 {}", "a".repeat(3000), "b".repeat(3000));
        let w = escape_windows(&text, Escapes::Json);
        assert_eq!(w.len(), 1);
        assert!(w[0].0 <= 3001 && w[0].1 >= 3008);
        assert!(escape_windows("a \\n b \\uZZZZ", Escapes::Json).is_empty());
        assert!(escape_windows("100% sure", Escapes::Percent).is_empty());
        assert!(escape_windows("fish & chips", Escapes::Html).is_empty());
    }
}
