//! History that scrolled off the top of a pane, kept compactly. The
//! emulator keeps a 24-byte cell for every column of every row; here a
//! line is its text and one 12-byte run per change of attributes, with
//! trailing blanks dropped, and it is wrapped to the pane's width when
//! drawn, so it reflows as the live screen does. Hyperlinks and underline
//! colours are not kept for lines this old.

use std::collections::VecDeque;

use alacritty_terminal::grid::Row;
use alacritty_terminal::index::Column;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color, NamedColor};
use unicode_width::UnicodeWidthChar;

/// Cells alike in everything but their characters.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Characters in the run, zero-width ones (combining marks, VS16)
    /// counted with the cell they belong to.
    chars: u16,
    flags: Flags,
    fg: Color,
    bg: Color,
}

/// One logical line: wrapped rows joined.
struct Line {
    text: Box<str>,
    runs: Box<[Run]>,
    /// It goes on in the next row still on the live screen (its rows were
    /// spilled before the line ended).
    open: bool,
}

/// Flags that say where a cell sits in a wrapped row, not what it shows.
const PLACEMENT: Flags = Flags::WRAPLINE
    .union(Flags::WIDE_CHAR_SPACER)
    .union(Flags::LEADING_WIDE_CHAR_SPACER);

/// A cell as reset: a space, default colours, no attributes. Tested on
/// every trailing cell of every row, so every test is made and combined
/// without branching (`&`, not `&&`).
#[inline]
fn blank(c: &Cell) -> bool {
    (c.c == ' ')
        & c.extra.is_none()
        & (c.flags - PLACEMENT).is_empty()
        & matches!(c.fg, Color::Named(NamedColor::Foreground))
        & matches!(c.bg, Color::Named(NamedColor::Background))
}

pub struct History {
    lines: VecDeque<Line>,
    /// Where each line's first row is at `width`, counted from a base
    /// that moves as lines are dropped: `starts[i] - starts[0]`.
    starts: VecDeque<usize>,
    width: usize,
    /// Rows kept at most (at the current width).
    cap: usize,
    /// Rows dropped for the cap since the pane began.
    dropped: usize,
    /// The line whose rows are coming in, if any (its buffers are reused
    /// from line to line).
    pending: bool,
    text: String,
    runs: Vec<Run>,
    /// Cells it takes, and whether any is wide (else its rows are plain
    /// arithmetic).
    cells: usize,
    wide: bool,
}

impl History {
    pub fn new(width: usize, cap: usize) -> History {
        History {
            lines: VecDeque::new(),
            starts: VecDeque::from([0]),
            width: width.max(1),
            cap,
            dropped: 0,
            pending: false,
            text: String::new(),
            runs: Vec::new(),
            cells: 0,
            wide: false,
        }
    }

    /// Rows at the current width.
    pub fn rows(&self) -> usize {
        self.starts.back().copied().unwrap_or(0) - self.starts.front().copied().unwrap_or(0)
    }

    /// Rows dropped for the cap so far (a view scrolled back stays put
    /// while history moves under it).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub fn clear(&mut self) {
        self.dropped += self.rows();
        self.lines.clear();
        self.starts = VecDeque::from([0]);
        self.pending = false;
    }

    /// Take one row of the emulator's grid, the oldest not yet taken.
    pub fn push_row(&mut self, row: &Row<Cell>, columns: usize) {
        let wraps = columns > 0 && row[Column(columns - 1)].flags.contains(Flags::WRAPLINE);
        if !self.pending {
            self.pending = true;
            self.text.clear();
            self.runs.clear();
            (self.cells, self.wide) = (0, false);
            // A line left open by the last spill goes on here.
            if self.lines.back().is_some_and(|l| l.open) {
                if let Some(l) = self.lines.pop_back() {
                    self.starts.pop_back();
                    self.text.push_str(&l.text);
                    self.runs.extend_from_slice(&l.runs);
                    let mut cells = 0;
                    wrap(&l, usize::MAX, |_, col, _| cells = cells.max(col + 1));
                    self.cells = cells;
                    self.wide = l.runs.iter().any(|r| r.flags.contains(Flags::WIDE_CHAR));
                }
            }
        }
        // A row that ends its line loses its trailing blanks.
        let cells = &row[..Column(columns.min(row.len()))];
        let end = if wraps {
            cells.len()
        } else {
            cells.iter().rposition(|c| !blank(c)).map_or(0, |c| c + 1)
        };
        for cell in &cells[..end] {
            if cell
                .flags
                .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                continue;
            }
            self.text.push(cell.c);
            let mut chars = 1u16;
            if let Some(zero) = cell.zerowidth() {
                for &z in zero {
                    self.text.push(z);
                    chars = chars.saturating_add(1);
                }
            }
            let flags = cell.flags - PLACEMENT;
            let wide = flags.contains(Flags::WIDE_CHAR);
            self.wide |= wide;
            self.cells += if wide { 2 } else { 1 };
            match self.runs.last_mut() {
                Some(last)
                    if last.flags == flags
                        && last.fg == cell.fg
                        && last.bg == cell.bg
                        && last.chars <= u16::MAX - chars =>
                {
                    last.chars += chars
                }
                _ => self.runs.push(Run {
                    chars,
                    flags,
                    fg: cell.fg,
                    bg: cell.bg,
                }),
            }
        }
        if !wraps {
            self.finish(false);
        }
    }

    /// The spill is over: a line still coming in is kept open.
    pub fn end_spill(&mut self) {
        if self.pending {
            self.finish(true);
        }
        while self.rows() > self.cap && self.lines.len() > 1 {
            self.lines.pop_front();
            let first = self.starts.pop_front().unwrap_or(0);
            self.dropped += self.starts.front().copied().unwrap_or(first) - first;
        }
    }

    fn finish(&mut self, open: bool) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        // Allocated at their size, once.
        let line = Line {
            text: Box::from(self.text.as_str()),
            runs: Box::from(&self.runs[..]),
            open,
        };
        let rows = if self.wide {
            wrap(&line, self.width, |_, _, _| {})
        } else {
            self.cells.div_ceil(self.width).max(1)
        };
        let last = self.starts.back().copied().unwrap_or(0);
        self.starts.push_back(last + rows);
        self.lines.push_back(line);
    }

    /// Reflow to a new width.
    pub fn set_width(&mut self, width: usize) {
        let width = width.max(1);
        if width == self.width {
            return;
        }
        self.width = width;
        let mut at = self.starts.front().copied().unwrap_or(0);
        self.starts.clear();
        self.starts.push_back(at);
        for line in &self.lines {
            at += wrap(line, width, |_, _, _| {});
            self.starts.push_back(at);
        }
    }

    /// The line holding row `row` (0 = the oldest kept) and the row
    /// within it.
    fn locate(&self, row: usize) -> Option<(&Line, usize)> {
        let base = self.starts.front().copied()?;
        let abs = base + row;
        // The last start at or before `abs`.
        let i = self.starts.partition_point(|&s| s <= abs).checked_sub(1)?;
        let line = self.lines.get(i)?;
        Some((line, abs - self.starts[i]))
    }

    /// Row `row` as the emulator's cells, `width` of them.
    pub fn row_cells(&self, row: usize) -> Vec<Cell> {
        let mut out = vec![Cell::default(); self.width];
        if let Some((line, want)) = self.locate(row) {
            wrap(line, self.width, |r, col, cell| {
                if r == want {
                    if let Some(slot) = out.get_mut(col) {
                        *slot = cell;
                    }
                }
            });
        }
        out
    }

    /// Row `row` as text, without trailing blanks.
    pub fn row_text(&self, row: usize) -> String {
        cells_text(&self.row_cells(row))
    }
}

/// A row's cells as text, as copy mode and the activity rules read it: a
/// wide character once, hidden text as spaces, no trailing blanks.
pub(super) fn cells_text(cells: &[Cell]) -> String {
    let mut out = String::new();
    for cell in cells {
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
        out.extend(cell.zerowidth().unwrap_or(&[]));
    }
    out.trim_end().to_string()
}

/// Lay `line` out in rows of `width` cells, as the emulator wraps: a wide
/// character that does not fit at a row's end leaves a spacer and starts
/// the next row. `place(row, column, cell)` gets every cell; the rows are
/// returned (an empty line is one row).
fn wrap(line: &Line, width: usize, mut place: impl FnMut(usize, usize, Cell)) -> usize {
    let (mut row, mut col) = (0, 0);
    let mut chars = line.text.chars().peekable();
    for run in line.runs.iter() {
        let mut left = run.chars;
        while left > 0 {
            let Some(c) = chars.next() else {
                return row + 1;
            };
            left -= 1;
            let wide = run.flags.contains(Flags::WIDE_CHAR);
            let w = if wide { 2 } else { 1 };
            if col + w > width && col > 0 {
                if wide && col < width {
                    place(
                        row,
                        col,
                        Cell {
                            flags: Flags::LEADING_WIDE_CHAR_SPACER,
                            ..Cell::default()
                        },
                    );
                }
                row += 1;
                col = 0;
            }
            let mut cell = Cell {
                c,
                fg: run.fg,
                bg: run.bg,
                flags: run.flags,
                extra: None,
            };
            // Zero-width characters that follow belong to this cell.
            while left > 0 && chars.peek().is_some_and(|z| z.width() == Some(0)) {
                if let Some(z) = chars.next() {
                    cell.push_zerowidth(z);
                    left -= 1;
                }
            }
            place(row, col, cell);
            if wide && col + 1 < width {
                place(
                    row,
                    col + 1,
                    Cell {
                        fg: run.fg,
                        bg: run.bg,
                        flags: Flags::WIDE_CHAR_SPACER,
                        ..Cell::default()
                    },
                );
            }
            col += w;
        }
    }
    row + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, width: usize, wraps: bool) -> Row<Cell> {
        let mut r: Row<Cell> = Row::new(width);
        let mut col = 0;
        for c in text.chars() {
            if c.width() == Some(0) {
                r[Column(col - 1)].push_zerowidth(c);
                continue;
            }
            r[Column(col)].c = c;
            if c.width() == Some(2) {
                r[Column(col)].flags = Flags::WIDE_CHAR;
                r[Column(col + 1)].flags = Flags::WIDE_CHAR_SPACER;
                col += 1;
            }
            col += 1;
        }
        if wraps {
            r[Column(width - 1)].flags |= Flags::WRAPLINE;
        }
        r
    }

    #[test]
    fn lines_keep_their_text_and_colours_and_reflow() {
        let mut h = History::new(4, 100);
        let mut a = row("abcd", 4, true);
        a[Column(1)].fg = Color::Indexed(1);
        h.push_row(&a, 4);
        h.push_row(&row("ef", 4, false), 4);
        h.push_row(&row("x", 4, false), 4);
        h.end_spill();
        assert_eq!(h.rows(), 3);
        assert_eq!(
            [h.row_text(0), h.row_text(1), h.row_text(2)],
            ["abcd", "ef", "x"]
        );
        assert_eq!(h.row_cells(0)[1].fg, Color::Indexed(1));
        assert_eq!(h.row_cells(0)[2].fg, Color::Named(NamedColor::Foreground));
        h.set_width(8);
        assert_eq!(h.rows(), 2);
        assert_eq!([h.row_text(0), h.row_text(1)], ["abcdef", "x"]);
        h.set_width(3);
        assert_eq!(h.rows(), 3);
        assert_eq!(h.row_text(1), "def");
    }

    #[test]
    fn wide_characters_wrap_whole_and_zero_width_ones_stay_with_their_cell() {
        let mut h = History::new(5, 100);
        h.push_row(&row("ab漢e\u{301}", 5, false), 5);
        h.end_spill();
        assert_eq!(h.row_text(0), "ab漢e\u{301}");
        h.set_width(3);
        // "ab" then the wide character does not fit: a spacer, next row.
        assert_eq!(h.rows(), 2);
        let first = h.row_cells(0);
        assert!(first[2].flags.contains(Flags::LEADING_WIDE_CHAR_SPACER));
        assert_eq!(h.row_text(1), "漢e\u{301}");
    }

    #[test]
    fn a_line_left_open_goes_on_in_the_next_spill_and_the_cap_drops_the_oldest() {
        let mut h = History::new(3, 4);
        h.push_row(&row("abc", 3, true), 3);
        h.end_spill();
        assert_eq!(h.rows(), 1);
        h.push_row(&row("de", 3, false), 3);
        h.end_spill();
        assert_eq!(h.lines.len(), 1, "one line, joined");
        assert_eq!(h.rows(), 2);
        for t in ["1", "2", "3"] {
            h.push_row(&row(t, 3, false), 3);
        }
        h.end_spill();
        assert_eq!(h.rows(), 3, "the oldest line (two rows) went");
        assert_eq!(h.dropped(), 2);
        assert_eq!(h.row_text(0), "1");
    }
}
