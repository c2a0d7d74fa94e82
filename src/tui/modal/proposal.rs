//! The proposal modal: what the agent asks for, why, and the exact change;
//! `a` approve, `m` modify in $EDITOR, `r` reject with a reason.

use crossterm::event::KeyEvent;

use crate::tui::keymap::{mode_action, typed, Decide, Input, PROPOSAL_KEYS, REASON_KEYS};

use crate::supervise::proposal::{diff_lines, merge_egress, route_lines, LiveRoute};
use crate::supervise::{Proposal, Request};

pub struct ProposalModal {
    pub proposal: Proposal,
    /// The change as a diff of the bottle's live routes (or the request).
    pub diff: Vec<String>,
    pub scroll: u16,
    /// Some while the operator types a rejection reason.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalOutcome {
    Stay,
    Close,
    Approve,
    Modify,
    Reject(String),
}

impl ProposalModal {
    pub fn new(proposal: Proposal, live: &[LiveRoute]) -> ProposalModal {
        let diff = match &proposal.request {
            Request::Egress(req) => {
                diff_lines(&route_lines(live), &route_lines(&merge_egress(live, req)))
            }
            Request::Credentialed { host, .. } => vec![
                format!("+ - host: {host}"),
                "+   auth: (you choose the token when approving)".to_string(),
            ],
            Request::Capability { dockerfile } => {
                dockerfile.lines().map(|l| format!("  {l}")).collect()
            }
            Request::Stuck { message } => message.lines().map(|l| format!("  {l}")).collect(),
        };
        ProposalModal {
            proposal,
            diff,
            scroll: 0,
            reason: None,
        }
    }

    pub fn handle(&mut self, key: &KeyEvent) -> ProposalOutcome {
        if let Some(reason) = &mut self.reason {
            match mode_action(REASON_KEYS, key) {
                Some(Input::Cancel) => self.reason = None,
                Some(Input::Submit) if !reason.trim().is_empty() => {
                    return ProposalOutcome::Reject(reason.trim().to_string())
                }
                Some(Input::Submit) => {}
                Some(Input::Erase) => {
                    reason.pop();
                }
                None => reason.extend(typed(key)),
            }
            return ProposalOutcome::Stay;
        }
        match mode_action(PROPOSAL_KEYS, key) {
            Some(Decide::Approve) => ProposalOutcome::Approve,
            Some(Decide::Modify) => ProposalOutcome::Modify,
            Some(Decide::Reject) => {
                self.reason = Some(String::new());
                ProposalOutcome::Stay
            }
            Some(Decide::Later) => ProposalOutcome::Close,
            Some(Decide::LineDown) => {
                self.scroll = self.scroll.saturating_add(1);
                ProposalOutcome::Stay
            }
            Some(Decide::LineUp) => {
                self.scroll = self.scroll.saturating_sub(1);
                ProposalOutcome::Stay
            }
            None => ProposalOutcome::Stay,
        }
    }
}
