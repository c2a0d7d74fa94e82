//! Keys while a modal is open: picker, backend choice, preflight,
//! questions, stop confirmation, help and proposals.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect, Suspend};
use crate::supervise::Decision;
use crate::tui::keymap::{HELP_KEYS, PREFLIGHT_KEYS};
use crate::tui::modal::{
    picker::PickerOutcome, proposal::ProposalOutcome, text_key, AskModal, Modal, TextOutcome,
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
            Modal::Backend(mut c) => match key.code {
                KeyCode::Esc => None,
                KeyCode::Down | KeyCode::Char('j') => {
                    c.selected = (c.selected + 1) % c.options.len().max(1);
                    Some(Modal::Backend(c))
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    c.selected = (c.selected + c.options.len().max(1) - 1) % c.options.len().max(1);
                    Some(Modal::Backend(c))
                }
                KeyCode::Enter => {
                    let kind = c.options[c.selected.min(c.options.len() - 1)];
                    self.preflight(&c.agent, kind);
                    self.modal.take()
                }
                _ => Some(Modal::Backend(c)),
            },
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
            Modal::ConfirmStop { slug, agent } => match key.code {
                KeyCode::Char('y' | 'Y') => {
                    self.stop(&slug);
                    None
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc | KeyCode::Enter => None,
                _ => Some(Modal::ConfirmStop { slug, agent }),
            },
            Modal::Ask(mut a) => match key.code {
                KeyCode::Esc => {
                    self.info("launch cancelled");
                    None
                }
                KeyCode::Enter => {
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
                KeyCode::Backspace => {
                    a.input.pop();
                    Some(Modal::Ask(a))
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    a.input.push(c);
                    Some(Modal::Ask(a))
                }
                _ => Some(Modal::Ask(a)),
            },
            Modal::Help { mut scroll } => {
                let lines = crate::tui::view::help::lines(&self.config.keymap).len();
                match text_key(&mut scroll, lines, &key, HELP_KEYS) {
                    TextOutcome::Stay => Some(Modal::Help { scroll }),
                    _ => None,
                }
            }
            Modal::Proposal(mut p) => match p.handle(&key) {
                ProposalOutcome::Stay => Some(Modal::Proposal(p)),
                ProposalOutcome::Close => None,
                ProposalOutcome::Approve => {
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
                ProposalOutcome::Modify => {
                    self.effects
                        .push(Effect::Suspend(Suspend::EditProposal(p.proposal.clone())));
                    None
                }
                ProposalOutcome::Reject(reason) => {
                    self.decide(&p.proposal, Decision::Rejected { reason });
                    None
                }
            },
        };
    }
}
