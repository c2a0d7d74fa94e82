//! Scroll mode, copying to the outer clipboard, and the mouse.

use base64::Engine as _;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::{osc52, App, Effect};
use crate::tui::keymap::{mode_action, Scroll, SCROLL_KEYS};

impl App {
    pub(super) fn on_scroll_key(&mut self, key: KeyEvent) {
        let Some(mut mode) = self.scroll else { return };
        let rows = self.pane_size().0;
        let Some(s) = self.focused().and_then(|e| e.session.as_ref()) else {
            self.scroll = None;
            return;
        };
        let mut term = s.term.lock();
        let page = rows.saturating_sub(1).max(1) as isize;
        let mut copied = None;
        let mut exit = false;
        match mode_action(SCROLL_KEYS, &key) {
            Some(Scroll::LineUp) => {
                if mode.cursor == 0 {
                    term.scroll_by(1);
                } else {
                    mode.cursor -= 1;
                }
            }
            Some(Scroll::LineDown) => {
                if mode.cursor + 1 >= rows {
                    term.scroll_by(-1);
                } else {
                    mode.cursor += 1;
                }
            }
            Some(Scroll::PageUp) => term.scroll_by(page),
            Some(Scroll::HalfPageUp) => term.scroll_by(page / 2),
            Some(Scroll::PageDown) => term.scroll_by(-page),
            Some(Scroll::HalfPageDown) => term.scroll_by(-page / 2),
            Some(Scroll::Top) => {
                term.scroll_to_top();
                mode.cursor = 0;
            }
            Some(Scroll::Bottom) => {
                term.scroll_to_live();
                mode.cursor = rows.saturating_sub(1);
            }
            Some(Scroll::Select) => {
                let abs = term.history_len() - term.scroll_offset() + mode.cursor as usize;
                mode.anchor = if mode.anchor.is_some() {
                    None
                } else {
                    Some(abs)
                };
            }
            Some(Scroll::Copy) => {
                let cursor_abs = term.history_len() - term.scroll_offset() + mode.cursor as usize;
                let (from, to) = match mode.anchor {
                    Some(a) => (a.min(cursor_abs), a.max(cursor_abs)),
                    None => (cursor_abs, cursor_abs),
                };
                copied = Some((to - from + 1, term.lines_text(from, to)));
                exit = true;
            }
            Some(Scroll::Back) => exit = true,
            None => {}
        }
        if exit {
            term.scroll_to_live();
        }
        drop(term);
        self.scroll = if exit { None } else { Some(mode) };
        if let Some((n, text)) = copied {
            let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            self.effects.push(Effect::Outer(osc52(b64.as_bytes())));
            self.info(format!(
                "copied {n} line{} to the clipboard",
                if n == 1 { "" } else { "s" }
            ));
        }
    }

    pub(super) fn on_mouse(&mut self, m: MouseEvent) {
        if self.modal.is_some() {
            return;
        }
        self.dirty = true;
        let l = self.layout();
        let pos = Position::new(m.column, m.row);
        if l.pane_inner.contains(pos) {
            let Some(s) = self.focused().and_then(|e| e.session.as_ref()) else {
                return;
            };
            let mut term = s.term.lock();
            let (col, row) = (m.column - l.pane_inner.x, m.row - l.pane_inner.y);
            if term.wants_mouse() {
                if let Some(bytes) = term.mouse_bytes(m.kind, m.modifiers, col, row) {
                    drop(term);
                    s.write(&bytes);
                }
                return;
            }
            let up = match m.kind {
                MouseEventKind::ScrollUp => true,
                MouseEventKind::ScrollDown => false,
                _ => return,
            };
            if term.alternate_screen() {
                // No history on the alternate screen: scroll the program,
                // as terminals do, with arrow keys.
                let arrow = KeyEvent::new(
                    if up { KeyCode::Up } else { KeyCode::Down },
                    KeyModifiers::NONE,
                );
                let bytes = term.key_bytes(&arrow).repeat(3);
                drop(term);
                s.write(&bytes);
            } else {
                term.scroll_by(if up { 3 } else { -3 });
            }
            return;
        }
        if let (Some(side), MouseEventKind::Down(MouseButton::Left)) = (l.sidebar, m.kind) {
            if side.contains(pos) {
                if let Some(idx) =
                    crate::tui::view::sidebar::agent_at(l.agents, self.entries.len(), pos)
                {
                    self.set_focus(idx);
                }
            }
        }
    }
}
