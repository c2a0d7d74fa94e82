//! The fixed keys of each mode (scroll, an ended pane, the preflight, help,
//! proposals, the pickers, confirmations, text fields): one table per mode,
//! which the handlers, the footer, help and the README all read.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Key;

/// A fixed key of one mode: what it does, and how help and the footer
/// show it. Each mode's table is the one place its keys are known.
pub struct ModeKey<A: 'static> {
    pub keys: &'static [Key],
    pub action: A,
    /// The footer's words; empty: not in the footer.
    pub short: &'static str,
    pub describe: &'static str,
}

/// The action of the first entry in `table` that has `ev`'s key.
pub fn mode_action<A: Copy>(table: &'static [ModeKey<A>], ev: &KeyEvent) -> Option<A> {
    let key = Key::of(ev);
    table
        .iter()
        .find(|m| m.keys.contains(&key))
        .map(|m| m.action)
}

const fn plain(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn ch(c: char) -> Key {
    plain(KeyCode::Char(c))
}

/// Scroll mode (`C-b [`): moving through history, selecting, copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    LineUp,
    LineDown,
    PageUp,
    PageDown,
    HalfPageUp,
    HalfPageDown,
    Top,
    Bottom,
    Select,
    Copy,
    Back,
}

#[rustfmt::skip]
pub const SCROLL_KEYS: &[ModeKey<Scroll>] = &[
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Scroll::LineUp, short: "↑↓/j k line", describe: "a line up" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Scroll::LineDown, short: "", describe: "a line down" },
    ModeKey { keys: &[plain(KeyCode::PageUp), ch('b')], action: Scroll::PageUp, short: "PgUp/PgDn page", describe: "a page up" },
    ModeKey { keys: &[plain(KeyCode::PageDown), ch('f'), ch(' ')], action: Scroll::PageDown, short: "", describe: "a page down" },
    ModeKey { keys: &[ctrl('u')], action: Scroll::HalfPageUp, short: "", describe: "half a page up" },
    ModeKey { keys: &[ctrl('d')], action: Scroll::HalfPageDown, short: "", describe: "half a page down" },
    ModeKey { keys: &[ch('g'), plain(KeyCode::Home)], action: Scroll::Top, short: "g/G top/bottom", describe: "the oldest line" },
    ModeKey { keys: &[ch('G'), plain(KeyCode::End)], action: Scroll::Bottom, short: "", describe: "the live screen" },
    ModeKey { keys: &[ch('v')], action: Scroll::Select, short: "v select", describe: "start or clear a selection" },
    ModeKey { keys: &[ch('y'), plain(KeyCode::Enter)], action: Scroll::Copy, short: "y copy", describe: "copy the line or selection (OSC 52) and leave" },
    ModeKey { keys: &[ch('q'), plain(KeyCode::Esc)], action: Scroll::Back, short: "q/Esc back", describe: "back to the live screen" },
];

/// A pane whose session ended, or whose bottle was found running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    NewSession,
    Stop,
}

#[rustfmt::skip]
pub const ENDED_KEYS: &[ModeKey<Ended>] = &[
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Ended::NewSession, short: "Enter restart", describe: "attach, starting the agent again if it exited (continuing its conversation)" },
    ModeKey { keys: &[ch('x')], action: Ended::Stop, short: "x stop", describe: "stop the bottle (a failed launch: dismiss it)" },
];

impl<A> ModeKey<A> {
    /// How help lists the keys: `↑ k`.
    pub fn label(&self) -> String {
        let labels: Vec<String> = self.keys.iter().map(Key::label).collect();
        labels.join(" ")
    }
}

/// A scrollable text dialog: the preflight (which asks y/N) and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Yes,
    No,
    LineDown,
    LineUp,
    PageDown,
    PageUp,
    Top,
    Bottom,
}

#[rustfmt::skip]
pub const PREFLIGHT_KEYS: &[ModeKey<Text>] = &[
    ModeKey { keys: &[ch('y'), ch('Y')], action: Text::Yes, short: "y launch", describe: "launch the bottle" },
    ModeKey { keys: &[ch('n'), ch('N'), plain(KeyCode::Esc), ch('q')], action: Text::No, short: "n/Esc cancel", describe: "cancel" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Text::LineDown, short: "↑↓ PgUp PgDn scroll", describe: "a line down" },
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Text::LineUp, short: "", describe: "a line up" },
    ModeKey { keys: &[plain(KeyCode::PageDown), ch(' ')], action: Text::PageDown, short: "", describe: "a page down" },
    ModeKey { keys: &[plain(KeyCode::PageUp)], action: Text::PageUp, short: "", describe: "a page up" },
    ModeKey { keys: &[ch('g'), plain(KeyCode::Home)], action: Text::Top, short: "", describe: "the top" },
    ModeKey { keys: &[ch('G'), plain(KeyCode::End)], action: Text::Bottom, short: "", describe: "the end" },
];

#[rustfmt::skip]
pub const HELP_KEYS: &[ModeKey<Text>] = &[
    ModeKey { keys: &[plain(KeyCode::Esc), ch('q'), plain(KeyCode::Enter)], action: Text::No, short: "Esc close", describe: "close" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Text::LineDown, short: "↑↓ scroll", describe: "a line down" },
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Text::LineUp, short: "", describe: "a line up" },
    ModeKey { keys: &[plain(KeyCode::PageDown), ch(' ')], action: Text::PageDown, short: "", describe: "a page down" },
    ModeKey { keys: &[plain(KeyCode::PageUp)], action: Text::PageUp, short: "", describe: "a page up" },
    ModeKey { keys: &[ch('g'), plain(KeyCode::Home)], action: Text::Top, short: "", describe: "the top" },
    ModeKey { keys: &[ch('G'), plain(KeyCode::End)], action: Text::Bottom, short: "", describe: "the end" },
];

/// A proposal from an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decide {
    Approve,
    Modify,
    Reject,
    Later,
    /// A held push's diff, in the review view.
    Review,
    LineDown,
    LineUp,
}

#[rustfmt::skip]
pub const PROPOSAL_KEYS: &[ModeKey<Decide>] = &[
    ModeKey { keys: &[ch('a')], action: Decide::Approve, short: "a approve", describe: "approve" },
    ModeKey { keys: &[ch('m')], action: Decide::Modify, short: "m modify in $EDITOR", describe: "modify the request in $EDITOR, then approve it" },
    ModeKey { keys: &[ch('r')], action: Decide::Reject, short: "r reject", describe: "reject, with a reason the agent is told" },
    ModeKey { keys: &[plain(KeyCode::Esc), ch('q')], action: Decide::Later, short: "Esc decide later", describe: "decide later (it stays pending)" },
    ModeKey { keys: &[ch('v')], action: Decide::Review, short: "", describe: "a held push: its diff in the review view (q comes back)" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Decide::LineDown, short: "", describe: "a line down" },
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Decide::LineUp, short: "", describe: "a line up" },
];

/// The network view (`C-b t`): the focused bottle's egress log, live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Up,
    Down,
    PageUp,
    PageDown,
    Oldest,
    Newest,
    BlockedOnly,
    Filter,
    Allow,
    Close,
}

#[rustfmt::skip]
pub const NETWORK_KEYS: &[ModeKey<Net>] = &[
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Net::Up, short: "↑↓ select", describe: "the request before" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Net::Down, short: "", describe: "the request after" },
    ModeKey { keys: &[plain(KeyCode::PageUp)], action: Net::PageUp, short: "", describe: "a page up" },
    ModeKey { keys: &[plain(KeyCode::PageDown), ch(' ')], action: Net::PageDown, short: "", describe: "a page down" },
    ModeKey { keys: &[ch('g'), plain(KeyCode::Home)], action: Net::Oldest, short: "", describe: "the oldest request" },
    ModeKey { keys: &[ch('G'), plain(KeyCode::End)], action: Net::Newest, short: "", describe: "the newest request, following new ones" },
    ModeKey { keys: &[ch('b')], action: Net::BlockedOnly, short: "b blocked only", describe: "show only refused requests, or all" },
    ModeKey { keys: &[ch('/')], action: Net::Filter, short: "/ host", describe: "filter by host (type part of it)" },
    ModeKey { keys: &[ch('a')], action: Net::Allow, short: "a allow", describe: "on a refused request: propose allowing its host (and path), to approve as any proposal" },
    ModeKey { keys: &[plain(KeyCode::Esc), ch('q')], action: Net::Close, short: "Esc close", describe: "close" },
];

/// The review view (`C-b v`): the focused agent's work, live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rev {
    LineUp,
    LineDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextFile,
    PrevFile,
    Take,
    Apply,
    Close,
}

#[rustfmt::skip]
pub const REVIEW_KEYS: &[ModeKey<Rev>] = &[
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Rev::LineUp, short: "", describe: "a line up" },
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Rev::LineDown, short: "↑↓ PgUp PgDn scroll", describe: "a line down" },
    ModeKey { keys: &[plain(KeyCode::PageUp), ch('b')], action: Rev::PageUp, short: "", describe: "a page up" },
    ModeKey { keys: &[plain(KeyCode::PageDown), ch(' '), ch('f')], action: Rev::PageDown, short: "", describe: "a page down" },
    ModeKey { keys: &[ch('g'), plain(KeyCode::Home)], action: Rev::Top, short: "", describe: "the top" },
    ModeKey { keys: &[ch('G'), plain(KeyCode::End)], action: Rev::Bottom, short: "", describe: "the end" },
    ModeKey { keys: &[ch('n'), plain(KeyCode::Tab)], action: Rev::NextFile, short: "n/N file", describe: "the next file's diff" },
    ModeKey { keys: &[ch('N'), plain(KeyCode::BackTab)], action: Rev::PrevFile, short: "", describe: "the previous file's diff" },
    ModeKey { keys: &[ch('t')], action: Rev::Take, short: "t take", describe: "take the work as a branch of your repository (bb take)" },
    ModeKey { keys: &[ch('a')], action: Rev::Apply, short: "a apply", describe: "apply the changes to your files (bb apply; asks first)" },
    ModeKey { keys: &[plain(KeyCode::Esc), ch('q')], action: Rev::Close, short: "Esc close", describe: "close" },
];

/// Asked to apply an agent's changes to the user's files.
#[rustfmt::skip]
pub const CONFIRM_APPLY_KEYS: &[ModeKey<Confirm>] = &[
    ModeKey { keys: &[ch('y'), ch('Y')], action: Confirm::Yes, short: "y apply", describe: "apply them (three ways; nothing changes on a conflict)" },
    ModeKey { keys: &[ch('n'), ch('N'), plain(KeyCode::Esc)], action: Confirm::No, short: "n/Esc not now", describe: "back to the review" },
];

#[rustfmt::skip]
pub const HOST_FILTER_KEYS: &[ModeKey<Input>] = &[
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Input::Submit, short: "type a host · Enter keep", describe: "keep this filter" },
    ModeKey { keys: &[plain(KeyCode::Esc)], action: Input::Cancel, short: "Esc clear", describe: "clear the filter" },
    ModeKey { keys: &[plain(KeyCode::Backspace)], action: Input::Erase, short: "", describe: "erase the last character" },
];

/// The agent picker and the backend choice. In the agent picker, typed
/// characters that are not in these tables filter the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Down,
    Up,
    Choose,
    /// Clear the filter, or close when there is none.
    Back,
    Close,
    Erase,
    /// Start typing a filter, so that j and k filter too.
    Filter,
}

#[rustfmt::skip]
pub const PICKER_KEYS: &[ModeKey<Pick>] = &[
    ModeKey { keys: &[plain(KeyCode::Down), ctrl('j'), ctrl('n')], action: Pick::Down, short: "↑↓/j k move", describe: "the next agent" },
    ModeKey { keys: &[plain(KeyCode::Up), ctrl('k'), ctrl('p')], action: Pick::Up, short: "", describe: "the previous agent" },
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Pick::Choose, short: "Enter choose", describe: "choose it" },
    ModeKey { keys: &[plain(KeyCode::Esc)], action: Pick::Back, short: "Esc clear, then close", describe: "clear the filter; with none, close" },
    ModeKey { keys: &[ctrl('c')], action: Pick::Close, short: "", describe: "close" },
    ModeKey { keys: &[plain(KeyCode::Backspace)], action: Pick::Erase, short: "", describe: "erase the filter's last character" },
];

/// The agent picker's keys while its filter is empty (once it is not, these
/// characters filter).
#[rustfmt::skip]
pub const PICKER_BROWSE_KEYS: &[ModeKey<Pick>] = &[
    ModeKey { keys: &[ch('j')], action: Pick::Down, short: "", describe: "the next agent (while the filter is empty)" },
    ModeKey { keys: &[ch('k')], action: Pick::Up, short: "", describe: "the previous agent (while the filter is empty)" },
    ModeKey { keys: &[ch('/')], action: Pick::Filter, short: "/ filter on j,k", describe: "type a filter in which j and k are letters too" },
];

#[rustfmt::skip]
pub const BACKEND_KEYS: &[ModeKey<Pick>] = &[
    ModeKey { keys: &[plain(KeyCode::Down), ch('j')], action: Pick::Down, short: "↑↓ choose a backend", describe: "the next backend" },
    ModeKey { keys: &[plain(KeyCode::Up), ch('k')], action: Pick::Up, short: "", describe: "the previous backend" },
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Pick::Choose, short: "Enter continue", describe: "launch on it (the preflight comes first)" },
    ModeKey { keys: &[plain(KeyCode::Esc)], action: Pick::Close, short: "Esc cancel", describe: "cancel" },
];

/// A yes-or-no question (stopping a bottle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Yes,
    No,
}

#[rustfmt::skip]
pub const CONFIRM_STOP_KEYS: &[ModeKey<Confirm>] = &[
    ModeKey { keys: &[ch('y'), ch('Y')], action: Confirm::Yes, short: "y stop the bottle", describe: "stop the bottle" },
    ModeKey { keys: &[ch('n'), ch('N'), plain(KeyCode::Esc), plain(KeyCode::Enter)], action: Confirm::No, short: "n/Esc keep it", describe: "keep it running" },
];

/// A program asked to put text on the operator's clipboard.
#[rustfmt::skip]
pub const CLIPBOARD_KEYS: &[ModeKey<Confirm>] = &[
    ModeKey { keys: &[ch('y'), ch('Y')], action: Confirm::Yes, short: "y copy it", describe: "put it on your clipboard" },
    ModeKey { keys: &[ch('n'), ch('N'), plain(KeyCode::Esc)], action: Confirm::No, short: "n/Esc drop it", describe: "drop it; your clipboard stays as it is" },
];

/// A line of text being typed (a value the manifest asks for, a reason for
/// a rejection); other characters are the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Submit,
    Cancel,
    Erase,
}

#[rustfmt::skip]
pub const ASK_KEYS: &[ModeKey<Input>] = &[
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Input::Submit, short: "type the value · Enter next", describe: "take the value, then the next question or the launch" },
    ModeKey { keys: &[plain(KeyCode::Esc)], action: Input::Cancel, short: "Esc cancel the launch", describe: "cancel the launch" },
    ModeKey { keys: &[plain(KeyCode::Backspace)], action: Input::Erase, short: "", describe: "erase the last character" },
];

#[rustfmt::skip]
pub const REASON_KEYS: &[ModeKey<Input>] = &[
    ModeKey { keys: &[plain(KeyCode::Enter)], action: Input::Submit, short: "type the reason · Enter reject", describe: "reject with this reason" },
    ModeKey { keys: &[plain(KeyCode::Esc)], action: Input::Cancel, short: "Esc back", describe: "back to the proposal" },
    ModeKey { keys: &[plain(KeyCode::Backspace)], action: Input::Erase, short: "", describe: "erase the last character" },
];

/// A typed character for a text field: printable and without Ctrl.
pub fn typed(ev: &KeyEvent) -> Option<char> {
    match ev.code {
        KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => Some(c),
        _ => None,
    }
}

/// `table`'s footer words, joined.
pub fn mode_hints<A>(table: &[ModeKey<A>]) -> String {
    let parts: Vec<&str> = table
        .iter()
        .map(|m| m.short)
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(" · ")
}
