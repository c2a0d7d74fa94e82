//! One session's terminal emulator: a vt100 parser that also answers the
//! questions programs ask their terminal, and a scrollback view. It knows
//! nothing of processes or screens; bytes in, state out.

use std::num::NonZeroU16;

use vt100::{Callbacks, Parser, Screen};

/// Default lines of history per session.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

/// What the emulator collects while parsing, for the session to act on.
#[derive(Debug, Default)]
pub struct Replies {
    /// Bytes to write back to the program (answers to DSR, DA1, ...).
    pub to_program: Vec<u8>,
    /// An OSC 52 copy the program asked for, still base64-encoded.
    pub clipboard: Option<Vec<u8>>,
    pub title: Option<String>,
    pub bell: bool,
}

impl Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, c, first) {
            // DSR: cursor position report. Programs built on crossterm
            // block for two seconds, then fail, without it.
            (None, 'n', 6) => {
                let (row, col) = screen.cursor_position();
                self.to_program
                    .extend_from_slice(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
            // DSR: status.
            (None, 'n', 5) => self.to_program.extend_from_slice(b"\x1b[0n"),
            // DA1: a VT220-class terminal with ANSI colour. Answering only
            // this (not `CSI ? u`) tells crossterm there is no kitty
            // keyboard protocol, which matches how bb encodes keys.
            (None, 'c', 0) => self.to_program.extend_from_slice(b"\x1b[?62;22c"),
            // DA2
            (Some(b'>'), 'c', 0) => self.to_program.extend_from_slice(b"\x1b[>1;10;0c"),
            // XTVERSION: programs tune themselves to the terminal's name.
            (Some(b'>'), 'q', 0) => self.to_program.extend_from_slice(
                format!("\x1bP>|bb {}\x1b\\", env!("CARGO_PKG_VERSION")).as_bytes(),
            ),
            // XTWINOPS 18: the text area's size in characters.
            (None, 't', 18) => {
                let (rows, cols) = screen.size();
                self.to_program
                    .extend_from_slice(format!("\x1b[8;{rows};{cols}t").as_bytes());
            }
            _ => {}
        }
    }

    fn unhandled_osc(&mut self, _screen: &mut Screen, params: &[&[u8]]) {
        // OSC 10/11 ;? : foreground/background colour queries, used to
        // pick a light or dark theme. Answer with the outer terminal's
        // colours, or as a dark terminal when it did not say.
        if let [which, b"?"] = params {
            let outer = OUTER_COLOURS.get();
            let colour = match *which {
                b"10" => Some(outer.map_or("ffff/ffff/ffff", |c| c.foreground.as_str())),
                b"11" => Some(outer.map_or("0000/0000/0000", |c| c.background.as_str())),
                _ => None,
            };
            if let Some(c) = colour {
                let which = String::from_utf8_lossy(which);
                self.to_program
                    .extend_from_slice(format!("\x1b]{which};rgb:{c}\x1b\\").as_bytes());
            }
        }
    }

    fn copy_to_clipboard(&mut self, _screen: &mut Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard = Some(data.to_vec());
    }

    fn set_window_title(&mut self, _screen: &mut Screen, title: &[u8]) {
        self.title = Some(String::from_utf8_lossy(title).into_owned());
    }

    fn audible_bell(&mut self, _screen: &mut Screen) {
        self.bell = true;
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

pub struct Term {
    parser: Parser<Replies>,
    /// What vt100 misreads (DEC line drawing, underline colour, colon
    /// SGR), fixed in front of it.
    front: bb_sidecar::front::Front,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(1)).unwrap_or(NonZeroU16::MIN)
}

impl Term {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Term {
        Term {
            parser: Parser::new_with_callbacks(nz(rows), nz(cols), scrollback, Replies::default()),
            front: Default::default(),
        }
    }

    /// Parse program output. Returns the bytes to answer with, if any.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let bytes = self.front.translate(bytes);
        self.parser.process(&bytes);
        std::mem::take(&mut self.parser.callbacks_mut().to_program)
    }

    /// Whether the program is drawing a frame it wants shown whole.
    pub fn synchronized(&self) -> bool {
        self.front.synchronized()
    }

    /// The screen, for the drawing adapter.
    pub fn view(&self) -> &super::draw::VtScreen {
        use ref_cast::RefCast;
        super::draw::VtScreen::ref_cast(self.parser.screen())
    }

    /// Where the program's cursor is on the live screen (row, col).
    pub fn cursor_position(&self) -> (u16, u16) {
        self.parser.screen().cursor_position()
    }

    pub fn hides_cursor(&self) -> bool {
        self.parser.screen().hide_cursor()
    }

    /// Whether the program is on the alternate screen (no history there).
    pub fn alternate_screen(&self) -> bool {
        self.parser.screen().alternate_screen()
    }

    /// What the program gets for `key`, in its current modes.
    pub fn key_bytes(&self, key: &crossterm::event::KeyEvent) -> Vec<u8> {
        super::input::encode_key(key, self.modes())
    }

    /// A paste, bracketed when the program asked for that.
    pub fn paste_bytes(&self, text: &str) -> Vec<u8> {
        super::input::encode_paste(text, self.modes())
    }

    /// Whether the program asked for mouse reports.
    pub fn wants_mouse(&self) -> bool {
        self.parser.screen().mouse_protocol_mode() != vt100::MouseProtocolMode::None
    }

    /// A mouse event at (col, row) of the pane, as the program asked for
    /// mouse reports; None when it does not want this one.
    pub fn mouse_bytes(
        &self,
        kind: crossterm::event::MouseEventKind,
        mods: crossterm::event::KeyModifiers,
        col: u16,
        row: u16,
    ) -> Option<Vec<u8>> {
        let screen = self.parser.screen();
        super::input::encode_mouse(
            kind,
            mods,
            col,
            row,
            screen.mouse_protocol_mode(),
            screen.mouse_protocol_encoding(),
        )
    }

    fn modes(&self) -> super::input::Modes {
        super::input::Modes::of(self.parser.screen())
    }

    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser.screen().size();
        (r.get(), c.get())
    }

    /// Resize; false when the size is unchanged (so nobody is told).
    pub fn resize(&mut self, rows: u16, cols: u16) -> bool {
        if self.size() == (rows.max(1), cols.max(1)) {
            return false;
        }
        self.parser.set_size(nz(rows), nz(cols));
        true
    }

    /// Lines scrolled back from the live screen (0 = live).
    pub fn scroll_offset(&self) -> usize {
        self.parser.screen().scrollback()
    }

    pub fn scroll_by(&mut self, delta: isize) {
        let now = self.scroll_offset() as isize;
        let target = (now + delta).max(0) as usize;
        self.parser.screen_mut().set_scrollback(target);
    }

    pub fn scroll_to_live(&mut self) {
        self.parser.screen_mut().set_scrollback(0);
    }

    pub fn scroll_to_top(&mut self) {
        self.parser.screen_mut().set_scrollback(usize::MAX);
    }

    pub fn history_len(&self) -> usize {
        self.parser.screen().scrollback_len()
    }

    pub fn take_clipboard(&mut self) -> Option<Vec<u8>> {
        self.parser.callbacks_mut().clipboard.take()
    }

    pub fn title(&self) -> Option<&str> {
        self.parser.callbacks().title.as_deref()
    }

    /// The visible text, for tests and copy mode.
    pub fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// Lines `from..=to` counted from the oldest line of history (the live
    /// screen's first row is `history_len()`), as text; the view is kept.
    pub fn lines_text(&mut self, from: usize, to: usize) -> String {
        let screen = self.parser.screen_mut();
        let saved = screen.scrollback();
        let history = screen.scrollback_len();
        let cols = screen.size().1.get();
        let mut out = Vec::new();
        for abs in from..=to {
            // vt100 reads history only through the view: scroll to the
            // line, read the row, and put the view back.
            let (offset, row) = if abs < history {
                (history - abs, 0usize)
            } else {
                (0, abs - history)
            };
            screen.set_scrollback(offset);
            let line = screen.rows(0, cols).nth(row).unwrap_or_default();
            out.push(line.trim_end().to_string());
        }
        screen.set_scrollback(saved);
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curses_boxes_are_drawn_with_lines() {
        let mut t = Term::new(3, 10, 0);
        t.feed(b"\x1b(0lqqk\r\nx");
        t.feed(b"  x\x1b(B ok\r\nmqqj");
        assert_eq!(t.text(), "┌──┐\n│  │ ok\nmqqj");
    }

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

    #[test]
    fn the_terminal_says_its_name_and_size() {
        let mut t = Term::new(24, 80, 0);
        let name = String::from_utf8(t.feed(b"\x1b[>q")).unwrap();
        assert!(
            name.starts_with("\x1bP>|bb ") && name.ends_with("\x1b\\"),
            "{name:?}"
        );
        assert_eq!(t.feed(b"\x1b[18t"), b"\x1b[8;24;80t");
    }

    #[test]
    fn underline_colour_leaves_the_other_attributes_alone() {
        let mut t = Term::new(2, 10, 0);
        t.feed(b"\x1b[31;58;2;1;3;7mX");
        let cell = t.parser.screen().cell(0, 0).unwrap();
        assert_eq!(cell.fgcolor(), vt100::Color::Idx(1));
        assert!(!cell.bold() && !cell.italic() && !cell.inverse());
    }

    #[test]
    fn lines_across_history_and_screen_read_as_text_and_keep_the_view() {
        let mut t = Term::new(3, 20, 100);
        for i in 0..6 {
            t.feed(format!("line {i}\r\n").as_bytes());
        }
        // 4 lines went to history, "line 4", "line 5" and "" are live.
        assert_eq!(t.history_len(), 4);
        t.scroll_by(2);
        assert_eq!(t.lines_text(2, 5), "line 2\nline 3\nline 4\nline 5");
        assert_eq!(t.scroll_offset(), 2, "the view is where it was");
    }

    #[test]
    fn answers_cursor_position_and_device_attribute_queries() {
        let mut t = Term::new(24, 80, 100);
        assert!(t.feed(b"hello").is_empty());
        assert_eq!(t.feed(b"\x1b[6n"), b"\x1b[1;6R");
        assert_eq!(t.feed(b"\x1b[c"), b"\x1b[?62;22c");
        assert_eq!(t.feed(b"\x1b[>c"), b"\x1b[>1;10;0c");
        assert!(t.feed(b"\x1b[?u").is_empty(), "no kitty keyboard protocol");
        assert_eq!(
            t.feed(b"\x1b]11;?\x07"),
            b"\x1b]11;rgb:0000/0000/0000\x1b\\"
        );
        // A query split across reads is still answered.
        assert!(t.feed(b"\x1b[").is_empty());
        assert_eq!(t.feed(b"6n"), b"\x1b[1;6R");
    }

    #[test]
    fn keeps_history_pushed_out_of_a_top_aligned_scroll_region() {
        // Codex's inline renderer: a scroll region from the top, then
        // reverse index / newline to push finished lines up.
        let mut t = Term::new(5, 20, 100);
        t.feed(b"\x1b[1;3r");
        for i in 0..10 {
            t.feed(format!("\x1b[3;1Hline{i}\n").as_bytes());
        }
        assert!(t.history_len() >= 5, "history: {}", t.history_len());
        t.scroll_to_top();
        assert!(t.text().contains("line0"), "{}", t.text());
    }

    #[test]
    fn scrolls_back_and_returns_to_live() {
        let mut t = Term::new(3, 10, 100);
        for i in 0..10 {
            t.feed(format!("l{i}\r\n").as_bytes());
        }
        assert!(t.text().contains("l9"));
        t.scroll_by(5);
        assert_eq!(t.scroll_offset(), 5);
        assert!(t.text().contains("l4"), "{}", t.text());
        t.scroll_to_live();
        assert_eq!(t.scroll_offset(), 0);
    }

    #[test]
    fn same_size_resize_is_a_no_op() {
        let mut t = Term::new(24, 80, 0);
        assert!(!t.resize(24, 80));
        assert!(t.resize(30, 100));
        assert_eq!(t.size(), (30, 100));
    }

    #[test]
    fn records_osc52_copies() {
        let mut t = Term::new(24, 80, 0);
        t.feed(b"\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(t.take_clipboard().as_deref(), Some(&b"aGVsbG8="[..]));
    }
}
