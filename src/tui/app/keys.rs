//! Keys and actions: the prefix, forwarding to the focused program, and
//! what each bound action does.

use crossterm::event::KeyEvent;

use super::{App, Effect, Phase, ScrollMode, Suspend};
use crate::tui::keymap::{mode_action, Action, Ended, Resolved, ENDED_KEYS};
use crate::tui::modal::Modal;

impl App {
    pub(super) fn on_paste(&mut self, text: &str) {
        if let Some(Modal::Picker(p)) = &mut self.modal {
            p.filter.push_str(text.lines().next().unwrap_or(""));
            self.dirty = true;
            return;
        }
        if self.modal.is_some() {
            return;
        }
        if let Some(s) = self.focused().and_then(|e| e.session.as_ref()) {
            let bytes = s.term.lock().paste_bytes(text);
            s.write(&bytes);
            self.typed();
        }
    }

    pub(super) fn on_key(&mut self, key: KeyEvent) {
        if self.modal.is_some() {
            self.dirty = true;
            self.on_modal_key(key);
            return;
        }
        if self.scroll.is_some() {
            self.dirty = true;
            self.on_scroll_key(key);
            return;
        }
        let resolved = self.config.keymap.resolve(self.armed, &key);
        // A key for a running program changes the screen only when the
        // program answers: drawing now would only delay drawing its echo.
        let to_program = resolved == Resolved::Forward
            && self.focused().is_some_and(|e| {
                e.phase == Phase::Running && e.session.as_ref().is_some_and(|s| !s.exited())
            });
        self.dirty |= !to_program || self.armed;
        self.armed = false;
        match resolved {
            Resolved::Armed => self.armed = true,
            Resolved::Act(a) => self.act(a),
            Resolved::Unbound => {
                let prefix = self.config.keymap.prefix.label();
                let help = self.config.keymap.chord(Action::Help);
                self.error(format!(
                    "{prefix} {} is not bound; {help} lists bb's keys",
                    crate::tui::keymap::Key::of(&key).label()
                ));
            }
            Resolved::Forward => self.forward(key),
        }
    }

    /// A key for the focused pane: to the program, or to the exited-pane
    /// prompt.
    pub(super) fn forward(&mut self, key: KeyEvent) {
        let Some(e) = self.focused() else {
            let chord = self.config.keymap.chord(Action::NewAgent);
            self.info(format!("No agent yet: {chord} starts one"));
            return;
        };
        match (&e.phase, &e.session) {
            (Phase::Running, Some(s)) => {
                let mut term = s.term.lock();
                let scrolled = term.scroll_offset() > 0;
                if scrolled {
                    term.scroll_to_live();
                }
                let bytes = term.key_bytes(&key);
                drop(term);
                s.write(&bytes);
                self.dirty |= scrolled;
                self.typed();
            }
            (Phase::Exited(_) | Phase::Detached, _) => match mode_action(ENDED_KEYS, &key) {
                Some(Ended::NewSession) => self.reattach(),
                Some(Ended::Stop) => self.act(Action::StopAgent),
                None => {}
            },
            (Phase::Failed(_), _) if mode_action(ENDED_KEYS, &key) == Some(Ended::Stop) => {
                self.act(Action::StopAgent)
            }
            _ => {}
        }
    }

    pub(super) fn act(&mut self, action: Action) {
        match action {
            Action::NewAgent => self.load_manifest_for_picker(),
            Action::StopAgent => {
                if let Some(e) = self.focused() {
                    // A failed launch left nothing to stop: dismiss it. A
                    // bottle that exists is stopped, after asking.
                    if matches!(e.phase, Phase::Failed(_)) && e.active.is_none() {
                        self.remove_focused();
                    } else {
                        self.modal = Some(Modal::ConfirmStop {
                            slug: e.slug.clone(),
                            agent: e.agent.clone(),
                        });
                    }
                }
            }
            Action::Zoom => {
                self.zoom = !self.zoom;
                self.request_resize();
            }
            Action::ToggleSidebar => {
                self.sidebar = !self.sidebar;
                self.request_resize();
            }
            Action::Proposals => self.open_proposal(),
            Action::ScrollMode => {
                if self.focused().is_some_and(|e| e.session.is_some()) {
                    let rows = self.pane_size().0;
                    self.scroll = Some(ScrollMode {
                        cursor: rows.saturating_sub(1),
                        anchor: None,
                    });
                }
            }
            Action::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            Action::Leave => self.quit = true,
            Action::EditEgress => match self.focused() {
                Some(e)
                    if self
                        .backend_at(&e.place())
                        .is_some_and(|b| b.applies_egress())
                        && e.active.is_some() =>
                {
                    let slug = e.slug.clone();
                    self.effects
                        .push(Effect::Suspend(Suspend::EditEgress(slug)));
                }
                Some(_) => self.error("only a running Docker bottle's egress can be edited"),
                None => self.error("no agent to edit"),
            },
            Action::Restart => match self.focused_mut() {
                Some(e)
                    if e.active.is_some()
                        && !matches!(e.phase, Phase::Launching | Phase::Stopping) =>
                {
                    // Detach first: the old session's end is not news.
                    if let Some(s) = e.session.take() {
                        s.kill();
                    }
                    self.reattach();
                }
                Some(_) => self.error(
                    "nothing to restart: the bottle is starting or stopping, or was never made",
                ),
                None => self.error("no agent to restart"),
            },
            Action::NextWaiting => self.next_waiting(),
            Action::Network => self.open_network(),
            Action::Clipboard => self.open_clipboard(),
            Action::Review => self.open_review(),
            Action::NextAgent => self.set_focus((self.focus + 1) % self.entries.len().max(1)),
            Action::PrevAgent => {
                let n = self.entries.len().max(1);
                self.set_focus((self.focus + n - 1) % n)
            }
            Action::Focus(i) => {
                if i < self.entries.len() {
                    self.set_focus(i)
                } else {
                    self.error(format!("no agent {}", i + 1));
                }
            }
            Action::SendPrefix => {
                let p = self.config.keymap.prefix;
                self.forward(KeyEvent::new(p.code, p.mods));
            }
        }
    }

    pub fn set_focus(&mut self, i: usize) {
        if i >= self.entries.len() {
            return;
        }
        self.focus = i;
        self.scroll = None;
        self.entries[i].unread = false;
        self.entries[i].attention = false;
        self.dirty = true;
    }

    pub(super) fn remove_focused(&mut self) {
        if self.focus < self.entries.len() {
            self.entries.remove(self.focus);
            if self.focus >= self.entries.len() {
                self.focus = self.entries.len().saturating_sub(1);
            }
            if let Some(e) = self.entries.get_mut(self.focus) {
                e.unread = false;
            }
        }
    }
}
