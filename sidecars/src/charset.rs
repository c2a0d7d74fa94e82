//! DEC special graphics in front of a vt100 emulator (bb's panes and the
//! console holder's screen): curses programs draw
//! boxes by designating it as G0 (`ESC ( 0`) and printing ASCII (`lqqk`),
//! which vt100 does not implement. This turns those bytes into the Unicode
//! line-drawing characters they stand for, and passes everything else
//! (escape sequences, strings, UTF-8) through unchanged, however the
//! stream is split.

/// Where the scanner is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    Escape,
    /// `ESC (`: the next byte names G0's character set.
    DesignateG0,
    /// `ESC` followed by other intermediates, up to the final byte.
    EscapeIntermediate,
    /// `ESC [` up to the final byte.
    Csi,
    /// OSC, DCS, SOS, PM or APC: until BEL or `ESC \`.
    String,
    StringEscape,
}

#[derive(Debug, Default)]
pub struct Charset {
    state: State,
    /// G0 is DEC special graphics.
    graphics: bool,
}

/// The line-drawing character a DEC special graphics byte stands for.
fn graphic(b: u8) -> Option<char> {
    Some(match b {
        b'`' => '◆',
        b'a' => '▒',
        b'f' => '°',
        b'g' => '±',
        b'j' => '┘',
        b'k' => '┐',
        b'l' => '┌',
        b'm' => '└',
        b'n' => '┼',
        b'o' => '⎺',
        b'p' => '⎻',
        b'q' => '─',
        b'r' => '⎼',
        b's' => '⎽',
        b't' => '├',
        b'u' => '┤',
        b'v' => '┴',
        b'w' => '┬',
        b'x' => '│',
        b'y' => '≤',
        b'z' => '≥',
        b'{' => 'π',
        b'|' => '≠',
        b'}' => '£',
        b'~' => '·',
        _ => return None,
    })
}

impl Charset {
    /// `bytes` as the emulator should see them; borrowed when nothing
    /// changes (the common case: no program drawing lines).
    pub fn translate<'a>(&mut self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let mut out: Option<Vec<u8>> = None;
        for (i, &b) in bytes.iter().enumerate() {
            let mapped = self.step(b);
            match (mapped, &mut out) {
                (Some(c), None) => {
                    let mut v = Vec::with_capacity(bytes.len() + 16);
                    v.extend_from_slice(&bytes[..i]);
                    let mut buf = [0u8; 4];
                    v.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    out = Some(v);
                }
                (Some(c), Some(v)) => {
                    let mut buf = [0u8; 4];
                    v.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                (None, Some(v)) => v.push(b),
                (None, None) => {}
            }
        }
        match out {
            Some(v) => std::borrow::Cow::Owned(v),
            None => std::borrow::Cow::Borrowed(bytes),
        }
    }

    /// Advance over one byte; the character it becomes, when translated.
    fn step(&mut self, b: u8) -> Option<char> {
        use State::*;
        match self.state {
            Ground => match b {
                0x1b => self.state = Escape,
                _ if self.graphics => return graphic(b),
                _ => {}
            },
            Escape => {
                self.state = match b {
                    b'[' => Csi,
                    b']' | b'P' | b'X' | b'^' | b'_' => String,
                    b'(' => DesignateG0,
                    0x20..=0x2f => EscapeIntermediate,
                    0x1b => Escape,
                    _ => Ground,
                }
            }
            DesignateG0 => {
                self.graphics = b == b'0';
                self.state = Ground;
            }
            EscapeIntermediate => {
                if !(0x20..=0x2f).contains(&b) {
                    self.state = if b == 0x1b { Escape } else { Ground };
                }
            }
            Csi => match b {
                0x40..=0x7e => self.state = Ground,
                0x1b => self.state = Escape,
                _ => {}
            },
            String => match b {
                0x07 => self.state = Ground,
                0x1b => self.state = StringEscape,
                _ => {}
            },
            StringEscape => self.state = if b == b'\\' { Ground } else { String },
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> String {
        String::from_utf8(Charset::default().translate(input).into_owned()).unwrap()
    }

    #[test]
    fn line_drawing_becomes_box_characters_and_ends_with_esc_paren_b() {
        assert_eq!(
            all(b"\x1b(0lqqk\x1b(B lqqk\r\n\x1b(0x\x1b(Bx"),
            "\x1b(0┌──┐\x1b(B lqqk\r\n\x1b(0│\x1b(Bx"
        );
    }

    #[test]
    fn escape_sequences_and_strings_pass_through_untouched() {
        let input = b"\x1b(0\x1b[1;31mq\x1b[m\x1b]0;lqk title\x07q\x1b]2;x\x1b\\q";
        assert_eq!(
            all(input),
            "\x1b(0\x1b[1;31m─\x1b[m\x1b]0;lqk title\x07─\x1b]2;x\x1b\\─"
        );
        // Plain text is borrowed, not copied.
        let mut c = Charset::default();
        assert!(matches!(
            c.translate(b"lqqk \xe2\x94\x80"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn any_split_gives_the_same_text() {
        let input: &[u8] = b"a\x1b(0lq\x1b[2;5Hqk\x1b]0;q\x1b\\x\x1b(Bq";
        let whole = all(input);
        for split in 0..input.len() {
            let mut c = Charset::default();
            let mut out = c.translate(&input[..split]).into_owned();
            out.extend_from_slice(&c.translate(&input[split..]));
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split at {split}");
        }
    }
}
