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

    /// Items matching the filter, best match first: fuzzy (the filter's
    /// letters in order, not necessarily together), case-insensitive, as
    /// helix and television match. No filter: every item, in order.
    pub fn visible(&self) -> Vec<&PickItem> {
        use nucleo_matcher::pattern::{AtomKind, CaseMatching, Normalization, Pattern};
        if self.filter.is_empty() {
            return self.items.iter().collect();
        }
        /// An item's name, for the matcher, remembering which item it is.
        struct Name<'a>(&'a PickItem);
        impl AsRef<str> for Name<'_> {
            fn as_ref(&self) -> &str {
                &self.0.name
            }
        }
        let pattern = Pattern::new(
            &self.filter,
            CaseMatching::Ignore,
            Normalization::Smart,
            AtomKind::Fuzzy,
        );
        let mut matcher = nucleo_matcher::Matcher::new(nucleo_matcher::Config::DEFAULT);
        pattern
            .match_list(self.items.iter().map(Name), &mut matcher)
            .into_iter()
            .map(|(name, _score)| name.0)
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

    #[test]
    fn the_filter_is_fuzzy_and_the_best_match_comes_first() {
        let p = |filter: &str| {
            let mut p = Picker::new(vec![
                item("crew-view", 0),
                item("review-bot", 0),
                item("codex-helper", 0),
            ]);
            p.filter = filter.into();
            p.visible()
                .iter()
                .map(|i| i.name.clone())
                .collect::<Vec<_>>()
        };
        // Letters in order, not together; any case.
        assert_eq!(p("cdx"), ["codex-helper"]);
        assert_eq!(p("CDX"), ["codex-helper"]);
        // Together at the start beats scattered, whatever the list order.
        assert_eq!(p("rev"), ["review-bot", "crew-view"]);
        assert!(p("zz").is_empty());
        assert_eq!(p("").len(), 3, "no filter: every item, in order");
    }
}
