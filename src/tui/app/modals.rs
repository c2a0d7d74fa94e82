//! Keys while a modal is open: picker, backend choice, preflight,
//! questions, stop confirmation, help and proposals.

use crossterm::event::KeyEvent;

use super::{App, Effect, Suspend};
use crate::supervise::Decision;
use crate::tui::keymap::{
    mode_action, typed, Confirm, Input, Pick, ASK_KEYS, BACKEND_KEYS, CLIPBOARD_KEYS,
    CONFIRM_STOP_KEYS, HELP_KEYS, PREFLIGHT_KEYS,
};
use crate::tui::modal::{
    picker::PickerOutcome, proposal::ProposalModal, proposal::ProposalOutcome, text_key, AskModal,
    Modal, NetworkOutcome, TextOutcome,
};

impl App {
    pub(super) fn on_modal_key(&mut self, key: KeyEvent) {
        let Some(modal) = self.modal.take() else {
            return;
        };
        self.modal = match modal {
            Modal::Picker(mut p) => match p.handle(&key) {
                PickerOutcome::Stay => Some(Modal::Picker(p)),
                PickerOutcome::Close => None,
                PickerOutcome::Chosen(agent) => {
                    self.choose_agent(agent);
                    self.modal.take()
                }
            },
            Modal::Backend(mut c) => {
                let n = c.options.len().max(1);
                match mode_action(BACKEND_KEYS, &key) {
                    Some(Pick::Close | Pick::Back) => None,
                    Some(Pick::Down) => {
                        c.selected = (c.selected + 1) % n;
                        Some(Modal::Backend(c))
                    }
                    Some(Pick::Up) => {
                        c.selected = (c.selected + n - 1) % n;
                        Some(Modal::Backend(c))
                    }
                    Some(Pick::Choose) => {
                        if let Some(place) = c.options.get(c.selected.min(n - 1)).cloned() {
                            self.preflight(&c.agent, place);
                        }
                        self.modal.take()
                    }
                    _ => Some(Modal::Backend(c)),
                }
            }
            Modal::Preflight(mut p) => {
                match text_key(&mut p.scroll, p.lines.len(), &key, PREFLIGHT_KEYS) {
                    TextOutcome::Stay => Some(Modal::Preflight(p)),
                    TextOutcome::No => {
                        self.info("launch cancelled");
                        None
                    }
                    TextOutcome::Yes => {
                        let questions = p.plan.questions();
                        if questions.is_empty() {
                            self.launch(p.plan);
                            None
                        } else {
                            Some(Modal::Ask(Box::new(AskModal {
                                plan: p.plan,
                                questions,
                                input: String::new(),
                            })))
                        }
                    }
                }
            }
            Modal::Review(mut v) => {
                use crate::tui::modal::review::ReviewOutcome;
                let closing = |v: &crate::tui::modal::review::ReviewView| {
                    v.closed.store(true, std::sync::atomic::Ordering::Relaxed)
                };
                match v.handle(&key) {
                    ReviewOutcome::Stay => Some(Modal::Review(v)),
                    // A held push's review goes back to its proposal.
                    ReviewOutcome::Close if v.push.is_some() => v
                        .push
                        .map(|p| Modal::Proposal(Box::new(ProposalModal::new(*p)))),
                    ReviewOutcome::Close => {
                        closing(&v);
                        None
                    }
                    ReviewOutcome::Take | ReviewOutcome::Apply if v.push.is_some() => {
                        self.error("a held push is approved or rejected from its proposal (q)");
                        Some(Modal::Review(v))
                    }
                    ReviewOutcome::Take => {
                        self.info(format!("taking the work of {}…", v.agent));
                        self.effects.push(Effect::TakeWork {
                            home: self.paths.home.clone(),
                            slug: v.slug.clone(),
                        });
                        Some(Modal::Review(v))
                    }
                    ReviewOutcome::Apply => {
                        self.info(format!("applying the work of {}…", v.agent));
                        self.effects.push(Effect::ApplyWork {
                            home: self.paths.home.clone(),
                            slug: v.slug.clone(),
                        });
                        Some(Modal::Review(v))
                    }
                }
            }
            Modal::Clipboard(ask) => match mode_action(CLIPBOARD_KEYS, &key) {
                Some(Confirm::Yes) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&ask.text);
                    self.effects
                        .push(Effect::Outer(super::osc52(b64.as_bytes())));
                    self.info(format!("copied what {} asked to your clipboard", ask.agent));
                    None
                }
                Some(Confirm::No) => {
                    self.info(format!("dropped; {} did not set your clipboard", ask.agent));
                    None
                }
                None => Some(Modal::Clipboard(ask)),
            },
            Modal::ConfirmStop { slug, agent } => match mode_action(CONFIRM_STOP_KEYS, &key) {
                Some(Confirm::Yes) => {
                    self.stop(&slug);
                    None
                }
                Some(Confirm::No) => None,
                None => Some(Modal::ConfirmStop { slug, agent }),
            },
            Modal::Ask(mut a) => match mode_action(ASK_KEYS, &key) {
                Some(Input::Cancel) => {
                    self.info("launch cancelled");
                    None
                }
                Some(Input::Submit) => {
                    let (name, _) = a.questions.remove(0);
                    let value = std::mem::take(&mut a.input);
                    a.plan.answer(&name, value);
                    if a.questions.is_empty() {
                        self.launch(a.plan);
                        None
                    } else {
                        Some(Modal::Ask(a))
                    }
                }
                Some(Input::Erase) => {
                    a.input.pop();
                    Some(Modal::Ask(a))
                }
                None => {
                    a.input.extend(typed(&key));
                    Some(Modal::Ask(a))
                }
            },
            Modal::Help { mut scroll } => {
                let lines = crate::tui::view::help::lines(&self.config.keymap).len();
                match text_key(&mut scroll, lines, &key, HELP_KEYS) {
                    TextOutcome::Stay => Some(Modal::Help { scroll }),
                    _ => None,
                }
            }
            Modal::Network(mut v) => match v.handle(&key) {
                NetworkOutcome::Stay => Some(Modal::Network(v)),
                NetworkOutcome::Close => None,
                NetworkOutcome::Allow(r) => {
                    self.allow_refused(&v.slug, &v.agent, &r);
                    // The proposal's approval, or the view if it cannot be.
                    self.modal.take().or(Some(Modal::Network(v)))
                }
            },
            Modal::Proposal(mut p) => match p.handle(&key) {
                ProposalOutcome::Stay => Some(Modal::Proposal(p)),
                ProposalOutcome::Close => None,
                ProposalOutcome::Approve => {
                    if let Err(why) = p.approvable() {
                        self.error(why);
                        Some(Modal::Proposal(p))
                    } else {
                        let request = p.proposal.request.clone();
                        self.decide(
                            &p.proposal,
                            Decision::Approved {
                                request,
                                note: None,
                            },
                        );
                        None
                    }
                }
                ProposalOutcome::Modify
                    if matches!(p.proposal.request, crate::supervise::Request::Push(_)) =>
                {
                    self.error("a held push is approved or rejected as it is");
                    Some(Modal::Proposal(p))
                }
                ProposalOutcome::Modify => {
                    self.effects
                        .push(Effect::Suspend(Suspend::EditProposal(p.proposal.clone())));
                    None
                }
                ProposalOutcome::Reject(reason) => {
                    self.decide(&p.proposal, Decision::Rejected { reason });
                    None
                }
                ProposalOutcome::Review => {
                    match crate::tui::modal::review::ReviewView::of_push(p.proposal.clone()) {
                        Some(v) => Some(Modal::Review(Box::new(v))),
                        None => {
                            self.info("only a held push has a diff to review here");
                            Some(Modal::Proposal(p))
                        }
                    }
                }
            },
        };
    }
}
