//! The outer terminal's colours: read once from its answers to OSC 10 and
//! 11, and given to the programs in panes that ask the same (to pick a
//! light or dark theme).

use alacritty_terminal::vte::ansi::Rgb;

/// `rrrr/gggg/bbbb` (or 8-bit `rr/gg/bb`) as a colour.
fn rgb(text: &str) -> Option<Rgb> {
    let parts: Vec<u8> = text
        .split('/')
        .map(|p| u8::from_str_radix(p.get(..2)?, 16).ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [r, g, b] => Some(Rgb { r, g, b }),
        _ => None,
    }
}

/// The outer terminal's colours, as `rrrr/gggg/bbbb`, for answering the
/// programs in panes that ask (one terminal per process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterColours {
    pub foreground: String,
    pub background: String,
}

static OUTER_COLOURS: std::sync::OnceLock<OuterColours> = std::sync::OnceLock::new();

/// Remember the outer terminal's colours (the first call wins).
pub fn set_outer_colours(colours: OuterColours) {
    let _ = OUTER_COLOURS.set(colours);
}

/// The colours in a terminal's answers to OSC 10 and 11 queries.
pub fn parse_outer_colours(answer: &[u8]) -> Option<OuterColours> {
    let text = String::from_utf8_lossy(answer);
    let colour = |which: &str| {
        let start = text.find(&format!("\x1b]{which};rgb:"))? + which.len() + 7;
        let rest = &text[start..];
        let end = rest.find(['\x07', '\x1b'])?;
        let value = &rest[..end];
        let ok = value.split('/').count() == 3
            && value.chars().all(|c| c == '/' || c.is_ascii_hexdigit());
        ok.then(|| value.to_string())
    };
    Some(OuterColours {
        foreground: colour("10")?,
        background: colour("11")?,
    })
}

/// The colour to answer an OSC 10 / 11 query with (alacritty numbers
/// them 256 and 257): the outer terminal's, or a dark terminal's when it
/// did not say.
pub(super) fn answer(index: usize) -> Option<Rgb> {
    let outer = OUTER_COLOURS.get();
    let colour = match index {
        256 => outer.map_or("ffff/ffff/ffff", |c| c.foreground.as_str()),
        257 => outer.map_or("0000/0000/0000", |c| c.background.as_str()),
        _ => return None,
    };
    rgb(colour)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outer_terminals_colours_are_read_from_its_answers() {
        let answer = b"\x1b]10;rgb:1c1c/1c1c/1c1c\x1b\\\x1b]11;rgb:fafa/f8f8/f0f0\x07\x1b[?62;22c";
        assert_eq!(
            parse_outer_colours(answer),
            Some(OuterColours {
                foreground: "1c1c/1c1c/1c1c".into(),
                background: "fafa/f8f8/f0f0".into(),
            })
        );
        // A terminal that answers only DA1 says nothing of its colours.
        assert_eq!(parse_outer_colours(b"\x1b[?62c"), None);
    }
}
