//! The proposal modal: what the agent asks for, why, and the exact change;
//! `a` approve, `m` modify in $EDITOR, `r` reject with a reason.

use crossterm::event::KeyEvent;

use crate::tui::keymap::{mode_action, typed, Decide, Input, PROPOSAL_KEYS, REASON_KEYS};

use bb_contract::egress::RouteConfig;

use crate::supervise::proposal::egress_change;
use crate::supervise::{Proposal, Request};

pub struct ProposalModal {
    pub proposal: Proposal,
    /// The change as a diff of the bottle's live routes (or the request).
    pub diff: Vec<String>,
    pub scroll: u16,
    /// Some while the operator types a rejection reason.
    pub reason: Option<String>,
    /// An egress request can be approved only once its change is shown
    /// against the bottle's live routes; None while they are read, or why
    /// they could not be.
    pub live: Live,
}

/// Where the bottle's live routes are, for an egress request's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// Not an egress request: nothing to read.
    NotNeeded,
    Reading,
    Read,
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalOutcome {
    Stay,
    Close,
    Approve,
    Modify,
    Reject(String),
    /// A held push's diff, in the review view.
    Review,
}

/// A held push as the operator reviews it: where it goes, the refs it
/// updates, its commits, then their patch.
fn push_lines(p: &bb_contract::proposal::PushRequest) -> Vec<String> {
    let short = |s: &str| s.chars().take(10).collect::<String>();
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let mut out = vec![format!("  to {} ({})", p.remote, p.upstream)];
    for r in &p.refs {
        out.push(match (zero(&r.old), zero(&r.new)) {
            (true, _) => format!("  + {} (new) at {}", r.name, short(&r.new)),
            (_, true) => format!("  - {} (deleted)", r.name),
            _ => format!("  ~ {} {}..{}", r.name, short(&r.old), short(&r.new)),
        });
    }
    out.push(format!("  {} commit(s):", p.commits.len()));
    out.extend(
        p.commits
            .iter()
            .map(|c| format!("    {} {} ({})", short(&c.sha), c.subject, c.author)),
    );
    out.push(String::new());
    out.extend(p.patch.lines().map(|l| l.to_string()));
    if p.truncated {
        out.push("! the patch is cut here (too large to show whole)".into());
    }
    out
}

impl ProposalModal {
    /// The proposal, its change to be shown once the bottle's live routes
    /// are read (`with_live`).
    pub fn new(proposal: Proposal) -> ProposalModal {
        let (diff, live) = match &proposal.request {
            Request::Egress(_) => (
                vec!["  reading the bottle's live routes…".to_string()],
                Live::Reading,
            ),
            Request::Credentialed { host, .. } => (
                vec![
                    format!("+ - host: {host}"),
                    "+   auth: (you choose the token when approving)".to_string(),
                ],
                Live::NotNeeded,
            ),
            Request::Capability { dockerfile } => (
                dockerfile.lines().map(|l| format!("  {l}")).collect(),
                Live::NotNeeded,
            ),
            Request::Stuck { message } => (
                message.lines().map(|l| format!("  {l}")).collect(),
                Live::NotNeeded,
            ),
            Request::Push(push) => (push_lines(push), Live::NotNeeded),
        };
        ProposalModal {
            proposal,
            diff,
            scroll: 0,
            reason: None,
            live,
        }
    }

    /// The bottle's live routes as egress reads them (or why they could
    /// not be read): the diff is made from them.
    pub fn with_live(&mut self, routes: Result<Vec<RouteConfig>, String>) {
        let Request::Egress(req) = &self.proposal.request else {
            return;
        };
        match routes {
            Ok(routes) => {
                self.diff = egress_change(&routes, req);
                self.live = Live::Read;
            }
            Err(why) => {
                self.diff = vec![format!("! the bottle's live routes cannot be read: {why}")];
                self.live = Live::Unreadable(why);
            }
        }
    }

    /// The bottle's backend cannot change egress live: approving records
    /// the decision and changes nothing, so the request is shown alone.
    pub fn without_live(&mut self) {
        if let Request::Egress(req) = &self.proposal.request {
            self.diff = vec![
                format!("  asks for {} {}", req.host, req.path_allowlist.join(", ")),
                "  this bottle's backend does not change egress while it runs: approving records the decision".into(),
            ];
            self.live = Live::NotNeeded;
        }
    }

    /// Whether approving now would approve a change the operator has seen.
    pub fn approvable(&self) -> Result<(), String> {
        match &self.live {
            Live::NotNeeded | Live::Read => Ok(()),
            Live::Reading => Err("the bottle's live routes are still being read".into()),
            Live::Unreadable(why) => Err(format!(
                "cannot approve a change to routes that cannot be read ({why}); reject it or decide later"
            )),
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
            Some(Decide::Review) => ProposalOutcome::Review,
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
