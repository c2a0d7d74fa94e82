//! One session's terminal emulator: alacritty_terminal's grid and parser,
//! the answers to the questions programs ask their terminal, and a
//! scrollback view. It knows nothing of processes or screens; bytes in,
//! state out. (vt100 was the first emulator; alacritty_terminal replaced it
//! for reflow on resize, the full SGR set, DEC line drawing, autowrap and
//! synchronized output, and for speed: see README, "Panes".)

use std::sync::{Arc, Mutex};

use alacritty_terminal::event::{Event, EventListener};
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::{Config, TermDamage, TermMode};
use alacritty_terminal::vte::ansi::{Processor, StdSyncHandler, Timeout};

use super::input::{Modes, MouseEncoding, MouseMode};

/// Default lines of history per session.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

/// Lines of history the emulator keeps itself, as full rows it reflows
/// (it allocates them a thousand at a time); older lines go to the compact
/// history (`history.rs`).
const HOT_LIMIT: usize = 1000;
/// Lines the emulator keeps after handing the older ones over.
const HOT_KEEP: usize = 400;
/// Hand lines over once the emulator holds this many.
const SPILL_AT: usize = HOT_KEEP + 256;
/// Output is parsed at most this many line feeds (and rows' worth of
/// text) at a time, so no more than twice this enters history between
/// hand-overs and nothing passes the emulator's limit unseen.
const FEED_ROWS: usize = 128;

/// What the emulator asked for while parsing, for the session to act on.
#[derive(Debug, Default)]
struct Replies {
    /// Bytes to write back to the program (answers to DSR, DA1, ...).
    to_program: Vec<u8>,
    /// What the program last asked to put on the clipboard (OSC 52).
    clipboard: Option<String>,
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

/// The most of a program's clipboard request kept, in characters.
const MAX_CLIPBOARD: usize = 1 << 20;

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
            // Kept for the operator to see and allow (never passed on
            // by itself); a program's clipboard is its own to ask for.
            Event::ClipboardStore(_, text) => {
                r.clipboard = Some(text.chars().take(MAX_CLIPBOARD).collect())
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
    /// Characters joined by a ZWJ into one cell, as the reference
    /// terminal lays them out.
    joiner: bb_sidecar::join::Joiner,
    notices: super::notice::Notices,
    /// History older than the emulator keeps.
    older: super::history::History,
    /// Whether history goes on past what the emulator keeps.
    spilling: bool,
    /// The emulator's own history limit.
    hot_limit: usize,
    /// Rows the view is scrolled back from the live screen (0 = live).
    offset: usize,
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
        let hot_limit = scrollback.min(HOT_LIMIT);
        let config = Config {
            scrolling_history: hot_limit,
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
            joiner: Default::default(),
            notices: Default::default(),
            older: super::history::History::new(
                usize::from(cols.max(1)),
                scrollback.saturating_sub(SPILL_AT),
            ),
            spilling: scrollback > HOT_LIMIT,
            hot_limit,
            offset: 0,
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
        let before = self.pushed();
        let mut rest: &[u8] = &bytes;
        // Questions alacritty does not answer, answered here in order.
        while let Some((at, len)) = xtversion(rest) {
            self.advance(&rest[..at]);
            self.listener.replies().to_program.extend_from_slice(
                format!("\x1bP>|bb {}\x1b\\", env!("CARGO_PKG_VERSION")).as_bytes(),
            );
            rest = &rest[at + len..];
        }
        self.advance(rest);
        // Clearing the history (ED 3, or a reset) clears all of it.
        if clears_history(&bytes) {
            self.older.clear();
        }
        // A view scrolled back stays on the lines it shows.
        if self.offset > 0 {
            self.offset =
                (self.offset + self.pushed().saturating_sub(before)).min(self.history_len());
        }
        std::mem::take(&mut self.listener.replies().to_program)
    }

    /// Parse, handing history the emulator should not keep to `older`.
    fn advance(&mut self, bytes: &[u8]) {
        if !self.spilling {
            self.joiner.advance(&mut self.parser, &mut self.term, bytes);
            return;
        }
        let most = FEED_ROWS * self.term.grid().columns();
        let mut rest = bytes;
        while !rest.is_empty() {
            let cut = rows_cut(rest, FEED_ROWS, most);
            self.joiner
                .advance(&mut self.parser, &mut self.term, &rest[..cut]);
            rest = &rest[cut..];
            if self.term.grid().history_size() >= SPILL_AT {
                self.spill(HOT_KEEP);
            }
        }
    }

    /// Hand the emulator's history older than its newest `keep` lines to
    /// `older` (never the alternate screen's: it has none).
    fn spill(&mut self, keep: usize) {
        if self.alternate_screen() {
            return;
        }
        let grid = self.term.grid();
        let (hot, cols) = (grid.history_size(), grid.columns());
        if hot <= keep {
            return;
        }
        for back in (keep + 1..=hot).rev() {
            self.older.push_row(&grid[Line(-(back as i32))], cols);
        }
        self.older.end_spill();
        let grid = self.term.grid_mut();
        grid.update_history(keep);
        grid.update_history(self.hot_limit);
    }

    /// Rows that ever went into history (for keeping a scrolled-back view
    /// in place).
    fn pushed(&self) -> usize {
        self.term.grid().history_size() + self.older.rows() + self.older.dropped()
    }

    /// Rows of history older than the emulator's.
    fn older_rows(&self) -> usize {
        if self.alternate_screen() {
            0
        } else {
            self.older.rows()
        }
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

    /// The screen as scrolled, for the drawing adapter.
    pub fn view(&self) -> super::draw::Screen<'_> {
        let grid = self.term.grid();
        let rows = grid.screen_lines();
        let older = self.older_rows();
        let top = self.history_len() - self.scroll_offset();
        let from_older = (top..older.min(top + rows))
            .map(|r| self.older.row_cells(r))
            .collect();
        let hot = grid.history_size() as i64;
        super::draw::Screen::new(
            &self.term,
            from_older,
            (top as i64 - older as i64 - hot) as i32,
        )
    }

    /// The live screen's rows that changed since the last call (or since
    /// [`Term::forget_changes`]), and forget them; None: every row.
    pub fn take_changed_rows(&mut self) -> Option<Vec<u16>> {
        // A join changes a cell behind alacritty's back: all rows then.
        let joined = self.joiner.take_joined();
        let rows = match self.term.damage() {
            TermDamage::Full => None,
            TermDamage::Partial(_) if joined => None,
            TermDamage::Partial(lines) => Some(
                lines
                    .map(|l| u16::try_from(l.line).unwrap_or(u16::MAX))
                    .collect(),
            ),
        };
        self.term.reset_damage();
        rows
    }

    /// Count the screen as drawn as it is now.
    pub fn forget_changes(&mut self) {
        self.joiner.take_joined();
        self.term.reset_damage();
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
        let (old_rows, old_cols) = self.size();
        let (new_rows, new_cols) = (usize::from(rows.max(1)), usize::from(cols.max(1)));
        // Narrower rows wrap into more: leave the emulator only what it
        // can hold once reflowed, so none of it is dropped.
        if self.spilling && new_cols < usize::from(old_cols) {
            let k = usize::from(old_cols).div_ceil(new_cols);
            let rows_in = usize::from(old_rows).max(new_rows);
            self.spill((self.hot_limit / k).saturating_sub(rows_in));
        }
        self.term.resize(size(rows, cols));
        self.older.set_width(new_cols);
        self.offset = self.offset.min(self.history_len());
        true
    }

    /// Lines scrolled back from the live screen (0 = live).
    pub fn scroll_offset(&self) -> usize {
        self.offset.min(self.history_len())
    }

    pub fn scroll_by(&mut self, delta: isize) {
        self.offset = self
            .scroll_offset()
            .saturating_add_signed(delta)
            .min(self.history_len());
    }

    pub fn scroll_to_live(&mut self) {
        self.offset = 0;
    }

    pub fn scroll_to_top(&mut self) {
        self.offset = self.history_len();
    }

    /// Rows of history above the live screen (none on the alternate
    /// screen).
    pub fn history_len(&self) -> usize {
        self.term.grid().history_size() + self.older_rows()
    }

    /// What the program last asked to put on the operator's clipboard.
    pub fn take_clipboard(&mut self) -> Option<String> {
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
        // Read after every output, before its echo is drawn: blank rows
        // are skipped without making their text.
        let grid = self.term.grid();
        let blank = |r: usize| {
            let row = &grid[Line(r as i32)];
            row[..Column(grid.columns())].iter().all(|c| {
                (c.c.is_whitespace() || c.flags.contains(Flags::HIDDEN)) && c.zerowidth().is_none()
            })
        };
        let end = (0..grid.screen_lines())
            .rev()
            .find(|&r| !blank(r))
            .map_or(0, |last| last + 1);
        let lines: Vec<String> = (end.saturating_sub(rows)..end)
            .map(|r| self.line(r as i32))
            .collect();
        lines.join("\n")
    }

    pub fn title(&self) -> Option<String> {
        self.listener.replies().title.clone()
    }

    /// The visible text (as scrolled), for tests and copy mode: rows
    /// without trailing blanks, and no blank rows at the end.
    pub fn text(&self) -> String {
        let top = self.history_len() - self.scroll_offset();
        let rows = self.term.grid().screen_lines();
        let lines: Vec<String> = (top..top + rows).map(|r| self.row_text(r)).collect();
        lines.join("\n").trim_end_matches('\n').to_string()
    }

    /// Lines `from..=to` counted from the oldest line of history (the live
    /// screen's first row is `history_len()`), as text.
    pub fn lines_text(&mut self, from: usize, to: usize) -> String {
        let end = self.history_len() + self.term.grid().screen_lines();
        let lines: Vec<String> = (from..=to.min(end.saturating_sub(1)))
            .map(|abs| self.row_text(abs))
            .collect();
        lines.join("\n")
    }

    /// Row `abs` counted from the oldest line of history, as text.
    fn row_text(&self, abs: usize) -> String {
        let older = self.older_rows();
        if abs < older {
            return self.older.row_text(abs);
        }
        let hot = self.term.grid().history_size();
        self.line((abs as i64 - older as i64 - hot as i64) as i32)
    }

    /// One line of the grid as text (`0` is the live screen's first row,
    /// negative lines are history).
    fn line(&self, line: i32) -> String {
        let grid = self.term.grid();
        super::history::cells_text(&grid[Line(line)][..Column(grid.columns())])
    }
}

/// Whether `bytes` clear the history: ED 3 (`CSI 3 J`) or a reset (RIS).
fn clears_history(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == 0x1b)
        .any(|(i, _)| matches!(&bytes[i + 1..], [b'c', ..] | [b'[', b'3', b'J', ..]))
}

/// How much of `bytes` to parse at once: up to the `lines`-th line feed
/// (LF, VT or FF), and at most `most` bytes.
fn rows_cut(bytes: &[u8], lines: usize, most: usize) -> usize {
    let window = &bytes[..bytes.len().min(most.max(1))];
    window
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'\n' | 0x0b | 0x0c))
        .nth(lines.saturating_sub(1))
        .map_or(window.len(), |(i, _)| i + 1)
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
#[path = "term_tests.rs"]
mod tests;
