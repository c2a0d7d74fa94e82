//! The emulator's screen as tui-term's widget draws it: the one adapter
//! between vt100 and the workspace's drawing.

use ratatui::style::{Color, Modifier, Style};
use ref_cast::RefCast;

/// vt100 0.18's screen seen through tui-term's widget traits (tui-term
/// implements them only for vt100 0.16, which loses history pushed out of
/// scroll regions).
#[derive(RefCast)]
#[repr(transparent)]
pub struct VtScreen(pub(super) vt100::Screen);

#[derive(RefCast)]
#[repr(transparent)]
pub struct VtCell(vt100::Cell);

impl tui_term::widget::Screen for VtScreen {
    type C = VtCell;

    fn cell(&self, row: u16, col: u16) -> Option<&VtCell> {
        self.0.cell(row, col).map(VtCell::ref_cast)
    }

    fn hide_cursor(&self) -> bool {
        self.0.hide_cursor()
    }

    fn cursor_position(&self) -> (u16, u16) {
        let (row, col) = self.0.cursor_position();
        let scrollback = u16::try_from(self.0.scrollback()).unwrap_or(u16::MAX);
        (row.saturating_add(scrollback), col)
    }
}

fn colour(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

impl tui_term::widget::Cell for VtCell {
    fn has_contents(&self) -> bool {
        self.0.has_contents()
    }

    fn apply(&self, cell: &mut ratatui::buffer::Cell) {
        let c = &self.0;
        if c.has_contents() {
            cell.set_symbol(c.contents());
        }
        let mut m = Modifier::empty();
        for (on, flag) in [
            (c.bold(), Modifier::BOLD),
            (c.italic(), Modifier::ITALIC),
            (c.underline(), Modifier::UNDERLINED),
            (c.inverse(), Modifier::REVERSED),
            (c.dim(), Modifier::DIM),
        ] {
            if on {
                m |= flag;
            }
        }
        cell.set_style(
            Style::reset()
                .fg(colour(c.fgcolor()))
                .bg(colour(c.bgcolor()))
                .add_modifier(m),
        );
    }
}
