//! Modals over the workspace: agent and backend pickers, preflight, stop
//! confirmation, proposals and help. Each is a small state machine here and
//! a drawing in the view.

pub mod picker;
pub mod proposal;

use crossterm::event::{KeyCode, KeyEvent};

use crate::plan::{BackendKind, BottlePlan};
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendChoice {
    pub agent: String,
    pub options: Vec<BackendKind>,
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

/// Scroll keys shared by text modals; y/n answer where asked.
pub fn text_key(scroll: &mut u16, lines: usize, key: &KeyEvent, answers: bool) -> TextOutcome {
    let max = lines.saturating_sub(1) as u16;
    match key.code {
        KeyCode::Char('y' | 'Y') if answers => return TextOutcome::Yes,
        KeyCode::Char('n' | 'N') if answers => return TextOutcome::No,
        KeyCode::Esc | KeyCode::Char('q') => return TextOutcome::No,
        KeyCode::Enter if !answers => return TextOutcome::No,
        KeyCode::Down | KeyCode::Char('j') => *scroll = (*scroll + 1).min(max),
        KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => *scroll = (*scroll + 10).min(max),
        KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
        KeyCode::Home | KeyCode::Char('g') => *scroll = 0,
        KeyCode::End | KeyCode::Char('G') => *scroll = max,
        _ => {}
    }
    TextOutcome::Stay
}
