//! The emulator's screen drawn into the workspace's buffer: the one
//! adapter between alacritty_terminal's grid and the workspace's drawing.
//! Rows are copied as slices, cell by cell into the buffer's row: a pane
//! is most of every frame, and a key's echo waits for the frame.

use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::Line;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color as AnsiColor, NamedColor};
use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthStr;

use super::term::Listener;

/// The terminal at its current scroll position: rows from the compact
/// history first (when scrolled back that far), then the emulator's grid.
pub struct Screen<'a> {
    term: &'a alacritty_terminal::Term<Listener>,
    /// The view's first rows, laid out from the compact history.
    older: Vec<Vec<Cell>>,
    /// The grid line shown on the first row after `older`.
    first_line: i32,
}

impl<'a> Screen<'a> {
    pub(super) fn new(
        term: &'a alacritty_terminal::Term<Listener>,
        older: Vec<Vec<Cell>>,
        first_line: i32,
    ) -> Screen<'a> {
        Screen {
            term,
            older,
            first_line,
        }
    }

    /// The cells of the view's row `row`; None below the screen.
    fn row(&self, row: usize) -> Option<&[Cell]> {
        let grid = self.term.grid();
        if row >= grid.screen_lines() {
            return None;
        }
        if let Some(r) = self.older.get(row) {
            return Some(r);
        }
        let line = self.first_line + (row - self.older.len()) as i32;
        if line < -(grid.history_size() as i32) || line >= grid.screen_lines() as i32 {
            return None;
        }
        Some(&grid[Line(line)][..])
    }
}

/// Every cell of the area is written: the program's cells, and blank
/// where the program has none (past its size, or a wide character's
/// second half, which the outer terminal draws as part of the first).
impl Widget for &Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        for y in 0..area.height {
            self.render_row(area, y, buf);
        }
    }
}

impl Screen<'_> {
    /// Row `y` of the view drawn into its row of `area` (which `buf` need
    /// only hold that row of): a frame can redraw the rows that changed.
    pub fn render_row(&self, area: Rect, y: u16, buf: &mut Buffer) {
        let row = Rect::new(area.x, area.y.saturating_add(y), area.width, 1);
        let row = row.intersection(area).intersection(buf.area);
        if row.is_empty() {
            return;
        }
        let columns = self.term.grid().columns();
        let start = buf.index_of(row.x, row.y);
        let out = &mut buf.content[start..start + usize::from(row.width)];
        let cells = self.row(usize::from(y)).unwrap_or(&[]);
        let cells = &cells[..cells.len().min(columns)];
        let skip = usize::from(row.x - area.x);
        for (i, target) in out.iter_mut().enumerate() {
            match cells.get(skip + i) {
                Some(c) if !c.flags.intersects(SPACERS) => apply(c, target),
                _ => {
                    target.reset();
                }
            }
        }
    }
}

fn colour(c: AnsiColor) -> Color {
    match c {
        AnsiColor::Spec(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
        AnsiColor::Indexed(i) => Color::Indexed(i),
        AnsiColor::Named(n) => match n as usize {
            i @ 0..=15 => Color::Indexed(i as u8),
            // Dim colours are what alacritty makes of dim text; the
            // outer terminal dims it itself.
            _ => match n {
                NamedColor::DimBlack => Color::Indexed(0),
                NamedColor::DimRed => Color::Indexed(1),
                NamedColor::DimGreen => Color::Indexed(2),
                NamedColor::DimYellow => Color::Indexed(3),
                NamedColor::DimBlue => Color::Indexed(4),
                NamedColor::DimMagenta => Color::Indexed(5),
                NamedColor::DimCyan => Color::Indexed(6),
                NamedColor::DimWhite => Color::Indexed(7),
                _ => Color::Reset,
            },
        },
    }
}

const SPACERS: Flags = Flags::WIDE_CHAR_SPACER.union(Flags::LEADING_WIDE_CHAR_SPACER);

/// One of the program's cells into the buffer's.
fn apply(c: &Cell, cell: &mut ratatui::buffer::Cell) {
    cell.reset();
    // A blank cell (most of most screens) is a reset one.
    if c.c == ' '
        && c.extra.is_none()
        && c.flags.is_empty()
        && matches!(c.fg, AnsiColor::Named(NamedColor::Foreground))
        && matches!(c.bg, AnsiColor::Named(NamedColor::Background))
    {
        return;
    }
    if c.flags.contains(Flags::HIDDEN) {
        cell.set_symbol(" ");
    } else if let Some(extra) = c.zerowidth() {
        // Joined characters, marks and presentation selectors, as the
        // program wrote them: the outer terminal lays them out as the
        // reference terminal does (the painter keeps the cell's width).
        let mut s = String::with_capacity(8);
        s.push(c.c);
        s.extend(extra);
        cell.set_symbol(&s);
        // As wide as its first character, as laid out; ratatui would
        // measure the sequence (two cells for a heart with VS16) and leave
        // the next cell undrawn.
        let cells = if c.flags.contains(Flags::WIDE_CHAR) {
            2
        } else {
            1
        };
        if s.width() != cells {
            cell.set_diff_option(CellDiffOption::ForcedWidth(
                NonZeroU16::new(cells as u16).unwrap_or(NonZeroU16::MIN),
            ));
        }
    } else {
        cell.set_char(c.c);
    }
    let mut m = Modifier::empty();
    for (flag, modifier) in [
        (Flags::BOLD, Modifier::BOLD),
        (Flags::DIM, Modifier::DIM),
        (Flags::ITALIC, Modifier::ITALIC),
        (Flags::ALL_UNDERLINES, Modifier::UNDERLINED),
        (Flags::INVERSE, Modifier::REVERSED),
        (Flags::STRIKEOUT, Modifier::CROSSED_OUT),
    ] {
        if c.flags.intersects(flag) {
            m |= modifier;
        }
    }
    cell.set_style(
        Style::reset()
            .fg(colour(c.fg))
            .bg(colour(c.bg))
            .add_modifier(m),
    );
}
