//! Text that came from a bottle (an agent's proposal, a host or path it
//! asked for, a notification it sent) as bb shows it to the operator:
//! control characters are shown as symbols, never handed to a terminal to
//! act on, and the invisible characters that reorder or hide text (bidi
//! overrides, zero-width marks) are shown by their code point, so what the
//! operator reads is what the agent sent.

use std::borrow::Cow;

/// `text` with every character that would act rather than print made
/// visible: C0 controls as their control pictures (`␛` for ESC), DEL as
/// `␡`, C1 controls and invisible format characters as `<U+202E>`. Tabs
/// become a space; line breaks are the caller's to split on first (a
/// newline left in is shown as `␤`).
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_showing) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push(' '),
            '\n' => out.push('␤'),
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\u{7f}' => out.push('␡'),
            c if needs_showing(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Each line of `text`, shown.
pub fn shown_lines(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    text.lines().map(shown)
}

fn needs_showing(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // Zero-width and joiner controls used to hide text.
            '\u{200b}'..='\u{200f}'
            // Bidi embeddings, overrides and isolates (Trojan Source).
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061c}'
            | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_would_act_is_shown_and_the_rest_is_left_alone() {
        assert!(matches!(
            shown("pypi.org /simple/ ünïcode 日本"),
            Cow::Borrowed(_)
        ));
        assert_eq!(shown("a\x1b]52;c;Y3VybA==\x07b"), "a␛]52;c;Y3VybA==␇b");
        assert_eq!(shown("x\u{9b}2Jy\u{7f}"), "x<U+009B>2Jy␡");
        assert_eq!(shown("safe\u{202e}hs.lave"), "safe<U+202E>hs.lave");
        assert_eq!(shown("a\tb\r\nc"), "a b␍␤c");
        assert_eq!(
            shown_lines("one\ntwo\x1b").collect::<Vec<_>>(),
            ["one", "two␛"]
        );
    }
}
