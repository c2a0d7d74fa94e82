//! The agent picker: type to filter, move, Enter to pick.

use crossterm::event::KeyEvent;

use crate::tui::keymap::{mode_action, typed, Pick, PICKER_BROWSE_KEYS, PICKER_KEYS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickItem {
    pub name: String,
    /// `bottle · provider · source`
    pub detail: String,
    pub running: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub items: Vec<PickItem>,
    pub filter: String,
    pub selected: usize,
    /// After `/`, every character filters (even j and k).
    pub typing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickerOutcome {
    Stay,
    Close,
    Chosen(String),
}

impl Picker {
    pub fn new(items: Vec<PickItem>) -> Picker {
        Picker {
            items,
            filter: String::new(),
            selected: 0,
            typing: false,
        }
    }

    /// Items matching the filter: substring, case-insensitive.
    pub fn visible(&self) -> Vec<&PickItem> {
        let f = self.filter.to_lowercase();
        self.items
            .iter()
            .filter(|i| i.name.to_lowercase().contains(&f))
            .collect()
    }

    pub fn handle(&mut self, key: &KeyEvent) -> PickerOutcome {
        let n = self.visible().len();
        let browsing = !self.typing && self.filter.is_empty();
        let action = browsing
            .then(|| mode_action(PICKER_BROWSE_KEYS, key))
            .flatten()
            .or_else(|| mode_action(PICKER_KEYS, key));
        match action {
            Some(Pick::Down) => self.selected = if n == 0 { 0 } else { (self.selected + 1) % n },
            Some(Pick::Up) => {
                self.selected = if n == 0 {
                    0
                } else {
                    (self.selected + n - 1) % n
                }
            }
            Some(Pick::Choose) => {
                return match self.visible().get(self.selected) {
                    Some(item) => PickerOutcome::Chosen(item.name.clone()),
                    None => PickerOutcome::Stay,
                }
            }
            Some(Pick::Back) if browsing => return PickerOutcome::Close,
            Some(Pick::Back) => {
                self.filter.clear();
                self.typing = false;
                self.selected = 0;
            }
            Some(Pick::Close) => return PickerOutcome::Close,
            Some(Pick::Erase) => {
                self.filter.pop();
                self.selected = 0;
            }
            Some(Pick::Filter) => self.typing = true,
            None => {
                if let Some(c) = typed(key) {
                    self.filter.push(c);
                    self.selected = 0;
                }
            }
        }
        PickerOutcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn item(name: &str, running: usize) -> PickItem {
        PickItem {
            name: name.into(),
            detail: String::new(),
            running,
        }
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn filters_moves_picks_and_escapes_in_two_steps() {
        let mut p = Picker::new(vec![
            item("claude-helper", 1),
            item("codex-helper", 0),
            item("Jira-bot", 0),
        ]);
        assert_eq!(p.handle(&key(KeyCode::Char('j'))), PickerOutcome::Stay);
        assert_eq!(p.selected, 1, "j moves while nothing is typed");
        p.handle(&key(KeyCode::Char('C')));
        p.handle(&key(KeyCode::Char('o')));
        assert_eq!(p.visible().len(), 1);
        assert_eq!(
            p.handle(&key(KeyCode::Enter)),
            PickerOutcome::Chosen("codex-helper".into())
        );
        assert_eq!(p.handle(&key(KeyCode::Esc)), PickerOutcome::Stay);
        assert!(p.filter.is_empty());
        p.handle(&key(KeyCode::Char('/')));
        p.handle(&key(KeyCode::Char('j')));
        assert_eq!(p.visible().len(), 1, "after / a j filters");
        assert_eq!(
            p.handle(&key(KeyCode::Enter)),
            PickerOutcome::Chosen("Jira-bot".into())
        );
        p.handle(&key(KeyCode::Esc));
        assert_eq!(p.handle(&key(KeyCode::Esc)), PickerOutcome::Close);
    }

    #[test]
    fn enter_on_no_match_stays() {
        let mut p = Picker::new(vec![item("a", 0)]);
        p.handle(&key(KeyCode::Char('z')));
        assert_eq!(p.handle(&key(KeyCode::Enter)), PickerOutcome::Stay);
    }
}
