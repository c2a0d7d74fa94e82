//! Proposals: showing the next one, and carrying out the operator's
//! decision (applied by the run loop, then recorded for the agent).

use super::{App, Apply, Effect};
use crate::audit::Record;
use crate::manifest::Egress;
use crate::supervise::{Decision, Proposal, Request};
use crate::tui::event::{Edited, EgressEdit};
use crate::tui::modal::proposal::Live;
use crate::tui::modal::{network, Modal, NetworkView, ProposalModal};

impl App {
    /// The network view of the focused bottle: its log as read so far,
    /// then as it is read.
    pub(super) fn open_network(&mut self) {
        let Some(e) = self.focused_mut() else {
            self.info("no agent to show the network of");
            return;
        };
        e.refused = 0;
        let view = NetworkView::new(e.slug.clone(), e.agent.clone(), e.audit.clone());
        self.modal = Some(Modal::Network(Box::new(view)));
    }

    /// The review view of the focused agent's work: at once as last read,
    /// then read from its bottle while it is open.
    pub(super) fn open_review(&mut self) {
        let Some(e) = self.focused() else {
            self.info("no agent whose work to review");
            return;
        };
        let view = crate::tui::modal::review::ReviewView::new(
            e.slug.clone(),
            e.agent.clone(),
            e.work.clone(),
        );
        self.effects.push(Effect::WatchWork {
            backend: self.backend_at(&e.place()),
            home: self.paths.home.clone(),
            slug: e.slug.clone(),
            closed: view.closed.clone(),
        });
        self.modal = Some(Modal::Review(Box::new(view)));
    }

    /// An agent's work as read: kept for the next review, shown if its
    /// review is open.
    pub(super) fn on_work(&mut self, w: crate::tui::event::WorkRead) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.slug == w.slug) {
            if w.live || w.error.is_some() {
                e.saving = false;
            }
            if let Some(r) = &w.review {
                e.work = Some(r.clone());
            }
        }
        if let Some(Modal::Review(v)) = &mut self.modal {
            if v.slug == w.slug {
                v.update(w);
                self.dirty = true;
            }
        }
    }

    /// After a turn: the agent's work saved (nothing is lost if its
    /// container goes) and read, so its review opens at once.
    pub(super) fn save_work(&mut self, i: usize) {
        let Some(e) = self.entries.get(i) else {
            return;
        };
        let Some(backend) = self.backend_at(&e.place()) else {
            return;
        };
        if e.saving || !crate::work::Saved::at(&self.paths.home, &e.slug).exists() {
            return;
        }
        self.effects.push(Effect::SaveWork {
            backend,
            home: self.paths.home.clone(),
            slug: e.slug.clone(),
        });
        if let Some(e) = self.entries.get_mut(i) {
            e.saving = true;
        }
    }

    /// A bottle's state as read: its proposals replace what it had; what
    /// its egress logged is kept for the network view, and refusals after
    /// the first read (which holds its whole log) mark its row.
    pub(super) fn on_news(&mut self, slug: &str, news: crate::backend::BottleNews, first: bool) {
        let watching = matches!(&self.modal, Some(Modal::Network(v)) if v.slug == slug);
        let Some(e) = self.entries.iter_mut().find(|e| e.slug == slug) else {
            return;
        };
        let records: Vec<Record> = news
            .audit
            .into_iter()
            .filter_map(|l| match l {
                crate::audit::Line::Record(r) => Some(r),
                crate::audit::Line::Unreadable(_) => None,
            })
            .collect();
        if !first && !watching {
            e.refused += records
                .iter()
                .filter(|r| r.decision == crate::audit::Decision::Blocked)
                .count();
        }
        e.audit.extend(records.iter().cloned());
        if e.audit.len() > network::KEPT {
            let extra = e.audit.len() - network::KEPT;
            e.audit.drain(..extra);
        }
        let changed = e.proposals != news.proposals || !records.is_empty();
        e.proposals = news.proposals;
        if watching {
            if let Some(Modal::Network(v)) = &mut self.modal {
                v.add(records);
            }
        }
        self.gather_proposals();
        if changed {
            self.dirty = true;
        }
    }

    /// Every bottle's pending proposals, oldest first.
    pub(super) fn gather_proposals(&mut self) {
        let mut all: Vec<Proposal> = self
            .entries
            .iter()
            .flat_map(|e| e.proposals.iter().cloned())
            .collect();
        all.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        if all != self.proposals {
            self.proposals = all;
            self.dirty = true;
        }
    }

    /// The operator's own proposal to let a refused request through: filed
    /// in the bottle's queue as an agent's is, and opened for approval.
    pub(super) fn allow_refused(&mut self, slug: &str, agent: &str, r: &Record) {
        let req = match network::allowing(r) {
            Ok(req) => req,
            Err(why) => return self.error(why),
        };
        let p = network::proposal(slug, agent, r, req, crate::audit::now_ms());
        let Some(backend) = self.backend_of(slug) else {
            return self.error(format!("no backend runs {slug} now"));
        };
        self.effects.push(Effect::FileProposal {
            backend,
            proposal: p.clone(),
        });
        self.proposals.push(p.clone());
        self.show_proposal(p);
    }

    /// The approval of `p`; an egress request's change is shown against
    /// its bottle's live routes, read where egress reads them.
    fn show_proposal(&mut self, p: Proposal) {
        let mut modal = ProposalModal::new(p);
        if modal.live == Live::Reading {
            self.read_live_routes(&mut modal);
        }
        self.modal = Some(Modal::Proposal(Box::new(modal)));
    }

    /// Ask the bottle's backend for its live routes, for `modal`'s diff.
    /// A bottle not listed yet (bb just started) is asked for once it is.
    fn read_live_routes(&mut self, modal: &mut ProposalModal) {
        let slug = modal.proposal.slug.clone();
        let Some(entry) = self.entries.iter().find(|e| e.slug == slug) else {
            self.routes_wanted = Some(slug);
            return;
        };
        self.routes_wanted = None;
        match self.backend_at(&entry.place()) {
            Some(backend) if backend.applies_egress() => {
                self.effects.push(Effect::LoadRoutes { backend, slug })
            }
            // Approving records the decision and changes nothing.
            Some(_) => modal.without_live(),
            None => modal.with_live(Err(format!("no backend runs {slug} now"))),
        }
    }

    /// Bottles were listed: the approval on screen may have been waiting
    /// for its bottle, to read its routes.
    pub(super) fn read_wanted_routes(&mut self) {
        let Some(slug) = self.routes_wanted.clone() else {
            return;
        };
        if !self.entries.iter().any(|e| e.slug == slug) {
            return;
        }
        if let Some(Modal::Proposal(mut m)) = self.modal.take() {
            if m.proposal.slug == slug && m.live == Live::Reading {
                self.read_live_routes(&mut m);
            }
            self.modal = Some(Modal::Proposal(m));
        }
    }

    /// A bottle's live routes, read for the approval on screen.
    pub(super) fn on_live_routes(
        &mut self,
        slug: &str,
        routes: Result<Vec<bb_contract::egress::RouteConfig>, String>,
    ) {
        if let Some(Modal::Proposal(m)) = &mut self.modal {
            if m.proposal.slug == slug {
                m.with_live(routes);
                self.dirty = true;
            }
        }
    }

    pub(super) fn open_proposal(&mut self) {
        let slug = self.focused().map(|e| e.slug.clone());
        // The focused agent's first, else the oldest.
        let pick = self
            .proposals
            .iter()
            .find(|p| Some(&p.slug) == slug.as_ref())
            .or_else(|| self.proposals.first())
            .cloned();
        match pick {
            None => self.info("no pending proposals"),
            Some(p) => self.show_proposal(p),
        }
    }

    /// Record the operator's decision, applying it first where it changes
    /// the bottle; the supervise sidecar answers the agent from the record.
    pub fn decide(&mut self, p: &Proposal, decision: Decision) {
        self.proposals.retain(|q| q.id != p.id);
        if let Some(e) = self.entries.iter_mut().find(|e| e.slug == p.slug) {
            e.proposals.retain(|q| q.id != p.id);
        }
        let backend = self.backend_of(&p.slug);
        let apply = match &decision {
            Decision::Approved {
                request: Request::Credentialed { host, token_ref },
                ..
            } => {
                let Some(token) = token_ref.clone() else {
                    self.proposals.insert(0, p.clone());
                    self.error(
                        "pick the token first: m opens the request in $EDITOR to set token_ref",
                    );
                    return;
                };
                let Some(backend) = backend.filter(|b| b.applies_egress()) else {
                    self.proposals.insert(0, p.clone());
                    self.error("only a running Docker bottle's egress can be changed");
                    return;
                };
                self.info(format!("applying: {} {}", p.agent, p.request.summary()));
                Apply::Credentialed {
                    backend,
                    host: host.clone(),
                    token,
                }
            }
            Decision::Approved {
                request: Request::Capability { dockerfile },
                ..
            } => match backend.filter(|b| b.applies_capability()) {
                Some(backend) => Apply::Capability {
                    backend,
                    lines: dockerfile.clone(),
                },
                None => {
                    let reason = "capability changes (a rebuilt image) need the Docker backend; nothing was changed".to_string();
                    self.effects.push(Effect::Decide {
                        backend: self.backend_of(&p.slug),
                        proposal: p.clone(),
                        decision: Decision::Rejected {
                            reason: reason.clone(),
                        },
                        apply: Apply::Refused { reason },
                    });
                    return;
                }
            },
            Decision::Approved {
                request: Request::Egress(req),
                ..
            } => match backend.filter(|b| b.applies_egress()) {
                Some(backend) => {
                    self.info(format!("applying: {} {}", p.agent, p.request.summary()));
                    Apply::Egress {
                        backend,
                        req: req.clone(),
                    }
                }
                None => Apply::Nothing,
            },
            _ => Apply::Nothing,
        };
        self.effects.push(Effect::Decide {
            backend: self.backend_of(&p.slug),
            proposal: p.clone(),
            decision,
            apply,
        });
    }

    /// What the operator did in $EDITOR.
    pub(super) fn on_edited(&mut self, edited: Edited) {
        match edited {
            Edited::Proposal { proposal, result } => match result {
                Err(e) => self.error(format!("{e}; the proposal stays pending")),
                Ok(None) => self.info("modification cancelled; the proposal stays pending"),
                Ok(Some(request)) => self.decide(
                    &proposal,
                    Decision::Approved {
                        request,
                        note: Some("modified by the operator".into()),
                    },
                ),
            },
            Edited::Egress { slug, result } => match result {
                Err(e) => self.error(e),
                Ok(None) => self.info("egress unchanged"),
                Ok(Some(EgressEdit {
                    egress,
                    before,
                    after,
                })) => self.apply_egress_edit(&slug, egress, before, after),
            },
        }
    }

    /// Apply the operator's edit of a bottle's live egress, and log it.
    fn apply_egress_edit(&mut self, slug: &str, egress: Egress, before: String, after: String) {
        let Some(backend) = self.backend_of(slug) else {
            return;
        };
        self.info(format!("applying the edited egress of {slug}"));
        self.effects.push(Effect::EditEgress {
            backend,
            slug: slug.to_string(),
            egress: Box::new(egress),
            before,
            after,
        });
    }

    pub(super) fn on_decided(&mut self, outcome: Result<String, String>) {
        match outcome {
            Ok(text) => self.info(text),
            Err(text) => self.error(text),
        }
    }
}
