//! The emulator's screen as tui-term's widget draws it: the one adapter
//! between alacritty_terminal's grid and the workspace's drawing.

use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::vte::ansi::{Color as AnsiColor, NamedColor};
use ratatui::style::{Color, Modifier, Style};
use ref_cast::RefCast;

use super::term::Listener;

/// The terminal seen through tui-term's widget traits, at its current
/// scroll position: rows from the compact history first (when scrolled
/// back that far), then the emulator's grid.
pub struct Screen<'a> {
    term: &'a alacritty_terminal::Term<Listener>,
    /// The view's first rows, laid out from the compact history.
    older: Vec<Vec<alacritty_terminal::term::cell::Cell>>,
    /// The grid line shown on the first row after `older`.
    first_line: i32,
    /// Rows scrolled back (the cursor is that much lower).
    offset: usize,
}

impl<'a> Screen<'a> {
    pub(super) fn new(
        term: &'a alacritty_terminal::Term<Listener>,
        older: Vec<Vec<alacritty_terminal::term::cell::Cell>>,
        first_line: i32,
        offset: usize,
    ) -> Screen<'a> {
        Screen {
            term,
            older,
            first_line,
            offset,
        }
    }
}

#[derive(RefCast)]
#[repr(transparent)]
pub struct Cell(alacritty_terminal::term::cell::Cell);

impl tui_term::widget::Screen for Screen<'_> {
    type C = Cell;

    fn cell(&self, row: u16, col: u16) -> Option<&Cell> {
        let grid = self.term.grid();
        let (row, col) = (usize::from(row), usize::from(col));
        if row >= grid.screen_lines() || col >= grid.columns() {
            return None;
        }
        if let Some(r) = self.older.get(row) {
            return r.get(col).map(Cell::ref_cast);
        }
        let line = self.first_line + (row - self.older.len()) as i32;
        if line < -(grid.history_size() as i32) || line >= grid.screen_lines() as i32 {
            return None;
        }
        Some(Cell::ref_cast(&grid[Line(line)][Column(col)]))
    }

    fn hide_cursor(&self) -> bool {
        !self
            .term
            .mode()
            .contains(alacritty_terminal::term::TermMode::SHOW_CURSOR)
    }

    /// Below the pane while the view is scrolled back.
    fn cursor_position(&self) -> (u16, u16) {
        let p = self.term.grid().cursor.point;
        let row = i64::from(p.line.0) + self.offset as i64;
        (
            u16::try_from(row.max(0)).unwrap_or(u16::MAX),
            u16::try_from(p.column.0).unwrap_or(u16::MAX),
        )
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

impl tui_term::widget::Cell for Cell {
    fn has_contents(&self) -> bool {
        // The second half of a wide character belongs to the first.
        !self.0.flags.intersects(SPACERS)
    }

    fn apply(&self, cell: &mut ratatui::buffer::Cell) {
        let c = &self.0;
        // The widget clears its area before drawing: a blank cell (most of
        // most screens) is drawn already.
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
            let mut s = String::with_capacity(8);
            s.push(c.c);
            // VS16 asks for emoji presentation, which outer terminals draw
            // two cells wide; the emulator (as the reference terminal) gives the character
            // the one cell of its base, and the drawing would hide the
            // next cell under it. Shown as text, it keeps its one cell.
            let narrow = !c.flags.contains(Flags::WIDE_CHAR);
            s.extend(extra.iter().filter(|&&z| !(narrow && z == '\u{fe0f}')));
            cell.set_symbol(&s);
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
}
