//! Each agent's state as its row and pane title show it (working, waiting
//! for you, idle, blocked, or where its bottle is), and the attention an
//! agent gets when it starts to need you while you look elsewhere.

use std::time::Instant;

use super::{App, Effect, Entry, Phase};
use crate::backend::BottleState;
use crate::session::activity::{Activity, BOTTOM_ROWS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Starting,
    Working,
    /// A question or permission dialog, a finished turn, or a bell.
    Waiting,
    Idle,
    /// A proposal of its waits for the operator, or egress refused what
    /// it needed (its screen shows the refusal and it went quiet).
    Blocked,
    Detached,
    Exited,
    /// The agent runs without its sidecar bundle.
    BundleDown,
    Failed,
    Stopping,
    Unreachable,
}

impl AgentState {
    pub fn label(self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Working => Activity::Working.label(),
            AgentState::Waiting => Activity::Waiting.label(),
            AgentState::Idle => Activity::Idle.label(),
            AgentState::Blocked => "blocked",
            AgentState::Detached => "detached",
            AgentState::Exited => "exited",
            AgentState::BundleDown => "bundle down",
            AgentState::Failed => "failed",
            AgentState::Stopping => "stopping",
            AgentState::Unreachable => "unreachable",
        }
    }

    /// Whether it is the operator's move.
    pub fn needs_you(self) -> bool {
        matches!(self, AgentState::Waiting | AgentState::Blocked)
    }
}

impl Entry {
    /// The state its row and title show: as last worked out by the
    /// workspace, or from its phase alone before that.
    pub fn state(&self) -> AgentState {
        self.shown
            .unwrap_or_else(|| self.phase_state(Activity::Idle))
    }

    fn phase_state(&self, activity: Activity) -> AgentState {
        // A dead bundle matters more than the agent's own state: the agent
        // has lost egress, its git gate and proposals.
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.state == BottleState::BundleDown)
        {
            return AgentState::BundleDown;
        }
        match &self.phase {
            Phase::Running => match activity {
                Activity::Working => AgentState::Working,
                Activity::Blocked => AgentState::Blocked,
                Activity::Waiting => AgentState::Waiting,
                Activity::Idle => AgentState::Idle,
            },
            Phase::Launching => AgentState::Starting,
            Phase::Exited(_) => AgentState::Exited,
            Phase::Detached => AgentState::Detached,
            Phase::Failed(_) => AgentState::Failed,
            Phase::Stopping => AgentState::Stopping,
            Phase::Unreachable => AgentState::Unreachable,
        }
    }
}

impl App {
    /// What `e` is doing now.
    pub fn agent_state(&self, e: &Entry, now: Instant) -> AgentState {
        let state = e.phase_state(e.activity.state(now));
        let live = matches!(
            state,
            AgentState::Working | AgentState::Waiting | AgentState::Idle | AgentState::Blocked
        );
        if live && self.proposals_for(&e.slug) > 0 {
            AgentState::Blocked
        } else {
            state
        }
    }

    /// Session `i` wrote output: read its screen and its calls.
    pub(super) fn observe(&mut self, i: usize, now: Instant) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        let Some(s) = &e.session else { return };
        let (bottom, calls, reported) = {
            let mut term = s.term.lock();
            (
                term.bottom_text(BOTTOM_ROWS),
                term.take_calls(),
                term.reported_state(),
            )
        };
        e.activity
            .output(now, &bottom, calls.any(), reported.as_deref());
        if let Some(text) = calls.notices.last() {
            e.notice = Some(text.clone());
        }
    }

    /// The user typed to the focused agent.
    pub(super) fn typed(&mut self) {
        let now = Instant::now();
        if let Some(e) = self.focused_mut() {
            e.activity.typed(now);
            e.notice = None;
        }
        self.refresh_states(now);
    }

    /// Recompute every agent's state; a change is drawn, and an agent that
    /// starts to need you while unfocused is marked and announced.
    pub(super) fn refresh_states(&mut self, now: Instant) {
        let states: Vec<AgentState> = self
            .entries
            .iter()
            .map(|e| self.agent_state(e, now))
            .collect();
        let mut called = Vec::new();
        let mut turned = Vec::new();
        for (i, (e, state)) in self.entries.iter_mut().zip(states).enumerate() {
            if e.shown == Some(state) {
                continue;
            }
            // A turn ended: its work is saved.
            if e.shown == Some(AgentState::Working)
                && matches!(
                    state,
                    AgentState::Waiting | AgentState::Idle | AgentState::Blocked
                )
            {
                turned.push(i);
            }
            e.shown = Some(state);
            self.dirty = true;
            if state.needs_you() && i != self.focus {
                e.attention = true;
                called.push((e.agent.clone(), state, e.notice.clone()));
            }
            if !state.needs_you() {
                e.attention = false;
            }
        }
        for i in turned {
            self.save_work(i);
        }
        let attention = self.config.attention;
        for (agent, state, notice) in called {
            if attention.bell {
                self.effects.push(Effect::Outer(b"\x07".to_vec()));
            }
            if attention.notify {
                let what = match (state, notice) {
                    (AgentState::Blocked, _) => {
                        "is blocked (a refusal, or a proposal for you)".to_string()
                    }
                    (_, Some(text)) => format!("is waiting for you: {text}"),
                    _ => "is waiting for you".to_string(),
                };
                self.effects
                    .push(Effect::Outer(desktop_notification(&agent, &what)));
            }
        }
    }

    /// When an agent's state may next change with nothing else happening.
    pub(super) fn next_state_change(&self, now: Instant) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| e.phase == Phase::Running)
            .filter_map(|e| e.activity.changes_at(now))
            .min()
    }

    /// Focus the next agent, after the focused one, that needs you.
    pub(super) fn next_waiting(&mut self) {
        let n = self.entries.len();
        // As the rows show it.
        let found = (1..=n)
            .map(|step| (self.focus + step) % n)
            .find(|&i| self.entries[i].state().needs_you());
        match found {
            Some(i) => self.set_focus(i),
            None => self.info("No agent is waiting for you"),
        }
    }
}

/// A desktop notification through the outer terminal: OSC 777 (urxvt,
/// foot, kitty, WezTerm, VTE terminals) and OSC 9 (iTerm2, Windows
/// Terminal, WezTerm); terminals ignore the kind they do not know.
pub fn desktop_notification(title: &str, body: &str) -> Vec<u8> {
    // Neither may carry the control bytes that would end the sequence
    // early (an agent's text is shown, never obeyed), nor the `;` that
    // separates OSC 777's fields.
    let clean = |s: &str| -> String {
        crate::shown::shown(s)
            .chars()
            .map(|c| if c == ';' { ',' } else { c })
            .take(200)
            .collect()
    };
    let (title, body) = (clean(&format!("bb: {title}")), clean(body));
    format!("\x1b]777;notify;{title};{body}\x1b\\\x1b]9;{title} {body}\x1b\\").into_bytes()
}
