//! One session's terminal emulator: alacritty_terminal's grid and parser,
//! the answers to the questions programs ask their terminal, and a
//! scrollback view. It knows nothing of processes or screens; bytes in,
//! state out. (vt100 was the first emulator; alacritty_terminal replaced it
//! for reflow on resize, the full SGR set, DEC line drawing, autowrap and
//! synchronized output, and for speed: see README, "Panes".)

use std::sync::{Arc, Mutex};

use alacritty_terminal::event::{Event, EventListener};
use alacritty_terminal::grid::{Dimensions, Scroll};
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::{Config, TermMode};
use alacritty_terminal::vte::ansi::{Processor, StdSyncHandler, Timeout};
use base64::Engine;

use super::input::{Modes, MouseEncoding, MouseMode};

/// Default lines of history per session.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

/// What the emulator asked for while parsing, for the session to act on.
#[derive(Debug, Default)]
struct Replies {
    /// Bytes to write back to the program (answers to DSR, DA1, ...).
    to_program: Vec<u8>,
    /// An OSC 52 copy the program asked for, base64-encoded.
    clipboard: Option<Vec<u8>>,
    title: Option<String>,
    /// Bells and notifications since the workspace last asked.
    calls: Calls,
    /// The state the program last reported (OSC 7501).
    state: Option<String>,
}

/// How a program called for its user since the last look: bells rung and
/// desktop notifications sent (their text).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Calls {
    pub bells: u32,
    pub notices: Vec<String>,
}

impl Calls {
    pub fn any(&self) -> bool {
        self.bells > 0 || !self.notices.is_empty()
    }
}

/// Where alacritty's events go: collected, then acted on after each feed
/// (opaque outside the session).
#[derive(Clone, Default)]
pub struct Listener(Arc<Mutex<Replies>>);

impl Listener {
    fn replies(&self) -> std::sync::MutexGuard<'_, Replies> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventListener for Listener {
    fn send_event(&self, event: Event) {
        let mut r = self.replies();
        match event {
            Event::PtyWrite(text) => {
                let text = match text.as_str() {
                    // DA1: a VT220-class terminal with ANSI colour (where
                    // alacritty says VT102).
                    "\x1b[?6c" => "\x1b[?62;22c",
                    // DA2: as xterm answers, not with alacritty's version.
                    t if t.starts_with("\x1b[>0;") => "\x1b[>1;10;0c",
                    t => t,
                };
                r.to_program.extend_from_slice(text.as_bytes())
            }
            // OSC 10/11 ;? : foreground/background colour queries, used
            // to pick a light or dark theme. Answered with the outer
            // terminal's colours, or as a dark terminal when it did not
            // say. (alacritty numbers them 256 and 257.)
            Event::ColorRequest(index, format) => {
                if let Some(rgb) = super::colours::answer(index) {
                    r.to_program.extend_from_slice(format(rgb).as_bytes());
                }
            }
            Event::TextAreaSizeRequest(_) => {}
            Event::ClipboardStore(_, text) => {
                r.clipboard = Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(text)
                        .into_bytes(),
                )
            }
            Event::Bell => r.calls.bells += 1,
            Event::Title(title) => r.title = Some(title),
            Event::ResetTitle => r.title = None,
            _ => {}
        }
    }
}

/// The emulator's size, as alacritty asks for it.
struct Size {
    rows: usize,
    cols: usize,
    /// Lines of history kept (alacritty counts them in the total).
    history: usize,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows + self.history
    }
    fn screen_lines(&self) -> usize {
        self.rows
    }
    fn columns(&self) -> usize {
        self.cols
    }
}

pub struct Term {
    term: alacritty_terminal::Term<Listener>,
    parser: Processor<StdSyncHandler>,
    listener: Listener,
    /// What alacritty reads differently from the reference terminal
    /// (SGR 21 as a double underline; hidden text; DEC graphics split
    /// across reads), made plain in front of it.
    front: bb_sidecar::front::Front,
    notices: super::notice::Notices,
}

fn size(rows: u16, cols: u16) -> Size {
    Size {
        rows: usize::from(rows.max(1)),
        cols: usize::from(cols.max(1)),
        history: 0,
    }
}

impl Term {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Term {
        let listener = Listener::default();
        let config = Config {
            scrolling_history: scrollback,
            // bb encodes keys as xterm does, not with the kitty protocol;
            // so `CSI ? u` is left unanswered and programs know.
            kitty_keyboard: false,
            ..Config::default()
        };
        Term {
            term: alacritty_terminal::Term::new(config, &size(rows, cols), listener.clone()),
            parser: Processor::new(),
            listener,
            front: Default::default(),
            notices: Default::default(),
        }
    }

    /// Parse program output. Returns the bytes to answer with, if any.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.settle();
        for told in self.notices.scan(bytes) {
            let mut r = self.listener.replies();
            match told {
                super::notice::Told::Notice(text) => r.calls.notices.push(text),
                super::notice::Told::State(state) => r.state = Some(state),
            }
        }
        let bytes = self.front.translate(bytes);
        let mut rest: &[u8] = &bytes;
        // Questions alacritty does not answer, answered here in order.
        while let Some((at, len)) = xtversion(rest) {
            self.parser.advance(&mut self.term, &rest[..at]);
            self.listener.replies().to_program.extend_from_slice(
                format!("\x1bP>|bb {}\x1b\\", env!("CARGO_PKG_VERSION")).as_bytes(),
            );
            rest = &rest[at + len..];
        }
        self.parser.advance(&mut self.term, rest);
        std::mem::take(&mut self.listener.replies().to_program)
    }

    /// A synchronized frame left open past its time is shown as it is.
    pub fn settle(&mut self) {
        let due = self.parser.sync_timeout().sync_timeout();
        if due.is_some_and(|at| at <= std::time::Instant::now()) {
            self.parser.stop_sync(&mut self.term);
        }
    }

    /// Whether the program is drawing a frame it wants shown whole.
    pub fn synchronized(&self) -> bool {
        self.parser.sync_timeout().pending_timeout()
    }

    /// The screen, for the drawing adapter.
    pub fn view(&self) -> &super::draw::Screen {
        use ref_cast::RefCast;
        super::draw::Screen::ref_cast(&self.term)
    }

    /// Where the program's cursor is on the live screen (row, col).
    pub fn cursor_position(&self) -> (u16, u16) {
        let p = self.term.grid().cursor.point;
        (
            u16::try_from(p.line.0.max(0)).unwrap_or(u16::MAX),
            u16::try_from(p.column.0).unwrap_or(u16::MAX),
        )
    }

    pub fn hides_cursor(&self) -> bool {
        !self.term.mode().contains(TermMode::SHOW_CURSOR)
    }

    /// Whether the program is on the alternate screen (no history there).
    pub fn alternate_screen(&self) -> bool {
        self.term.mode().contains(TermMode::ALT_SCREEN)
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
        self.mouse_mode() != MouseMode::None
    }

    fn mouse_mode(&self) -> MouseMode {
        let mode = self.term.mode();
        if mode.contains(TermMode::MOUSE_MOTION) {
            MouseMode::AnyMotion
        } else if mode.contains(TermMode::MOUSE_DRAG) {
            MouseMode::ButtonMotion
        } else if mode.contains(TermMode::MOUSE_REPORT_CLICK) {
            MouseMode::PressRelease
        } else {
            MouseMode::None
        }
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
        let mode = self.term.mode();
        let encoding = if mode.contains(TermMode::SGR_MOUSE) {
            MouseEncoding::Sgr
        } else if mode.contains(TermMode::UTF8_MOUSE) {
            MouseEncoding::Utf8
        } else {
            MouseEncoding::Default
        };
        super::input::encode_mouse(kind, mods, col, row, self.mouse_mode(), encoding)
    }

    fn modes(&self) -> Modes {
        let mode = self.term.mode();
        Modes {
            app_cursor: mode.contains(TermMode::APP_CURSOR),
            bracketed_paste: mode.contains(TermMode::BRACKETED_PASTE),
        }
    }

    pub fn size(&self) -> (u16, u16) {
        let g = self.term.grid();
        (
            u16::try_from(g.screen_lines()).unwrap_or(u16::MAX),
            u16::try_from(g.columns()).unwrap_or(u16::MAX),
        )
    }

    /// Resize, reflowing lines to the new width; false when the size is
    /// unchanged (so nobody is told).
    pub fn resize(&mut self, rows: u16, cols: u16) -> bool {
        if self.size() == (rows.max(1), cols.max(1)) {
            return false;
        }
        self.term.resize(size(rows, cols));
        true
    }

    /// Lines scrolled back from the live screen (0 = live).
    pub fn scroll_offset(&self) -> usize {
        self.term.grid().display_offset()
    }

    pub fn scroll_by(&mut self, delta: isize) {
        let delta = i32::try_from(delta).unwrap_or(if delta < 0 { i32::MIN } else { i32::MAX });
        self.term.scroll_display(Scroll::Delta(delta));
    }

    pub fn scroll_to_live(&mut self) {
        self.term.scroll_display(Scroll::Bottom);
    }

    pub fn scroll_to_top(&mut self) {
        self.term.scroll_display(Scroll::Top);
    }

    pub fn history_len(&self) -> usize {
        self.term.grid().history_size()
    }

    pub fn take_clipboard(&mut self) -> Option<Vec<u8>> {
        self.listener.replies().clipboard.take()
    }

    /// The state the program last reported of itself (OSC 7501, as Codex
    /// writes `working` and `idle`).
    pub fn reported_state(&self) -> Option<String> {
        self.listener.replies().state.clone()
    }

    /// Bells and notifications since the last call.
    pub fn take_calls(&mut self) -> Calls {
        std::mem::take(&mut self.listener.replies().calls)
    }

    /// The last `rows` rows of the live screen that end with its last
    /// written one, as text, whatever the scroll position: where agents
    /// keep their status, input box and dialogs (at the screen's foot in a
    /// full-screen TUI, right under the output in an inline one).
    pub fn bottom_text(&self, rows: usize) -> String {
        let screen = self.term.grid().screen_lines();
        let lines: Vec<String> = (0..screen).map(|r| self.line(r as i32)).collect();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |last| last + 1);
        lines[end.saturating_sub(rows)..end].join("\n")
    }

    pub fn title(&self) -> Option<String> {
        self.listener.replies().title.clone()
    }

    /// The visible text (as scrolled), for tests and copy mode: rows
    /// without trailing blanks, and no blank rows at the end.
    pub fn text(&self) -> String {
        let offset = self.scroll_offset() as i32;
        let rows = self.term.grid().screen_lines() as i32;
        let lines: Vec<String> = (0..rows).map(|r| self.line(r - offset)).collect();
        lines.join("\n").trim_end_matches('\n').to_string()
    }

    /// Lines `from..=to` counted from the oldest line of history (the live
    /// screen's first row is `history_len()`), as text.
    pub fn lines_text(&mut self, from: usize, to: usize) -> String {
        let history = self.history_len() as i64;
        let last = i64::from(self.term.grid().screen_lines() as i32) - 1;
        let lines: Vec<String> = (from..=to)
            .map(|abs| abs as i64 - history)
            .filter(|l| *l <= last)
            .map(|l| self.line(l as i32))
            .collect();
        lines.join("\n")
    }

    /// One line of the grid as text (`0` is the live screen's first row,
    /// negative lines are history).
    fn line(&self, line: i32) -> String {
        let grid = self.term.grid();
        let mut out = String::new();
        let row = &grid[Line(line)];
        for cell in (0..grid.columns()).map(|c| &row[Column(c)]) {
            if cell
                .flags
                .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                continue;
            }
            if cell.flags.contains(Flags::HIDDEN) {
                out.push(' ');
                continue;
            }
            out.push(cell.c);
            if let Some(extra) = cell.zerowidth() {
                out.extend(extra);
            }
        }
        out.trim_end().to_string()
    }
}

/// Where the first XTVERSION query (`CSI > q`, `CSI > 0 q`) is, and its
/// length.
fn xtversion(bytes: &[u8]) -> Option<(usize, usize)> {
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    [
        find(b"\x1b[>q").map(|at| (at, 4)),
        find(b"\x1b[>0q").map(|at| (at, 5)),
    ]
    .into_iter()
    .flatten()
    .min()
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
        let cell = &t.term.grid()[Line(0)][Column(0)];
        assert_eq!(
            cell.fg,
            alacritty_terminal::vte::ansi::Color::Named(
                alacritty_terminal::vte::ansi::NamedColor::Red
            )
        );
        assert!(!cell
            .flags
            .intersects(Flags::BOLD | Flags::ITALIC | Flags::INVERSE));
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
        assert_eq!(t.feed(b"\x1b]11;?\x07"), b"\x1b]11;rgb:0000/0000/0000\x07");
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

    /// Zooming a pane and back (or hiding the sidebar) never cuts a line:
    /// lines reflow to the narrower width and back.
    #[test]
    fn narrowing_and_widening_keeps_lines_whole() {
        let mut t = Term::new(10, 109, 100);
        let long: String = (0..109)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        t.feed(format!("{long}\r\nshort\r\n").as_bytes());
        assert!(t.resize(10, 90));
        let all = |t: &mut Term| {
            let last = t.history_len() + 9;
            t.lines_text(0, last)
        };
        let narrow = all(&mut t);
        assert!(
            narrow.contains(&format!("{}\n{}", &long[..90], &long[90..])),
            "{narrow}"
        );
        assert!(t.resize(10, 109));
        assert!(t.text().contains(&long), "{}", t.text());
        // Through history as well.
        let mut t = Term::new(3, 40, 100);
        for i in 0..10 {
            t.feed(format!("{i} {}\r\n", "x".repeat(36)).as_bytes());
        }
        t.resize(3, 20);
        t.resize(3, 40);
        let all = t.lines_text(0, t.history_len() + 2);
        assert!(all.contains(&format!("0 {}", "x".repeat(36))), "{all}");
    }

    /// As the reference terminal lays it out: the width of its base.
    #[test]
    fn an_emoji_with_vs16_takes_the_cells_of_its_base() {
        let mut t = Term::new(2, 10, 0);
        t.feed("\u{2764}\u{fe0f}x".as_bytes());
        assert_eq!(t.cursor_position(), (0, 2));
    }
}
