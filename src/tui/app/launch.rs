//! The new-agent flow (picker, backend, preflight, launch) and each
//! bottle's lifecycle: attaching, stopping, and what the backends report.

use std::time::Instant;

use super::{App, Effect, Entry, Phase};
use crate::backend::{ActiveBottle, Attach, BottleState};
use crate::manifest::Manifest;
use crate::plan::{BackendKind, BottlePlan};
use crate::tui::effect::PreflightJob;
use crate::tui::event::{BottleMsg, PreflightReady};
use crate::tui::modal::{BackendChoice, Modal, PickItem, Picker, PreflightModal};

impl App {
    // ---- the new-agent flow: picker -> backend -> preflight -> launch ----

    pub(super) fn load_manifest_for_picker(&mut self) {
        let layout = crate::home::layout(&self.paths.home, &self.paths.cwd);
        self.effects.push(Effect::LoadManifest(layout));
    }

    pub(super) fn open_picker(&mut self, m: &Manifest) {
        if !m.home_exists {
            self.error(format!(
                "no manifest directory at {}: run `bb init` to write starter bottles and agents",
                self.paths.home.display()
            ));
            return;
        }
        if let Some(first) = m.errors.first() {
            let more = if m.errors.len() > 1 {
                format!(" (+{} more; `bb agents` lists them)", m.errors.len() - 1)
            } else {
                String::new()
            };
            self.error(format!("{first}{more}"));
        }
        let items: Vec<PickItem> = m
            .agents
            .values()
            .map(|a| PickItem {
                name: a.name.clone(),
                detail: format!(
                    "{} · {} · {}",
                    a.bottle,
                    m.bottles
                        .get(&a.bottle)
                        .map(|b| b.provider.template.name())
                        .unwrap_or("?"),
                    a.source.as_str()
                ),
                running: self.entries.iter().filter(|e| e.agent == a.name).count(),
            })
            .collect();
        if items.is_empty() {
            self.error(format!("no agents in {}/agents", self.paths.home.display()));
            return;
        }
        self.picker_manifest = Some(m.clone());
        self.modal = Some(Modal::Picker(Picker::new(items)));
        self.dirty = true;
    }

    pub(super) fn choose_agent(&mut self, agent: String) {
        if !self.checked && self.usable.is_empty() && !self.backends.is_empty() {
            // Chosen in the moment after bb opened: not "no backend".
            self.modal = None;
            self.info(format!("checking which backends can run {agent}…"));
            self.chosen = Some(agent);
            return;
        }
        match self.usable.len() {
            0 => {
                let reason = if self.backends.is_empty() {
                    "no backend is configured".to_string()
                } else {
                    "no backend can run bottles now (`bb doctor` says why)".to_string()
                };
                self.modal = None;
                self.error(reason);
            }
            1 => self.preflight(&agent, self.usable[0]),
            _ => {
                self.modal = Some(Modal::Backend(BackendChoice {
                    agent,
                    options: self.usable.clone(),
                    selected: 0,
                }))
            }
        }
    }

    /// The backends have answered: an agent chosen while they had not goes
    /// on, unless the operator has moved on to something else.
    pub(super) fn on_usable(&mut self, kinds: Vec<BackendKind>) {
        self.usable = kinds;
        self.checked = true;
        if let Some(agent) = self.chosen.take() {
            if self.modal.is_none() {
                self.status = None;
                self.choose_agent(agent);
            }
            self.dirty = true;
        }
    }

    /// Ask for the agent's plan, resolved and its workspace measured off
    /// the UI thread (a large workspace takes a while).
    pub(super) fn preflight(&mut self, agent: &str, backend: BackendKind) {
        let Some(manifest) = self.picker_manifest.clone() else {
            self.modal = None;
            return;
        };
        self.modal = None;
        self.info(format!("preparing the preflight of {agent}…"));
        self.effects.push(Effect::Preflight(Box::new(PreflightJob {
            manifest,
            agent: agent.to_string(),
            backend,
            cwd: self.paths.cwd.clone(),
            user_home: self.paths.user_home.clone(),
            bb_home: self.paths.home.clone(),
            upstream_ca: self.config.upstream_ca.clone(),
            workspace_limit_mb: self.config.workspace_limit_mb,
        })));
    }

    /// The preflight is ready: show it, unless the operator moved on to
    /// another dialog meanwhile.
    pub(super) fn open_preflight(&mut self, ready: Result<Box<PreflightReady>, String>) {
        self.dirty = true;
        match ready {
            Err(e) => self.error(e),
            Ok(_) if self.modal.is_some() => {}
            Ok(ready) => {
                let PreflightReady { plan, lines } = *ready;
                self.status = None;
                self.modal = Some(Modal::Preflight(Box::new(PreflightModal {
                    lines,
                    plan,
                    scroll: 0,
                })));
            }
        }
    }

    pub(super) fn launch(&mut self, plan: BottlePlan) {
        let Some(backend) = self.backend(plan.backend) else {
            self.error(format!(
                "the {} backend is not available",
                plan.backend.name()
            ));
            return;
        };
        let mut entry = Entry::new(
            plan.slug.clone(),
            plan.agent.clone(),
            plan.bottle.clone(),
            plan.backend,
            Phase::Launching,
            Some(plan.template),
        );
        entry.log = vec![format!(
            "launching {} in bottle {} ({})",
            plan.agent,
            plan.bottle,
            plan.backend.name()
        )];
        entry.launch_started = Some(Instant::now());
        self.entries.push(entry);
        self.set_focus(self.entries.len() - 1);
        let spec = self.spec();
        self.effects.push(Effect::Launch {
            backend,
            plan: Box::new(plan),
            spec,
        });
    }

    /// Start a new session in the focused bottle, continuing its last
    /// conversation when there is one.
    pub(super) fn reattach(&mut self) {
        self.attach_focused(Attach::Resume);
    }

    pub(super) fn attach_focused(&mut self, how: Attach) {
        self.attach_at(self.focus, how);
    }

    /// Start a session in entry `idx`'s bottle.
    pub(super) fn attach_at(&mut self, idx: usize, how: Attach) {
        let spec = self.spec();
        let Some(active) = self.entries.get(idx).and_then(|e| e.active.clone()) else {
            return;
        };
        let Some(backend) = self.backend(active.backend) else {
            self.error(format!(
                "the {} backend is not available",
                active.backend.name()
            ));
            return;
        };
        let e = &mut self.entries[idx];
        e.phase = Phase::Launching;
        e.log = vec![match how {
            Attach::Resume => format!(
                "attaching to {} (continuing the last conversation if there is one)",
                e.slug
            ),
            Attach::Fresh => format!("starting the agent in {}", e.slug),
        }];
        self.effects.push(Effect::Attach {
            backend,
            bottle: active,
            how,
            spec,
        });
    }

    pub(super) fn stop(&mut self, slug: &str) {
        let Some(e) = self.entries.iter_mut().find(|e| e.slug == slug) else {
            return;
        };
        e.phase = Phase::Stopping;
        if let Some(s) = &e.session {
            s.kill();
        }
        let kind = e.backend;
        let Some(backend) = self.backend(kind) else {
            return;
        };
        self.effects.push(Effect::Stop {
            backend,
            home: self.paths.home.clone(),
            slug: slug.to_string(),
        });
    }

    pub(super) fn on_bottle(&mut self, slug: &str, msg: BottleMsg) {
        self.dirty = true;
        let Some(idx) = self.entries.iter().position(|e| e.slug == slug) else {
            return;
        };
        match msg {
            BottleMsg::Progress(msg) => {
                let e = &mut self.entries[idx];
                // A build's steps replace each other: one line per image.
                let building = msg.building().map(String::from);
                if building.is_some() && building == e.log_building {
                    e.log.pop();
                }
                e.log.push(msg.to_string());
                e.log_building = building;
            }
            BottleMsg::Launched(active) => {
                let e = &mut self.entries[idx];
                e.log.push("bottle is up; starting the agent".into());
                e.active = Some(active);
            }
            BottleMsg::Attached(session) => {
                let (rows, cols) = self.pane_size();
                session.resize(rows, cols);
                let e = &mut self.entries[idx];
                e.session = Some(*session);
                e.phase = Phase::Running;
                e.log.clear();
                let agent = e.agent.clone();
                self.info(format!("{agent} is running ({slug})"));
            }
            BottleMsg::Failed(why) => {
                let e = &mut self.entries[idx];
                e.log.push(format!("failed: {why}"));
                e.phase = Phase::Failed(why.clone());
                let agent = e.agent.clone();
                self.error(format!("{agent}: {why}"));
            }
            BottleMsg::Stopped(saved) => {
                self.stopped.push(slug.to_string());
                let focused = self.focus == idx;
                self.entries.remove(idx);
                if self.focus >= self.entries.len() {
                    self.focus = self.entries.len().saturating_sub(1);
                } else if self.focus > idx {
                    self.focus -= 1;
                }
                if focused {
                    if let Some(e) = self.entries.get_mut(self.focus) {
                        e.unread = false;
                    }
                }
                match saved {
                    Some(line) => self.info(format!("stopped {slug}; {line}")),
                    None => self.info(format!("stopped {slug}")),
                }
            }
            BottleMsg::StopFailed(why) => {
                self.entries[idx].phase = Phase::Unreachable;
                self.error(format!("could not stop {slug}: {why}"));
            }
            BottleMsg::Rebuilding => {
                let e = &mut self.entries[idx];
                e.phase = Phase::Launching;
                e.log = vec![format!(
                    "rebuilding {}'s image with the approved change",
                    e.agent
                )];
            }
            BottleMsg::Rebuilt(Ok(())) => {
                self.info(format!("{slug} rebuilt; continuing the conversation"));
                self.attach_at(idx, Attach::Resume);
            }
            BottleMsg::Rebuilt(Err(why)) => {
                self.entries[idx].phase = Phase::Failed(why.clone());
                self.error(format!("rebuilding {slug} failed: {why}"));
            }
        }
    }

    /// What a backend reports about its bottles, at start and every few
    /// seconds: new ones are listed; for known ones the state is kept up to
    /// date (a dead agent or bundle shows on its row).
    pub(super) fn on_discovered(&mut self, kind: BackendKind, bottles: Vec<ActiveBottle>) {
        // Gone (stopped elsewhere, or removed): rows with nothing to show.
        let before = self.entries.len();
        let focused = self.focused().map(|e| e.slug.clone());
        self.entries.retain(|e| {
            e.backend != kind
                || e.session.is_some()
                || matches!(
                    e.phase,
                    Phase::Launching | Phase::Stopping | Phase::Failed(_)
                )
                || bottles.iter().any(|b| b.slug == e.slug)
        });
        if self.entries.len() != before {
            self.focus = focused
                .and_then(|s| self.entries.iter().position(|e| e.slug == s))
                .unwrap_or(0);
            self.dirty = true;
        }
        let mut news = Vec::new();
        for b in bottles {
            if self.stopped.contains(&b.slug) {
                continue;
            }
            let phase = match b.state {
                BottleState::Running | BottleState::Starting | BottleState::BundleDown => {
                    Phase::Detached
                }
                BottleState::AgentDown => Phase::Exited(None),
                BottleState::Unreachable => Phase::Unreachable,
            };
            if let Some(e) = self.entries.iter_mut().find(|e| e.slug == b.slug) {
                if e.active.as_ref().map(|a| a.state) != Some(b.state) {
                    self.dirty = true;
                    // Something died since the last look: say what, and
                    // how to get it back.
                    if let (Some(down), Some(_)) = (&b.down, &e.active) {
                        news.push(format!("{}: {down}", e.agent));
                    }
                }
                // A pane without a session shows the bottle as it is now.
                let idle = e.session.is_none()
                    && matches!(
                        e.phase,
                        Phase::Detached | Phase::Exited(_) | Phase::Unreachable
                    );
                if idle && e.phase != phase {
                    e.phase = phase;
                    self.dirty = true;
                }
                if e.phase != Phase::Launching {
                    e.active = Some(b);
                }
                continue;
            }
            let mut entry = Entry::new(
                b.slug.clone(),
                b.agent.clone(),
                b.bottle.clone(),
                b.backend,
                phase,
                b.template,
            );
            entry.active = Some(b);
            self.entries.push(entry);
            self.dirty = true;
        }
        for text in news {
            let key = self
                .config
                .keymap
                .chord(crate::tui::keymap::Action::Restart);
            self.error(format!("{text}; {key} restarts it"));
        }
        // `bb start` launched it just before: attach once it is listed.
        if let Some(i) = self
            .attach_on_discovery
            .as_ref()
            .and_then(|slug| self.entries.iter().position(|e| &e.slug == slug))
        {
            self.attach_on_discovery = None;
            self.set_focus(i);
            if self.entries[i].phase == Phase::Detached {
                self.attach_focused(Attach::Fresh);
            }
        }
    }
}
