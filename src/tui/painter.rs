//! What the outer terminal shows, and the two ways a frame changes it: the
//! whole workspace drawn and compared with what is shown, or, when only
//! the focused program's screen changed, just the rows the program
//! changed. A key's echo is one row; drawing and comparing the whole
//! workspace for it was most of the time from key to screen.

use std::io::{self, Write};

use crossterm::queue;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::{Position, Rect};
use ratatui::Terminal;

use super::app::App;
use super::frame_output::FrameOutput;
use super::view::{self, pane};

pub type Term = Terminal<CrosstermBackend<FrameOutput>>;

pub struct Painter {
    term: Term,
    /// The outer terminal's cells, as drawn. ratatui's own double buffer
    /// is not used: it assumes every frame draws everything.
    shown: Buffer,
    /// The live pane the last whole frame drew; frames of its rows alone
    /// are right while it is still the one shown, in the same place.
    live: Option<pane::Live>,
}

/// How a frame reached the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    Whole,
    /// Only rows of the focused program's screen.
    Rows,
}

impl Painter {
    /// `term`'s screen is taken as blank (just set up, or cleared).
    pub fn new(mut term: Term) -> Painter {
        let area = term_area(&mut term);
        Painter {
            term,
            shown: Buffer::empty(area),
            live: None,
        }
    }

    /// A frame with what changed: the whole workspace, unless only the
    /// focused program's screen changed (`whole` false) and its pane shows
    /// nothing else.
    pub fn frame(&mut self, app: &App, whole: bool) -> io::Result<Drawn> {
        let out = self.term.backend_mut().writer_mut();
        out.hold();
        let _ = queue!(out, BeginSynchronizedUpdate);
        let drawn = self.draw(app, whole);
        let out = self.term.backend_mut().writer_mut();
        let _ = queue!(out, EndSynchronizedUpdate);
        let released = out.release();
        drawn.and_then(|d| released.map(|()| d))
    }

    fn draw(&mut self, app: &App, whole: bool) -> io::Result<Drawn> {
        if !whole && self.rows(app)? {
            return Ok(Drawn::Rows);
        }
        self.whole(app)?;
        Ok(Drawn::Whole)
    }

    /// Bytes for the outer terminal itself (a bell, a notification), the
    /// same way as frames.
    pub fn write_outer(&mut self, bytes: &[u8]) {
        let out = self.term.backend_mut().writer_mut();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// Take over a terminal set up again (after an editor had it): it is
    /// cleared, and the next frame draws everything.
    pub fn restart(&mut self, term: Term) -> io::Result<()> {
        self.term = term;
        let area = term_area(&mut self.term);
        self.term.resize(area)?;
        self.shown = Buffer::empty(area);
        self.live = None;
        Ok(())
    }

    pub fn size(&self) -> io::Result<ratatui::layout::Size> {
        self.term.size()
    }

    /// Give the terminal back as it was found; false when it is gone.
    pub fn show_cursor(&mut self) -> bool {
        self.term.show_cursor().is_ok()
    }

    fn whole(&mut self, app: &App) -> io::Result<()> {
        if self.shown.area != app.area || term_area(&mut self.term) != app.area {
            // Clears the screen: nothing is shown.
            self.term.resize(app.area)?;
            self.shown = Buffer::empty(app.area);
        }
        // What the program changed up to now is in this frame; what it
        // changes while the frame is drawn is drawn again, harmlessly.
        self.live = pane::live(app);
        if let Some(s) = app.focused().and_then(|e| e.session.as_ref()) {
            s.term.lock().forget_changes();
        }
        self.term.current_buffer_mut().reset();
        view::render(&mut self.term.get_frame(), app);
        let next = std::mem::take(self.term.current_buffer_mut());
        let cells: Vec<_> = self.shown.diff_iter(&next).collect();
        draw(self.term.backend_mut(), &cells)?;
        *self.term.current_buffer_mut() = std::mem::replace(&mut self.shown, next);
        self.place_cursor(pane::cursor(app))
    }

    /// Draw the rows the focused program changed since the last frame;
    /// false (nothing drawn) when the pane is not as the last whole frame
    /// left it, or shows more than the program's screen.
    fn rows(&mut self, app: &App) -> io::Result<bool> {
        let Some(live) = pane::live(app) else {
            return Ok(false);
        };
        if self.live != Some(live) || self.shown.area != app.area {
            return Ok(false);
        }
        let Some(session) = app.focused().and_then(|e| e.session.as_ref()) else {
            return Ok(false);
        };
        let area = live.area.intersection(self.shown.area);
        let mut t = session.term.lock();
        if t.scroll_offset() != 0 {
            return Ok(false);
        }
        let rows = t
            .take_changed_rows()
            .unwrap_or_else(|| (0..area.height).collect());
        let view = t.view();
        let mut cells = Vec::new();
        for y in rows.into_iter().filter(|&y| y < area.height) {
            let row = Rect::new(area.x, area.y + y, area.width, 1);
            let mut next = Buffer::empty(row);
            view.render_row(area, y, &mut next);
            let start = self.shown.index_of(row.x, row.y);
            let shown = &mut self.shown.content[start..start + usize::from(row.width)];
            let before = Buffer {
                area: row,
                content: shown.to_vec(),
            };
            cells.extend(
                before
                    .diff(&next)
                    .into_iter()
                    .map(|(x, y, c)| (x, y, c.clone())),
            );
            shown.clone_from_slice(&next.content);
        }
        let cursor = pane::program_cursor(&t, live.area);
        drop(view);
        drop(t);
        let cells: Vec<_> = cells.iter().map(|(x, y, c)| (*x, *y, c)).collect();
        draw(self.term.backend_mut(), &cells)?;
        self.place_cursor(cursor)?;
        Ok(true)
    }

    fn place_cursor(&mut self, at: Option<Position>) -> io::Result<()> {
        match at {
            Some(at) => {
                self.term.show_cursor()?;
                self.term.set_cursor_position(at)
            }
            None => self.term.hide_cursor(),
        }
    }
}

/// Draw `cells`, moving the cursor again after any cell drawn at a width
/// of its own (a sequence the reference terminal gives the width of its
/// first character, which another terminal may draw as a wide emoji): the
/// next cell is then where bb put it, whatever width the terminal gave.
fn draw(
    backend: &mut CrosstermBackend<FrameOutput>,
    cells: &[(u16, u16, &ratatui::buffer::Cell)],
) -> io::Result<()> {
    let mut start = 0;
    for (i, (_, _, c)) in cells.iter().enumerate() {
        if matches!(c.diff_option, CellDiffOption::ForcedWidth(_)) {
            backend.draw(cells[start..=i].iter().map(|&(x, y, c)| (x, y, c)))?;
            start = i + 1;
        }
    }
    backend.draw(cells[start..].iter().map(|&(x, y, c)| (x, y, c)))
}

/// The area `term` draws (its fixed viewport).
fn term_area(term: &mut Term) -> Rect {
    term.get_frame().area()
}

#[cfg(test)]
mod tests;
