//! bb's keys: a prefix key (as terminal multiplexers have), the actions
//! after it, and direct jumps.
//! Every key bb keeps is one the agent loses, so bb keeps only these, and
//! all of them are remappable.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

mod modes;
pub use modes::*;

/// A key as the config writes it: `ctrl-b`, `alt-1`, `n`, `[`, `left`, `f1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        Key { code, mods }.normalised()
    }

    /// Shift is already in an upper-case character; drop it so `?` and
    /// `shift-?` compare equal however the terminal reported them.
    fn normalised(mut self) -> Key {
        if let KeyCode::Char(_) = self.code {
            self.mods.remove(KeyModifiers::SHIFT);
        }
        if self.code == KeyCode::BackTab {
            self.mods.remove(KeyModifiers::SHIFT);
        }
        self
    }

    pub fn of(ev: &KeyEvent) -> Key {
        Key::new(ev.code, ev.modifiers)
    }

    pub fn parse(spec: &str) -> Result<Key, String> {
        let lower = spec.trim().to_ascii_lowercase();
        if lower.is_empty() {
            return Err("an empty key".into());
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = lower.as_str();
        loop {
            let (m, after) = if let Some(r) = rest.strip_prefix("ctrl-") {
                (KeyModifiers::CONTROL, r)
            } else if let Some(r) = rest.strip_prefix("alt-") {
                (KeyModifiers::ALT, r)
            } else if let Some(r) = rest.strip_prefix("shift-") {
                (KeyModifiers::SHIFT, r)
            } else {
                break;
            };
            if after.is_empty() {
                break;
            }
            mods |= m;
            rest = after;
        }
        // Keep the case of a single character as written (`N` is shift-n).
        let original_rest = &spec.trim()[spec.trim().len() - rest.len()..];
        let code = match rest {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "insert" => KeyCode::Insert,
            "delete" => KeyCode::Delete,
            f if f.starts_with('f')
                && f.len() > 1
                && f[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(format!("{spec:?}: function keys are f1 to f12")),
                }
            }
            _ => {
                let mut chars = original_rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }),
                    _ => {
                        return Err(format!(
                            "{spec:?} is not a key (like ctrl-b, alt-1, n, [, left, f1)"
                        ))
                    }
                }
            }
        };
        Ok(Key::new(code, mods))
    }

    /// How the footer and help show it: `C-b`, `M-1`, `n`.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("M-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("S-");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("Space"),
            KeyCode::Char(c) => s.push(c),
            KeyCode::F(n) => s.push_str(&format!("F{n}")),
            KeyCode::BackTab => s.push_str("S-Tab"),
            KeyCode::Up => s.push('↑'),
            KeyCode::Down => s.push('↓'),
            KeyCode::Left => s.push('←'),
            KeyCode::Right => s.push('→'),
            KeyCode::PageUp => s.push_str("PgUp"),
            KeyCode::PageDown => s.push_str("PgDn"),
            other => s.push_str(&format!("{other:?}")),
        }
        s
    }
}

/// What bb does for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NewAgent,
    StopAgent,
    Zoom,
    ToggleSidebar,
    Proposals,
    ScrollMode,
    Help,
    Leave,
    /// Edit the focused bottle's live egress routes in $EDITOR.
    EditEgress,
    /// Start again what is down in the focused bottle and attach.
    Restart,
    NextAgent,
    PrevAgent,
    /// Focus the next agent that waits for you.
    NextWaiting,
    /// The focused bottle's network activity.
    Network,
    /// What a program asked to put on the operator's clipboard.
    Clipboard,
    /// The focused agent's work: commits, changed files, the diff.
    Review,
    /// Focus agent N (0-based).
    Focus(usize),
    /// The prefix pressed twice: send it to the agent.
    SendPrefix,
}

/// One action bb binds after its prefix: the name the config file uses,
/// the word the footer shows, and what help says. The one table of them:
/// the config, the footer, help and the README derive from it.
pub struct Named {
    pub action: Action,
    pub name: &'static str,
    pub short: &'static str,
    pub describe: &'static str,
    /// Shown in the footer's list after the prefix.
    pub in_footer: bool,
}

const fn named(
    action: Action,
    name: &'static str,
    short: &'static str,
    describe: &'static str,
    in_footer: bool,
) -> Named {
    Named {
        action,
        name,
        short,
        describe,
        in_footer,
    }
}

/// In the order help lists them.
#[rustfmt::skip]
pub const ACTIONS: &[Named] = &[
    named(Action::NewAgent, "new_agent", "new", "new agent", true),
    named(
        Action::StopAgent,
        "stop_agent",
        "stop",
        "stop the focused agent's bottle",
        true,
    ),
    named(
        Action::Zoom,
        "zoom",
        "zoom",
        "zoom the pane to the whole screen",
        true,
    ),
    named(
        Action::ToggleSidebar,
        "sidebar",
        "sidebar",
        "show or hide the sidebar",
        true,
    ),
    named(
        Action::Proposals,
        "proposals",
        "proposals",
        "review proposals",
        true,
    ),
    named(
        Action::ScrollMode,
        "scroll_mode",
        "scroll",
        "scroll mode (history, copy)",
        true,
    ),
    named(Action::Help, "help", "help", "this help", true),
    named(
        Action::Leave,
        "leave",
        "leave",
        "leave the workspace (bottles keep running)",
        true,
    ),
    named(
        Action::EditEgress,
        "edit_egress",
        "egress",
        "edit the focused bottle's live egress routes",
        true,
    ),
    named(
        Action::Restart,
        "restart",
        "restart",
        "restart what is down in the focused bottle, keeping its work",
        false,
    ),
    named(Action::NextAgent, "next_agent", "next", "next agent", false),
    named(
        Action::PrevAgent,
        "prev_agent",
        "previous",
        "previous agent",
        false,
    ),
    named(
        Action::Network,
        "network",
        "net",
        "the focused bottle's network activity (its egress log, live)",
        true,
    ),
    named(
        Action::NextWaiting,
        "next_waiting",
        "waiting",
        "next agent that waits for you",
        true,
    ),
    named(
        Action::Review,
        "review",
        "review",
        "review the focused agent's work: commits, files, diff (take or apply it)",
        true,
    ),
    named(
        Action::Clipboard,
        "clipboard",
        "clipboard",
        "see a program's clipboard request, allow it or not",
        false,
    ),
];

impl Action {
    fn named(self) -> Option<&'static Named> {
        ACTIONS.iter().find(|n| n.action == self)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Focus(_) => "focus agent N",
            Action::SendPrefix => "send the prefix key to the agent",
            a => a.named().map_or("", |n| n.describe),
        }
    }

    /// The footer's word for it.
    pub fn short(self) -> &'static str {
        self.named().map_or("", |n| n.short)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub prefix: Key,
    /// Bindings after the prefix, in the order help shows them.
    pub bindings: Vec<(Key, Action)>,
    /// The modifier for direct jumps (alt-1..9), if any.
    pub direct_jump: Option<KeyModifiers>,
}

/// What the keymap decided about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Give the key to the focused program.
    Forward,
    /// The prefix: wait for the next key.
    Armed,
    Act(Action),
    /// After the prefix, a key bb does not bind: dropped, with a hint.
    Unbound,
}

impl Keymap {
    /// Decide one key. `armed` is whether the prefix came just before.
    pub fn resolve(&self, armed: bool, ev: &KeyEvent) -> Resolved {
        let key = Key::of(ev);
        if armed {
            if key == self.prefix {
                return Resolved::Act(Action::SendPrefix);
            }
            if let KeyCode::Char(c @ '1'..='9') = key.code {
                if key.mods.is_empty() {
                    return Resolved::Act(Action::Focus(c as usize - '1' as usize));
                }
            }
            return match self.bindings.iter().find(|(k, _)| *k == key) {
                Some((_, a)) => Resolved::Act(*a),
                None => Resolved::Unbound,
            };
        }
        if key == self.prefix {
            return Resolved::Armed;
        }
        if let (Some(m), KeyCode::Char(c @ '1'..='9')) = (self.direct_jump, key.code) {
            if key.mods == m {
                return Resolved::Act(Action::Focus(c as usize - '1' as usize));
            }
        }
        Resolved::Forward
    }

    pub fn key_for(&self, action: Action) -> Option<Key> {
        self.bindings
            .iter()
            .find(|(_, a)| *a == action)
            .map(|(k, _)| *k)
    }

    /// How direct jumps are written (`M-1..9`), if there are any.
    pub fn direct_jump_label(&self) -> Option<String> {
        let m = self.direct_jump?;
        Some(Key::new(KeyCode::Char('1'), m).label() + "..9")
    }

    /// `C-b n` for the footer.
    pub fn chord(&self, action: Action) -> String {
        match self.key_for(action) {
            Some(k) => format!("{} {}", self.prefix.label(), k.label()),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::config::Config;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn parses_key_specs() {
        assert_eq!(
            Key::parse("ctrl-b").unwrap(),
            Key::new(KeyCode::Char('b'), KeyModifiers::CONTROL)
        );
        assert!(Key::parse("C-b").is_err());
        assert_eq!(
            Key::parse("alt-1").unwrap(),
            Key::new(KeyCode::Char('1'), KeyModifiers::ALT)
        );
        assert_eq!(
            Key::parse("[").unwrap(),
            Key::new(KeyCode::Char('['), KeyModifiers::NONE)
        );
        assert_eq!(
            Key::parse("N").unwrap(),
            Key::new(KeyCode::Char('N'), KeyModifiers::NONE)
        );
        assert_eq!(
            Key::parse("shift-tab").unwrap(),
            Key::new(KeyCode::BackTab, KeyModifiers::NONE)
        );
        assert_eq!(Key::parse("f12").unwrap().code, KeyCode::F(12));
        assert!(Key::parse("f13").is_err());
        assert!(Key::parse("banana").is_err());
    }

    #[test]
    fn prefix_then_action_and_prefix_twice_passes_through() {
        let km = Config::default().keymap;
        let ctrl_b = ev(KeyCode::Char('b'), KeyModifiers::CONTROL);
        assert_eq!(km.resolve(false, &ctrl_b), Resolved::Armed);
        assert_eq!(km.resolve(true, &ctrl_b), Resolved::Act(Action::SendPrefix));
        assert_eq!(
            km.resolve(true, &ev(KeyCode::Char('n'), KeyModifiers::NONE)),
            Resolved::Act(Action::NewAgent)
        );
        assert_eq!(
            km.resolve(true, &ev(KeyCode::Char('3'), KeyModifiers::NONE)),
            Resolved::Act(Action::Focus(2))
        );
        assert_eq!(
            km.resolve(true, &ev(KeyCode::Right, KeyModifiers::NONE)),
            Resolved::Act(Action::NextAgent)
        );
        assert_eq!(
            km.resolve(true, &ev(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Resolved::Act(Action::Help)
        );
        assert_eq!(
            km.resolve(true, &ev(KeyCode::Char('k'), KeyModifiers::NONE)),
            Resolved::Unbound
        );
    }

    #[test]
    fn everything_else_reaches_the_agent() {
        let km = Config::default().keymap;
        for key in [
            ev(KeyCode::Char('n'), KeyModifiers::NONE),
            ev(KeyCode::Char('q'), KeyModifiers::CONTROL),
            ev(KeyCode::Char('s'), KeyModifiers::CONTROL),
            ev(KeyCode::Char('p'), KeyModifiers::CONTROL),
            ev(KeyCode::Char('1'), KeyModifiers::NONE),
            ev(KeyCode::Esc, KeyModifiers::NONE),
        ] {
            assert_eq!(km.resolve(false, &key), Resolved::Forward, "{key:?}");
        }
        assert_eq!(
            km.resolve(false, &ev(KeyCode::Char('2'), KeyModifiers::ALT)),
            Resolved::Act(Action::Focus(1))
        );
    }
}
