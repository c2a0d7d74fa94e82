//! What the terminal emulators misread, fixed in front of them. Written for
//! vt100, which needed all of it; alacritty_terminal (bb's panes and the
//! console holder) needs only SGR 21, the rest being what it does itself:
//!
//! - DEC special graphics: curses programs draw boxes by designating it as
//!   G0 (`ESC ( 0`) and printing ASCII (`lqqk`); those bytes become the
//!   Unicode line-drawing characters they stand for.
//! - Hidden text (SGR 8, which vt100 does not keep) is printed as spaces.
//! - Autowrap off (`CSI ? 7 l`, which vt100 ignores): text that reaches
//!   the right margin stays in the last column instead of wrapping, as
//!   curses expects when it fills the bottom-right corner.
//! - SGR 21: a double underline (ECMA-48, xterm), where alacritty
//!   reads bold off.
//! - SGR it parses wrongly: underline colour (58, 59) was read as separate
//!   codes (`58;2;1;3;7` turned on bold, italic and reverse) and is
//!   dropped; colon forms (`38:2::r:g:b`, `4:3`) become the forms it reads.
//!
//! Everything else (other escape sequences, strings, UTF-8) passes through
//! unchanged, however the stream is split.

/// Where the scanner is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    /// After `ESC`, which is held until the next byte says what it starts.
    Escape,
    /// `ESC (`: the next byte names G0's character set.
    DesignateG0,
    /// `ESC` followed by other intermediates, up to the final byte.
    EscapeIntermediate,
    /// `ESC [` up to the final byte, held in `csi`.
    Csi,
    /// A CSI too long to hold, passed on up to its final byte.
    CsiPass,
    /// OSC, DCS, SOS, PM or APC: until BEL or `ESC \`.
    String,
    StringEscape,
}

/// A CSI longer than this is passed on as it is (no SGR is this long).
const CSI_MAX: usize = 256;

#[derive(Debug, Default)]
pub struct Front {
    state: State,
    /// G0 is DEC special graphics.
    graphics: bool,
    /// The CSI being read, from its `ESC [`.
    csi: Vec<u8>,
    /// The program is drawing a frame it wants shown whole (synchronized
    /// output, `CSI ? 2026 h` ... `l`).
    synchronized: bool,
    /// SGR 8 (conceal) is on: text prints as blanks.
    hidden: bool,
    /// Autowrap is off (DECAWM reset).
    no_wrap: bool,
    /// The character being read when autowrap is off: its UTF-8 bytes.
    char_bytes: Vec<u8>,
}

/// After a character printed with autowrap off: back and forth, which
/// leaves the cursor where it was unless it had gone past the right
/// margin (vt100's pending wrap), where it comes back to the last column.
const HOLD_AT_MARGIN: &[u8] = b"\x1b[D\x1b[C";

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

impl Front {
    /// Whether the program is in the middle of a synchronized frame.
    pub fn synchronized(&self) -> bool {
        self.synchronized
    }

    /// `bytes` as the emulator should see them. A sequence split across
    /// calls is held until it is whole.
    pub fn translate(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 8);
        let mut rest = bytes;
        while let Some((&b, after)) = rest.split_first() {
            // Plain text with nothing to change is copied in one go.
            if self.state == State::Ground && !(self.hidden || self.graphics || self.no_wrap) {
                let run = rest.iter().position(|&c| c == 0x1b).unwrap_or(rest.len());
                if run > 0 {
                    out.extend_from_slice(&rest[..run]);
                    rest = &rest[run..];
                    continue;
                }
            }
            self.step(b, &mut out);
            rest = after;
        }
        out
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        use State::*;
        if self.no_wrap && self.state == Ground && b != 0x1b {
            return self.step_no_wrap(b, out);
        }
        match self.state {
            Ground => match b {
                0x1b => self.state = Escape,
                // A character's first byte is a blank; its other bytes
                // (UTF-8 continuations) nothing.
                0x20..=0x7e | 0xc0..=0xff if self.hidden => out.push(b' '),
                0x80..=0xbf if self.hidden => {}
                _ => match graphic(b).filter(|_| self.graphics) {
                    Some(c) => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    None => out.push(b),
                },
            },
            Escape => {
                if b == b'[' {
                    self.csi.clear();
                    self.csi.extend_from_slice(b"\x1b[");
                    self.state = Csi;
                    return;
                }
                out.extend_from_slice(&[0x1b, b]);
                self.state = match b {
                    b']' | b'P' | b'X' | b'^' | b'_' => String,
                    b'(' => DesignateG0,
                    0x20..=0x2f => EscapeIntermediate,
                    0x1b => {
                        // ESC ESC: the first is done; the second is held.
                        out.pop();
                        Escape
                    }
                    _ => Ground,
                };
            }
            DesignateG0 => {
                out.push(b);
                self.graphics = b == b'0';
                self.state = Ground;
            }
            EscapeIntermediate => {
                if b == 0x1b {
                    self.state = Escape;
                    return;
                }
                out.push(b);
                if !(0x20..=0x2f).contains(&b) {
                    self.state = Ground;
                }
            }
            Csi => match b {
                0x40..=0x7e => {
                    self.csi.push(b);
                    let csi = std::mem::take(&mut self.csi);
                    if let Some(modes) = csi.strip_prefix(b"\x1b[?") {
                        let on = b == b'h';
                        if (b == b'h' || b == b'l')
                            && modes[..modes.len() - 1]
                                .split(|&c| c == b';')
                                .any(|m| m == b"7")
                        {
                            self.no_wrap = !on;
                            self.char_bytes.clear();
                        }
                    }
                    match &csi[..] {
                        b"\x1b[?2026h" => self.synchronized = true,
                        b"\x1b[?2026l" => self.synchronized = false,
                        _ if b == b'm' => {
                            self.hidden = concealed(&csi[2..csi.len() - 1], self.hidden)
                        }
                        _ => {}
                    }
                    match (b, sgr(&csi[2..csi.len() - 1])) {
                        (b'm', Some(Some(params))) => {
                            out.extend_from_slice(b"\x1b[");
                            out.extend_from_slice(&params);
                            out.push(b'm');
                        }
                        // Nothing it understands is left: no sequence.
                        (b'm', Some(None)) => {}
                        _ => out.extend_from_slice(&csi),
                    }
                    self.state = Ground;
                }
                0x1b => {
                    out.extend_from_slice(&std::mem::take(&mut self.csi));
                    self.state = Escape;
                }
                _ if self.csi.len() >= CSI_MAX => {
                    out.extend_from_slice(&std::mem::take(&mut self.csi));
                    out.push(b);
                    self.state = CsiPass;
                }
                _ => self.csi.push(b),
            },
            CsiPass => match b {
                0x1b => self.state = Escape,
                _ => {
                    out.push(b);
                    if (0x40..=0x7e).contains(&b) {
                        self.state = Ground;
                    }
                }
            },
            String => {
                match b {
                    0x07 => self.state = Ground,
                    0x1b => self.state = StringEscape,
                    _ => {}
                }
                out.push(b);
            }
            StringEscape => {
                out.push(b);
                self.state = if b == b'\\' { Ground } else { String };
            }
        }
    }
}

impl Front {
    /// Ground with autowrap off: each whole character that takes room is
    /// followed by HOLD_AT_MARGIN. Control bytes pass as they are.
    fn step_no_wrap(&mut self, b: u8, out: &mut Vec<u8>) {
        if b < 0x20 || b == 0x7f {
            self.char_bytes.clear();
            out.push(b);
            return;
        }
        if !(0x80..0xc0).contains(&b) {
            self.char_bytes.clear();
        }
        self.char_bytes.push(b);
        let Ok(text) = std::str::from_utf8(&self.char_bytes) else {
            // Not whole yet (or not UTF-8, passed on as it came).
            if self.char_bytes.len() >= 4 {
                out.extend_from_slice(&std::mem::take(&mut self.char_bytes));
            }
            return;
        };
        let width = unicode_width::UnicodeWidthStr::width(text);
        let bytes = std::mem::take(&mut self.char_bytes);
        let was = std::mem::replace(&mut self.no_wrap, false);
        for b in bytes {
            self.step(b, out);
        }
        self.no_wrap = was;
        if width > 0 {
            out.extend_from_slice(HOLD_AT_MARGIN);
        }
    }
}

/// Whether text is concealed after SGR `params` (8 on; 28 and reset off).
fn concealed(params: &[u8], before: bool) -> bool {
    let Ok(text) = std::str::from_utf8(params) else {
        return before;
    };
    if text.starts_with(['<', '=', '>', '?']) {
        return before;
    }
    // (code, whether it carried its arguments after colons)
    let codes: Vec<(&str, bool)> = text
        .split(';')
        .map(|p| (p.split(':').next().unwrap_or(""), p.contains(':')))
        .collect();
    let mut hidden = before;
    let mut i = 0;
    while i < codes.len() {
        match codes[i] {
            // A colour's own arguments (5;N or 2;r;g;b) are not codes.
            ("38" | "48" | "58", false) => {
                i += match codes.get(i + 1).map(|c| c.0) {
                    Some("5") => 2,
                    Some("2") => 4,
                    _ => 0,
                };
            }
            ("8", _) => hidden = true,
            ("0" | "" | "28", _) => hidden = false,
            _ => {}
        }
        i += 1;
    }
    hidden
}

/// SGR parameters rewritten for vt100: `None` when they need nothing,
/// `Some(None)` when nothing is left of them.
fn sgr(params: &[u8]) -> Option<Option<Vec<u8>>> {
    let text = std::str::from_utf8(params).ok()?;
    let needs = text.contains(':') || text.split(';').any(|p| matches!(p, "58" | "59" | "21"));
    if !needs || text.starts_with(['<', '=', '>', '?']) {
        return None;
    }
    let params: Vec<Vec<&str>> = text.split(';').map(|p| p.split(':').collect()).collect();
    let mut kept: Vec<String> = Vec::new();
    let mut i = 0;
    while i < params.len() {
        let p = &params[i];
        i += 1;
        match (p[0], p.len()) {
            // Underline colour: vt100 has none; drop it and its arguments.
            ("58", 1) => {
                i += match params.get(i).map(|q| q[0]) {
                    Some("5") => 2,
                    Some("2") => 4,
                    _ => 0,
                };
            }
            ("58", _) | ("59", _) => {}
            // A colour's own arguments (which may be 58) are kept whole.
            ("38" | "48", 1) => {
                let args = match params.get(i).map(|q| q[0]) {
                    Some("5") => 2,
                    Some("2") => 4,
                    _ => 0,
                };
                kept.push(p[0].to_string());
                for q in params.iter().skip(i).take(args) {
                    kept.push(q[0].to_string());
                }
                i += args;
            }
            ("38" | "48", n) if n > 1 => {
                let colour: Vec<&str> = match (p[1], n) {
                    ("5", 3) => vec![p[0], "5", p[2]],
                    ("2", 5) => vec![p[0], "2", p[2], p[3], p[4]],
                    // With a colour space id (often empty) first.
                    ("2", 6) => vec![p[0], "2", p[3], p[4], p[5]],
                    _ => Vec::new(),
                };
                kept.extend(colour.into_iter().map(|s| {
                    if s.is_empty() {
                        "0".to_string()
                    } else {
                        s.to_string()
                    }
                }));
            }
            // Underline styles (double, curly, ...): an underline. 21 is
            // a double underline (ECMA-48, xterm), not bold off.
            ("4", n) if n > 1 => kept.push(if p[1] == "0" { "24" } else { "4" }.into()),
            ("21", 1) => kept.push("4".into()),
            (first, _) => kept.push(first.to_string()),
        }
    }
    Some((!kept.is_empty()).then(|| kept.join(";").into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> String {
        String::from_utf8(Front::default().translate(input)).unwrap()
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
        let input =
            b"\x1b(0\x1b[1;31mq\x1b[m\x1b]0;lqk title\x07q\x1b]2;x\x1b\\q\x1b[2;5H\x1b[?25l";
        assert_eq!(
            all(input),
            "\x1b(0\x1b[1;31m─\x1b[m\x1b]0;lqk title\x07─\x1b]2;x\x1b\\─\x1b[2;5H\x1b[?25l"
        );
        let long = format!("\x1b[{}m", "1;".repeat(300));
        assert_eq!(all(long.as_bytes()), long);
        assert_eq!(all(b"\x1b\x1b[1m"), "\x1b\x1b[1m");
    }

    #[test]
    fn underline_colour_is_dropped_and_colon_forms_are_made_plain() {
        // crossterm's underline colour, alone and among other codes.
        assert_eq!(all(b"\x1b[58;5;196m"), "");
        assert_eq!(all(b"\x1b[31;58;2;255;0;0m"), "\x1b[31m");
        assert_eq!(all(b"\x1b[58;2;1;3;7;1m"), "\x1b[1m");
        assert_eq!(all(b"\x1b[58:2::9:9:9;4m"), "\x1b[4m");
        assert_eq!(all(b"\x1b[59m"), "");
        // Colon-form truecolour, with and without a colour space.
        assert_eq!(all(b"\x1b[38:2::10:20:30m"), "\x1b[38;2;10;20;30m");
        assert_eq!(all(b"\x1b[48:2:10:20:30m"), "\x1b[48;2;10;20;30m");
        assert_eq!(all(b"\x1b[38:5:208m"), "\x1b[38;5;208m");
        // Curly and double underline are underlines; 4:0 ends one.
        assert_eq!(all(b"\x1b[4:3m"), "\x1b[4m");
        assert_eq!(all(b"\x1b[4:0m"), "\x1b[24m");
        // What needs nothing is passed on as it came.
        assert_eq!(all(b"\x1b[38;5;58m"), "\x1b[38;5;58m");
    }

    #[test]
    fn a_synchronized_frame_is_seen_from_its_start_to_its_end() {
        let mut f = Front::default();
        f.translate(b"\x1b[?2026h\x1b[H");
        assert!(f.synchronized());
        f.translate(b"frame\x1b[?20");
        assert!(f.synchronized());
        f.translate(b"26l");
        assert!(!f.synchronized());
    }

    #[test]
    fn hidden_text_is_blank_until_it_is_revealed() {
        assert_eq!(
            all(b"pw: \x1b[8mhunter2\x1b[28m ok"),
            "pw: \x1b[8m       \x1b[28m ok"
        );
        assert_eq!(
            all(b"\x1b[1;8m\xc3\xa9t\xc3\xa9\x1b[mx"),
            "\x1b[1;8m   \x1b[mx"
        );
        // 8 as a colour's argument conceals nothing.
        assert_eq!(all(b"\x1b[38;5;8mgrey"), "\x1b[38;5;8mgrey");
        assert_eq!(all(b"\x1b[38;2;8;8;8mgrey"), "\x1b[38;2;8;8;8mgrey");
    }

    #[test]
    fn any_split_gives_the_same_text() {
        let input: &[u8] =
            b"a\x1b(0lq\x1b[2;5Hqk\x1b]0;q\x1b\\x\x1b(Bq\x1b[31;58;5;1mz\x1b[38:2::1:2:3m";
        let whole = all(input);
        for split in 0..input.len() {
            let mut c = Front::default();
            let mut out = c.translate(&input[..split]);
            out.extend_from_slice(&c.translate(&input[split..]));
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split at {split}");
        }
    }

    #[test]
    fn with_autowrap_off_text_stays_in_the_last_column() {
        let mut p = vt100::Parser::new(
            std::num::NonZeroU16::new(3).unwrap(),
            std::num::NonZeroU16::new(5).unwrap(),
            0,
        );
        let mut f = Front::default();
        p.process(&f.translate(b"\x1b[?7labcdefg\x1b[?7h\r\nhij"));
        assert_eq!(p.screen().contents(), "abcdg\nhij");
        // Byte by byte, a UTF-8 character split too: the same.
        for b in "\x1b[?7lxy\u{00e9}z\x1b[?7h".as_bytes() {
            p.process(&f.translate(&[*b]));
        }
        assert_eq!(p.screen().contents(), "abcdg\nhijxz");
        assert_eq!(p.screen().cursor_position(), (1, 4));
    }

    #[test]
    fn sgr_21_is_a_double_underline() {
        assert_eq!(all(b"\x1b[21mx"), "\x1b[4mx");
        assert_eq!(all(b"\x1b[1;21;31mx"), "\x1b[1;4;31mx");
    }
}
