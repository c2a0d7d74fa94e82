//! The holder's copy of the agent's screen, and the escape codes that draw
//! it on a fresh terminal for a session that attaches. It runs on
//! alacritty_terminal, as bb's panes do, so what a pane shows after an
//! attach is what it showed before: every attribute alacritty keeps
//! (strikethrough, dim, the underline styles and colour, hyperlinks, wide
//! and joined characters) and which lines were wrapped, so the pane still
//! reflows them.

use alacritty_terminal::event::VoidListener;
use alacritty_terminal::grid::{Dimensions, Row};
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::{Cell, Flags, Hyperlink};
use alacritty_terminal::term::{Config, TermMode};
use alacritty_terminal::vte::ansi::{
    Color, CursorShape, NamedColor, Processor, StdSyncHandler, Timeout,
};
use std::fmt::Write;

/// The emulator's size, as alacritty asks for it.
struct Size {
    rows: usize,
    cols: usize,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows
    }
    fn screen_lines(&self) -> usize {
        self.rows
    }
    fn columns(&self) -> usize {
        self.cols
    }
}

fn size(rows: u16, cols: u16) -> Size {
    Size {
        rows: usize::from(rows.max(1)),
        cols: usize::from(cols.max(1)),
    }
}

pub struct Screen {
    term: alacritty_terminal::Term<VoidListener>,
    parser: Processor<StdSyncHandler>,
    /// What the emulator reads differently from the reference terminal,
    /// made plain in front of it (as in bb's panes).
    front: crate::front::Front,
    joiner: crate::join::Joiner,
}

impl Screen {
    /// A blank screen keeping `history` lines above it.
    pub fn new(rows: u16, cols: u16, history: usize) -> Screen {
        let config = Config {
            scrolling_history: history,
            kitty_keyboard: false,
            ..Config::default()
        };
        Screen {
            term: alacritty_terminal::Term::new(config, &size(rows, cols), VoidListener),
            parser: Processor::new(),
            front: Default::default(),
            joiner: Default::default(),
        }
    }

    /// The agent's output.
    pub fn feed(&mut self, bytes: &[u8]) {
        let bytes = self.front.translate(bytes);
        self.joiner
            .advance(&mut self.parser, &mut self.term, &bytes);
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.term.resize(size(rows, cols));
    }

    /// Escape codes that draw the screen as it is on a fresh terminal of
    /// its size: its history first (so it lands in the session's
    /// scrollback), then the screen, cursor, pen and modes.
    pub fn snapshot(&mut self) -> Vec<u8> {
        // A synchronized frame half received is shown as it is: the rest
        // of it reaches the session live.
        if self.parser.sync_timeout().pending_timeout() {
            self.parser.stop_sync(&mut self.term);
        }
        let mut w = Writer::default();
        let mode = *self.term.mode();
        let grid = self.term.grid();
        let (rows, cols) = (grid.screen_lines(), grid.columns());
        if mode.contains(TermMode::ALT_SCREEN) {
            // The primary screen and its history are not kept while a
            // full-screen program runs (alacritty swaps them out).
            w.out.push_str("\x1b[?1049h\x1b[H\x1b[2J");
        }
        // Every line in order, one after another, as a program printed
        // them: the screen ends up as the last `rows` of them, and the
        // ones before scroll into the session's history.
        let top = -(grid.history_size() as i32);
        let last = rows as i32 - 1;
        for line in top..=last {
            let row = &grid[Line(line)];
            let wraps = row[Column(cols - 1)].flags.contains(Flags::WRAPLINE);
            w.row(row, cols, wraps);
            if line < last && !wraps {
                w.pen(&Cell::default());
                w.link(None);
                w.out.push_str("\r\n");
            }
        }
        w.link(None);
        let cursor = &grid.cursor;
        let (y, x) = (cursor.point.line.0.max(0) as usize, cursor.point.column.0);
        let _ = write!(w.out, "\x1b[{};{}H", y + 1, x + 1);
        if cursor.input_needs_wrap {
            // The program's next character wraps: write the last one
            // again so the session's terminal is waiting to wrap too.
            let cell = &grid[Line(y as i32)][Column(x)];
            w.pen(cell);
            w.text(cell);
        }
        w.pen(&cursor.template);
        w.modes(mode);
        // The cursor style a program set (DECSCUSR); none, the terminal's own.
        let style = self.term.cursor_style();
        if style != Config::default().default_cursor_style {
            let shape = match style.shape {
                CursorShape::Block | CursorShape::HollowBlock | CursorShape::Hidden => 1,
                CursorShape::Underline => 3,
                CursorShape::Beam => 5,
            };
            let _ = write!(w.out, "\x1b[{} q", shape + u8::from(!style.blinking));
        }
        w.out.into_bytes()
    }
}

/// Cells as escape codes, writing an attribute only where it changes.
struct Writer {
    out: String,
    /// The attributes last written (a fresh terminal's to start with).
    pen: Pen,
    link: Option<Hyperlink>,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer {
            out: String::new(),
            pen: Pen::of(&Cell::default()),
            link: None,
        }
    }
}

/// What SGR sets on a cell.
#[derive(Clone, PartialEq)]
struct Pen {
    fg: Color,
    bg: Color,
    underline: Option<Color>,
    flags: Flags,
}

/// Flags that are attributes (the rest say how a cell sits in its row).
const ATTRIBUTES: Flags = Flags::INVERSE
    .union(Flags::BOLD)
    .union(Flags::ITALIC)
    .union(Flags::DIM)
    .union(Flags::HIDDEN)
    .union(Flags::STRIKEOUT)
    .union(Flags::ALL_UNDERLINES);

/// SGR codes of the attribute flags.
const FLAG_CODES: [(Flags, &str); 11] = [
    (Flags::BOLD, "1"),
    (Flags::DIM, "2"),
    (Flags::ITALIC, "3"),
    (Flags::INVERSE, "7"),
    (Flags::HIDDEN, "8"),
    (Flags::STRIKEOUT, "9"),
    (Flags::UNDERLINE, "4"),
    (Flags::DOUBLE_UNDERLINE, "4:2"),
    (Flags::UNDERCURL, "4:3"),
    (Flags::DOTTED_UNDERLINE, "4:4"),
    (Flags::DASHED_UNDERLINE, "4:5"),
];

impl Pen {
    fn of(cell: &Cell) -> Pen {
        Pen {
            fg: cell.fg,
            bg: cell.bg,
            underline: cell.underline_color(),
            flags: cell.flags & ATTRIBUTES,
        }
    }

    /// The SGR sequence that sets exactly this pen.
    fn sgr(&self) -> String {
        let mut sgr = String::from("\x1b[0");
        for (flag, code) in FLAG_CODES {
            if self.flags.contains(flag) {
                sgr.push(';');
                sgr.push_str(code);
            }
        }
        colour(&mut sgr, self.fg, Some(30));
        colour(&mut sgr, self.bg, Some(40));
        if let Some(c) = self.underline {
            colour(&mut sgr, c, None);
        }
        sgr.push('m');
        sgr
    }
}

/// A colour's SGR parameters: `base` 30 for the foreground, 40 for the
/// background; None for the underline colour (58), which has only the
/// indexed and RGB forms. The default colours add nothing.
fn colour(out: &mut String, c: Color, base: Option<u16>) {
    let extended = base.map_or(58, |b| b + 8);
    let _ = match (c, base) {
        (Color::Spec(rgb), _) => write!(out, ";{extended};2;{};{};{}", rgb.r, rgb.g, rgb.b),
        (Color::Indexed(i), _) => write!(out, ";{extended};5;{i}"),
        (Color::Named(n), base) => {
            let n = n as u16;
            let dim = NamedColor::DimBlack as u16;
            // Dim colours are what SGR 2 makes of 0-7.
            let n = if (dim..dim + 8).contains(&n) {
                n - dim
            } else {
                n
            };
            match (n, base) {
                (0..=15, None) => write!(out, ";58;5;{n}"),
                (0..=7, Some(b)) => write!(out, ";{}", b + n),
                (8..=15, Some(b)) => write!(out, ";{}", b + 60 + n - 8),
                _ => Ok(()),
            }
        }
    };
}

impl Writer {
    fn pen(&mut self, cell: &Cell) {
        let pen = Pen::of(cell);
        if pen == self.pen {
            return;
        }
        self.out.push_str(&pen.sgr());
        self.pen = pen;
    }

    fn link(&mut self, link: Option<Hyperlink>) {
        if self.link == link {
            return;
        }
        match &link {
            Some(l) => {
                let _ = write!(self.out, "\x1b]8;id={};{}\x1b\\", l.id(), l.uri());
            }
            None => self.out.push_str("\x1b]8;;\x1b\\"),
        }
        self.link = link;
    }

    fn text(&mut self, cell: &Cell) {
        self.out.push(cell.c);
        for c in cell.zerowidth().unwrap_or_default() {
            self.out.push(*c);
        }
    }

    /// One row: every cell when it wraps onto the next (so the terminal
    /// wraps it too), else up to its last cell that is not a default blank.
    fn row(&mut self, row: &Row<Cell>, cols: usize, wraps: bool) {
        let blank = |c: &Cell| {
            c.c == ' '
                && Pen::of(c) == Pen::of(&Cell::default())
                && c.hyperlink().is_none()
                && c.zerowidth().is_none()
        };
        let end = if wraps {
            cols
        } else {
            (0..cols)
                .rev()
                .find(|&x| !blank(&row[Column(x)]))
                .map_or(0, |x| x + 1)
        };
        for x in 0..end {
            let cell = &row[Column(x)];
            // The second half of a wide character is drawn with it; a wide
            // character that did not fit at the end of a row is written on
            // the next, where the terminal wraps it.
            if cell
                .flags
                .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                continue;
            }
            self.pen(cell);
            self.link(cell.hyperlink());
            self.text(cell);
        }
    }

    fn modes(&mut self, mode: TermMode) {
        for (flag, on) in [
            (TermMode::APP_CURSOR, "\x1b[?1h"),
            (TermMode::APP_KEYPAD, "\x1b="),
            (TermMode::ORIGIN, "\x1b[?6h"),
            (TermMode::INSERT, "\x1b[4h"),
            (TermMode::LINE_FEED_NEW_LINE, "\x1b[20h"),
            (TermMode::MOUSE_REPORT_CLICK, "\x1b[?1000h"),
            (TermMode::MOUSE_DRAG, "\x1b[?1002h"),
            (TermMode::MOUSE_MOTION, "\x1b[?1003h"),
            (TermMode::FOCUS_IN_OUT, "\x1b[?1004h"),
            (TermMode::UTF8_MOUSE, "\x1b[?1005h"),
            (TermMode::SGR_MOUSE, "\x1b[?1006h"),
            (TermMode::BRACKETED_PASTE, "\x1b[?2004h"),
        ] {
            if mode.contains(flag) {
                self.out.push_str(on);
            }
        }
        // On by default: said only when the program turned them off.
        for (flag, off) in [
            (TermMode::LINE_WRAP, "\x1b[?7l"),
            (TermMode::ALTERNATE_SCROLL, "\x1b[?1007l"),
            (TermMode::SHOW_CURSOR, "\x1b[?25l"),
        ] {
            if !mode.contains(flag) {
                self.out.push_str(off);
            }
        }
    }
}

#[cfg(test)]
#[path = "screen_tests.rs"]
mod tests;
