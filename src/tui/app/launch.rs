//! The new-agent flow (picker, backend, preflight, launch) and each
//! bottle's lifecycle: attaching, stopping, and what the backends report.

use std::time::Instant;

use super::{App, Effect, Entry, Phase};
use crate::backend::{ActiveBottle, Attach, BottleState, Place};
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
        // A bottle that pins its engine goes there, asked nothing.
        let pinned = self
            .picker_manifest
            .as_ref()
            .and_then(|m| m.agent(&agent).ok())
            .and_then(|(_, b)| b.engine.clone());
        if let Some(engine) = pinned {
            let place = Place {
                kind: BackendKind::Docker,
                engine,
            };
            self.modal = None;
            if self.backend_at(&place).is_none() {
                return self.error(format!(
                    "{agent}'s bottle runs on engine {}, which config.yaml `engines:` does not name",
                    place.engine
                ));
            }
            return self.preflight(&agent, place);
        }
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
            1 => {
                let place = self.usable[0].clone();
                self.preflight(&agent, place)
            }
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
    pub(super) fn on_usable(&mut self, places: Vec<Place>) {
        self.usable = places;
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
    pub(super) fn preflight(&mut self, agent: &str, place: Place) {
        let Some(manifest) = self.picker_manifest.clone() else {
            self.modal = None;
            return;
        };
        self.modal = None;
        self.info(format!("preparing the preflight of {agent}…"));
        self.effects.push(Effect::Preflight(Box::new(PreflightJob {
            manifest,
            agent: agent.to_string(),
            backend: place.kind,
            engine: (place.kind == BackendKind::Docker).then_some(place.engine),
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
        let place = match &plan.engine {
            Some(engine) => Some(Place {
                kind: plan.backend,
                engine: engine.clone(),
            }),
            None => self.default_place(plan.backend),
        };
        let Some(backend) = place.as_ref().and_then(|p| self.backend_at(p)) else {
            self.error(match &plan.engine {
                Some(e) => format!("engine {e} is not one bb is given (config.yaml `engines:`)"),
                None => format!("the {} backend is not available", plan.backend.name()),
            });
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
        entry.engine = backend.place().engine;
        entry.log = vec![format!(
            "launching {} in bottle {} ({})",
            plan.agent,
            plan.bottle,
            backend.place()
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
        let Some(backend) = self.backend_at(&active.place()) else {
            self.error(format!("{} is not a backend bb is given", active.place()));
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
        let place = e.place();
        let Some(backend) = self.backend_at(&place) else {
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
    pub(super) fn on_discovered(&mut self, place: Place, bottles: Vec<ActiveBottle>) {
        // Gone (stopped elsewhere, or removed): rows with nothing to show.
        let before = self.entries.len();
        let focused = self.focused().map(|e| e.slug.clone());
        self.entries.retain(|e| {
            e.place() != place
                // A live session keeps its row; one that ended with its
                // bottle does not.
                || e.session.as_ref().is_some_and(|s| s.exit.is_none())
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
            entry.engine = b.engine.clone();
            entry.active = Some(b);
            self.entries.push(entry);
            self.dirty = true;
        }
        if let Some(why) = self.unreachable.remove(&place) {
            let _ = why;
            self.info(format!("{place} answers again"));
        }
        self.back_again(&place);
        self.watch_bottles(&place);
        self.gather_proposals();
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

    /// A backend (an engine) does not answer: its bottles are unreachable,
    /// never gone; said once, until it answers again.
    pub(super) fn on_unreachable(&mut self, place: &Place, why: String) {
        let mut n = 0;
        for e in self.entries.iter_mut().filter(|e| e.place() == *place) {
            n += 1;
            if let Some(a) = &mut e.active {
                a.state = BottleState::Unreachable;
            }
            match &e.session {
                // A session whose connection died with the engine: back
                // when the engine is.
                Some(s) if s.exit.is_some() => {
                    e.reattach = true;
                    e.session = None;
                    e.phase = Phase::Unreachable;
                }
                // One that still runs may outlive a short cut.
                Some(_) => e.reattach = true,
                None if !matches!(e.phase, Phase::Launching | Phase::Stopping) => {
                    e.phase = Phase::Unreachable
                }
                None => {}
            }
        }
        if self
            .unreachable
            .insert(place.clone(), why.clone())
            .is_none()
        {
            self.error(format!(
                "{place} does not answer ({why}); its {n} bottle(s) show unreachable until it does"
            ));
        }
        self.dirty = true;
    }

    /// After an engine answers again: sessions lost to it are attached
    /// again.
    fn back_again(&mut self, place: &Place) {
        let again: Vec<usize> = self
            .entries
            .iter_mut()
            .enumerate()
            .filter(|(_, e)| e.place() == *place && e.reattach)
            .filter_map(|(i, e)| {
                let running = e
                    .active
                    .as_ref()
                    .is_some_and(|a| a.state == BottleState::Running);
                if !running {
                    return None;
                }
                e.reattach = false;
                let alive = e.session.as_ref().is_some_and(|s| s.exit.is_none());
                (!alive).then_some(i)
            })
            .collect();
        for i in again {
            if let Some(e) = self.entries.get_mut(i) {
                e.session = None;
                e.phase = Phase::Detached;
            }
            self.attach_at(i, Attach::Resume);
        }
    }

    /// Follow the state of every bottle at `place` (proposals, its audit
    /// log), each once; a bottle whose bundle is down is read again as it
    /// comes back.
    fn watch_bottles(&mut self, place: &Place) {
        let Some(backend) = self.backend_at(place) else {
            return;
        };
        for e in self.entries.iter_mut().filter(|e| e.place() == *place) {
            let reachable = e
                .active
                .as_ref()
                .is_some_and(|a| a.state != BottleState::Unreachable);
            if e.watched.is_some() || !reachable {
                continue;
            }
            let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            e.watched = Some(closed.clone());
            self.effects.push(Effect::WatchBottle {
                backend: backend.clone(),
                slug: e.slug.clone(),
                closed,
            });
        }
    }
}
