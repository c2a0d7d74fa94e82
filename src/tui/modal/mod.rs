//! Modals over the workspace: agent and backend pickers, preflight, stop
//! confirmation, proposals and help. Each is a small state machine here and
//! a drawing in the view.

pub mod network;
pub mod picker;
pub mod proposal;
pub mod review;

use crossterm::event::KeyEvent;

use super::keymap::{mode_action, ModeKey, Text};

use crate::plan::BottlePlan;
pub use network::{NetworkOutcome, NetworkView};
pub use picker::{PickItem, Picker, PickerOutcome};
pub use proposal::ProposalModal;

pub enum Modal {
    Picker(Picker),
    Backend(BackendChoice),
    Preflight(Box<PreflightModal>),
    ConfirmStop {
        slug: String,
        agent: String,
    },
    Proposal(Box<ProposalModal>),
    Help {
        scroll: u16,
    },
    /// Env values the manifest asks for, one at a time, before launch.
    Ask(Box<AskModal>),
    /// One bottle's egress activity.
    Network(Box<NetworkView>),
    /// What a program asked to put on the clipboard, to allow or not.
    Clipboard(ClipboardAsk),
    /// An agent's work, live.
    Review(Box<review::ReviewView>),
}

/// A program's request (OSC 52) to set the operator's clipboard: never
/// passed on by itself, since whoever pastes it next would run what the
/// agent chose; shown whole, and put there only if the operator says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipboardAsk {
    pub agent: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendChoice {
    pub agent: String,
    pub options: Vec<crate::backend::Place>,
    pub selected: usize,
}

pub struct AskModal {
    pub plan: BottlePlan,
    /// (name, question) still to answer; the first is being asked.
    pub questions: Vec<(String, String)>,
    pub input: String,
}

pub struct PreflightModal {
    pub plan: BottlePlan,
    pub lines: Vec<String>,
    pub scroll: u16,
}

/// What a scrollable text modal does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOutcome {
    Stay,
    Yes,
    No,
}

/// A key in a scrollable text modal, by its table (the preflight's, which
/// answers y/N, or help's).
pub fn text_key(
    scroll: &mut u16,
    lines: usize,
    key: &KeyEvent,
    table: &'static [ModeKey<Text>],
) -> TextOutcome {
    let max = lines.saturating_sub(1) as u16;
    match mode_action(table, key) {
        Some(Text::Yes) => return TextOutcome::Yes,
        Some(Text::No) => return TextOutcome::No,
        Some(Text::LineDown) => *scroll = (*scroll + 1).min(max),
        Some(Text::LineUp) => *scroll = scroll.saturating_sub(1),
        Some(Text::PageDown) => *scroll = (*scroll + 10).min(max),
        Some(Text::PageUp) => *scroll = scroll.saturating_sub(10),
        Some(Text::Top) => *scroll = 0,
        Some(Text::Bottom) => *scroll = max,
        None => {}
    }
    TextOutcome::Stay
}
