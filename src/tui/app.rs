//! The workspace's state and the one place it changes: [`App::update`].
//! Slow work (launching, stopping, attaching, reading manifests) runs in
//! tasks that report back as events; `update` never waits on I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use tokio::sync::mpsc::UnboundedSender;

use super::config::Config;
use super::event::{AppEvent, BottleMsg};
use super::input::{encode_key, encode_mouse, encode_paste, Modes};
use super::keymap::{Action, Resolved};
use super::modal::{
    picker::PickerOutcome, proposal::ProposalOutcome, text_key, AskModal, BackendChoice, Modal,
    PickItem, Picker, PreflightModal, ProposalModal, TextOutcome,
};
use super::view::layout::{layout, Layout};
use crate::backend::{ActiveBottle, Attach, BottleState, SessionSpec, SharedBackend};
use crate::manifest::Manifest;
use crate::plan::{self, BackendKind, BottlePlan};
use crate::session::{Notify, Session, SessionEvent, SessionId};
use crate::supervise::proposal::LiveRoute;
use crate::supervise::{Decision, EgressRequest, Proposal, Request};
use crate::system::SystemHost;

/// How long a run of resizes must settle before sessions are told.
pub const RESIZE_DEBOUNCE: Duration = Duration::from_millis(80);
/// How long an informational status message stays.
const STATUS_TTL: Duration = Duration::from_secs(6);

/// Where things are, for the workspace.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub cwd: PathBuf,
}

impl Paths {
    pub fn state_dir(&self) -> PathBuf {
        crate::home::state_dir(&self.home)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Being made; progress lines are in `Entry::log`.
    Launching,
    Running,
    /// The session ended with this code (None: unknown).
    Exited(Option<i32>),
    /// A bottle found running, with no session attached yet.
    Detached,
    Failed(String),
    Stopping,
    Unreachable,
}

impl Phase {
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Launching => "starting",
            Phase::Running => "running",
            Phase::Exited(_) => "exited",
            Phase::Detached => "detached",
            Phase::Failed(_) => "failed",
            Phase::Stopping => "stopping",
            Phase::Unreachable => "unreachable",
        }
    }
}

/// One agent's bottle in the list.
pub struct Entry {
    pub slug: String,
    pub agent: String,
    pub bottle: String,
    pub backend: BackendKind,
    pub phase: Phase,
    pub session: Option<Session>,
    pub active: Option<ActiveBottle>,
    /// Output arrived since the user last looked at this pane.
    pub unread: bool,
    /// Launch progress, or what went wrong.
    pub log: Vec<String>,
    /// The bottle's egress routes as last known, for proposal diffs.
    pub routes: Vec<LiveRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// Keyboard scrolling and copying in the focused pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrollMode {
    /// The highlighted row, in view coordinates.
    pub cursor: u16,
    /// Where a selection started, as an absolute line number.
    pub anchor: Option<usize>,
}

/// Work that needs the real terminal, done by the run loop between frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspend {
    /// Edit a proposal's request in $EDITOR, then apply it.
    EditProposal(Proposal),
    /// Edit a running bottle's live egress routes.
    EditEgress(String),
}

pub struct App {
    pub paths: Paths,
    pub config: Config,
    pub backends: Vec<SharedBackend>,
    /// Backends that answered they can run bottles.
    pub usable: Vec<BackendKind>,
    pub entries: Vec<Entry>,
    pub focus: usize,
    pub sidebar: bool,
    pub zoom: bool,
    pub armed: bool,
    pub scroll: Option<ScrollMode>,
    pub modal: Option<Modal>,
    pub status: Option<Status>,
    pub proposals: Vec<Proposal>,
    /// The terminal's size.
    pub area: Rect,
    pub quit: bool,
    pub dirty: bool,
    /// Bytes for the outer terminal (OSC 52 copies).
    pub outer: Vec<Vec<u8>>,
    pub suspend: Option<Suspend>,
    /// The manifest the open picker was built from.
    picker_manifest: Option<Manifest>,
    /// A bottle to focus and start a fresh session in once it is found
    /// (`bb start` launched it just before opening the workspace).
    pub attach_on_discovery: Option<String>,
    tx: UnboundedSender<AppEvent>,
    next_id: SessionId,
    resize_due: Option<Instant>,
    /// The size sessions were last given.
    session_size: (u16, u16),
}

impl App {
    pub fn new(
        paths: Paths,
        config: Config,
        backends: Vec<SharedBackend>,
        area: Rect,
        tx: UnboundedSender<AppEvent>,
    ) -> App {
        let mut app = App {
            paths,
            config,
            backends,
            usable: Vec::new(),
            entries: Vec::new(),
            focus: 0,
            sidebar: true,
            zoom: false,
            armed: false,
            scroll: None,
            modal: None,
            status: None,
            proposals: Vec::new(),
            area,
            quit: false,
            dirty: true,
            outer: Vec::new(),
            suspend: None,
            picker_manifest: None,
            attach_on_discovery: None,
            tx,
            next_id: 1,
            resize_due: None,
            session_size: (0, 0),
        };
        app.session_size = app.pane_size();
        app
    }

    pub fn layout(&self) -> Layout {
        layout(self.area, self.sidebar, self.zoom)
    }

    /// The size every session should have: the pane's inner area.
    pub fn pane_size(&self) -> (u16, u16) {
        let inner = self.layout().pane_inner;
        (inner.height.max(1), inner.width.max(1))
    }

    pub fn focused(&self) -> Option<&Entry> {
        self.entries.get(self.focus)
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
            at: Instant::now(),
        });
        self.dirty = true;
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            at: Instant::now(),
        });
        self.dirty = true;
    }

    fn notify(&self) -> Notify {
        let tx = self.tx.clone();
        Arc::new(move |e| {
            let _ = tx.send(AppEvent::Session(e));
        })
    }

    fn spec(&mut self) -> SessionSpec {
        let id = self.next_id;
        self.next_id += 1;
        let (rows, cols) = self.pane_size();
        SessionSpec {
            id,
            rows,
            cols,
            scrollback: self.config.scrollback,
            notify: self.notify(),
        }
    }

    fn backend(&self, kind: BackendKind) -> Option<SharedBackend> {
        self.backends.iter().find(|b| b.kind() == kind).cloned()
    }

    pub fn update(&mut self, ev: AppEvent) {
        match ev {
            AppEvent::Term(Event::Key(k)) if k.kind != KeyEventKind::Release => self.on_key(k),
            AppEvent::Term(Event::Paste(text)) => self.on_paste(&text),
            AppEvent::Term(Event::Mouse(m)) => self.on_mouse(m),
            AppEvent::Term(Event::Resize(w, h)) => {
                self.area = Rect::new(0, 0, w, h);
                self.request_resize();
            }
            AppEvent::Term(_) => {}
            AppEvent::Session(SessionEvent::Output(id)) => self.on_output(id),
            AppEvent::Session(SessionEvent::Exited(id, code)) => {
                if let Some(e) = self
                    .entries
                    .iter_mut()
                    .find(|e| e.session.as_ref().is_some_and(|s| s.id == id))
                {
                    if let Some(s) = &mut e.session {
                        s.exit = Some(code);
                    }
                    if e.phase == Phase::Running {
                        e.phase = Phase::Exited(code);
                    }
                    self.dirty = true;
                }
            }
            AppEvent::Bottle(slug, msg) => self.on_bottle(&slug, msg),
            AppEvent::Discovered(bottles) => self.on_discovered(bottles),
            AppEvent::Manifest(m) => self.open_picker(&m),
            AppEvent::Usable(kinds) => self.usable = kinds,
            AppEvent::Proposals(list) => {
                if list != self.proposals {
                    self.proposals = list;
                    self.dirty = true;
                }
            }
            AppEvent::Decided {
                slug,
                applied,
                outcome,
            } => self.on_decided(&slug, applied, outcome),
            AppEvent::Tick => self.on_tick(Instant::now()),
            AppEvent::Signal(_) => self.quit = true,
        }
    }

    fn on_tick(&mut self, now: Instant) {
        if self.resize_due.is_some_and(|due| now >= due) {
            self.resize_due = None;
            self.apply_resize();
        }
        if self
            .status
            .as_ref()
            .is_some_and(|s| !s.error && now.duration_since(s.at) > STATUS_TTL)
        {
            self.status = None;
            self.dirty = true;
        }
    }

    pub fn request_resize(&mut self) {
        self.resize_due = Some(Instant::now() + RESIZE_DEBOUNCE);
        self.dirty = true;
    }

    /// Give every session the pane's size; unchanged sizes are skipped.
    pub fn apply_resize(&mut self) {
        let (rows, cols) = self.pane_size();
        self.session_size = (rows, cols);
        for e in &self.entries {
            if let Some(s) = &e.session {
                s.resize(rows, cols);
            }
        }
        self.dirty = true;
    }

    fn on_output(&mut self, id: SessionId) {
        let focus = self.focus;
        let mut copies = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            let Some(s) = &e.session else { continue };
            if s.id != id {
                continue;
            }
            s.term.mark_seen();
            if let Some(data) = s.term.lock().take_clipboard() {
                copies.push(data);
            }
            if i != focus {
                e.unread = true;
            }
        }
        for data in copies {
            self.outer.push(osc52(&data));
        }
        self.dirty = true;
    }

    fn on_paste(&mut self, text: &str) {
        if let Some(Modal::Picker(p)) = &mut self.modal {
            p.filter.push_str(text.lines().next().unwrap_or(""));
            self.dirty = true;
            return;
        }
        if self.modal.is_some() {
            return;
        }
        if let Some(s) = self.focused().and_then(|e| e.session.as_ref()) {
            let modes = Modes::of(s.term.lock().screen());
            s.write(&encode_paste(text, modes));
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        self.dirty = true;
        if self.modal.is_some() {
            self.on_modal_key(key);
            return;
        }
        if self.scroll.is_some() {
            self.on_scroll_key(key);
            return;
        }
        let resolved = self.config.keymap.resolve(self.armed, &key);
        self.armed = false;
        match resolved {
            Resolved::Armed => self.armed = true,
            Resolved::Act(a) => self.act(a),
            Resolved::Unbound => {
                let prefix = self.config.keymap.prefix.label();
                let help = self.config.keymap.chord(Action::Help);
                self.error(format!(
                    "{prefix} {} is not bound; {help} lists bb's keys",
                    super::keymap::Key::of(&key).label()
                ));
            }
            Resolved::Forward => self.forward(key),
        }
    }

    /// A key for the focused pane: to the program, or to the exited-pane
    /// prompt.
    fn forward(&mut self, key: KeyEvent) {
        let Some(e) = self.focused() else {
            let chord = self.config.keymap.chord(Action::NewAgent);
            self.info(format!("No agent yet: {chord} starts one"));
            return;
        };
        match (&e.phase, &e.session) {
            (Phase::Running, Some(s)) => {
                let mut term = s.term.lock();
                if term.scroll_offset() > 0 {
                    term.scroll_to_live();
                }
                let modes = Modes::of(term.screen());
                drop(term);
                s.write(&encode_key(&key, modes));
            }
            (Phase::Exited(_) | Phase::Detached, _) => match key.code {
                KeyCode::Enter => self.reattach(),
                KeyCode::Char('x') => self.act(Action::StopAgent),
                _ => {}
            },
            (Phase::Failed(_), _) if key.code == KeyCode::Char('x') => self.remove_focused(),
            _ => {}
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::NewAgent => self.load_manifest_for_picker(),
            Action::StopAgent => {
                if let Some(e) = self.focused() {
                    if matches!(e.phase, Phase::Failed(_)) {
                        self.remove_focused();
                    } else {
                        self.modal = Some(Modal::ConfirmStop {
                            slug: e.slug.clone(),
                            agent: e.agent.clone(),
                        });
                    }
                }
            }
            Action::Zoom => {
                self.zoom = !self.zoom;
                self.request_resize();
            }
            Action::ToggleSidebar => {
                self.sidebar = !self.sidebar;
                self.request_resize();
            }
            Action::Proposals => self.open_proposal(),
            Action::ScrollMode => {
                if self.focused().is_some_and(|e| e.session.is_some()) {
                    let rows = self.pane_size().0;
                    self.scroll = Some(ScrollMode {
                        cursor: rows.saturating_sub(1),
                        anchor: None,
                    });
                }
            }
            Action::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            Action::Leave => self.quit = true,
            Action::EditEgress => match self.focused() {
                Some(e)
                    if self.backend(e.backend).is_some_and(|b| b.applies_egress())
                        && e.active.is_some() =>
                {
                    self.suspend = Some(Suspend::EditEgress(e.slug.clone()));
                }
                Some(_) => self.error("only a running Docker bottle's egress can be edited"),
                None => self.error("no agent to edit"),
            },
            Action::NextAgent => self.set_focus((self.focus + 1) % self.entries.len().max(1)),
            Action::PrevAgent => {
                let n = self.entries.len().max(1);
                self.set_focus((self.focus + n - 1) % n)
            }
            Action::Focus(i) => {
                if i < self.entries.len() {
                    self.set_focus(i)
                } else {
                    self.error(format!("no agent {}", i + 1));
                }
            }
            Action::SendPrefix => {
                let p = self.config.keymap.prefix;
                self.forward(KeyEvent::new(p.code, p.mods));
            }
        }
    }

    pub fn set_focus(&mut self, i: usize) {
        if i >= self.entries.len() {
            return;
        }
        self.focus = i;
        self.scroll = None;
        self.entries[i].unread = false;
        self.dirty = true;
    }

    fn remove_focused(&mut self) {
        if self.focus < self.entries.len() {
            self.entries.remove(self.focus);
            if self.focus >= self.entries.len() {
                self.focus = self.entries.len().saturating_sub(1);
            }
            if let Some(e) = self.entries.get_mut(self.focus) {
                e.unread = false;
            }
        }
    }

    // ---- the new-agent flow: picker -> backend -> preflight -> launch ----

    fn load_manifest_for_picker(&mut self) {
        let tx = self.tx.clone();
        let layout = crate::home::layout(&self.paths.home, &self.paths.cwd);
        tokio::task::spawn_blocking(move || {
            let m = crate::manifest::load(&layout);
            let _ = tx.send(AppEvent::Manifest(Box::new(m)));
        });
    }

    fn open_picker(&mut self, m: &Manifest) {
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

    fn choose_agent(&mut self, agent: String) {
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
            1 => self.open_preflight(&agent, self.usable[0]),
            _ => {
                self.modal = Some(Modal::Backend(BackendChoice {
                    agent,
                    options: self.usable.clone(),
                    selected: 0,
                }))
            }
        }
    }

    fn open_preflight(&mut self, agent: &str, backend: BackendKind) {
        let Some(m) = self.picker_manifest.clone() else {
            self.modal = None;
            return;
        };
        match m.agent(agent) {
            Err(e) => {
                self.modal = None;
                self.error(e.to_string().lines().next().unwrap_or("").to_string());
            }
            Ok((a, b)) => {
                let host = SystemHost {
                    cwd: self.paths.cwd.clone(),
                    home: self.paths.user_home.clone(),
                };
                let mut plan = plan::resolve(a, b, &host, backend, &plan::random_suffix())
                    .with_upstream_ca(
                        self.config
                            .upstream_ca
                            .iter()
                            .map(|f| plan::expand_path(&host, f))
                            .collect(),
                    );
                if let Some(dir) = crate::workspace::choose(&self.paths.cwd, &self.paths.user_home)
                {
                    match crate::workspace::measure(&dir, self.config.workspace_limit_mb) {
                        Ok(ws) => plan = plan.with_workspace(ws),
                        Err(e) => {
                            self.modal = None;
                            self.error(e.to_string());
                            return;
                        }
                    }
                }
                let text = crate::preflight::to_text(&plan, &self.paths.user_home);
                self.modal = Some(Modal::Preflight(Box::new(PreflightModal {
                    lines: text.lines().map(String::from).collect(),
                    plan,
                    scroll: 0,
                })));
            }
        }
    }

    fn launch(&mut self, plan: BottlePlan) {
        let Some(backend) = self.backend(plan.backend) else {
            self.error(format!(
                "the {} backend is not available",
                plan.backend.name()
            ));
            return;
        };
        let slug = plan.slug.clone();
        self.entries.push(Entry {
            slug: slug.clone(),
            agent: plan.agent.clone(),
            bottle: plan.bottle.clone(),
            backend: plan.backend,
            phase: Phase::Launching,
            session: None,
            active: None,
            unread: false,
            log: vec![format!(
                "launching {} in bottle {} ({})",
                plan.agent,
                plan.bottle,
                plan.backend.name()
            )],
            routes: crate::supervise::proposal::live_routes(&plan),
        });
        self.set_focus(self.entries.len() - 1);
        let spec = self.spec();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let (ptx, forward) = forward_progress(&tx, &slug);
            let send = |m| {
                let _ = tx.send(AppEvent::Bottle(slug.clone(), m));
            };
            match backend.launch(&plan, ptx).await {
                Err(e) => send(BottleMsg::Failed(e.to_string())),
                Ok(active) => {
                    send(BottleMsg::Launched(active.clone()));
                    match backend.attach(&active, Attach::Fresh, spec).await {
                        Ok(s) => send(BottleMsg::Attached(Box::new(s))),
                        Err(e) => send(BottleMsg::Failed(e.to_string())),
                    }
                }
            }
            let _ = forward.await;
        });
    }

    /// Start a new session in the focused bottle, continuing its last
    /// conversation when there is one.
    fn reattach(&mut self) {
        self.attach_focused(Attach::Resume);
    }

    fn attach_focused(&mut self, how: Attach) {
        self.attach_at(self.focus, how);
    }

    /// Start a session in entry `idx`'s bottle.
    fn attach_at(&mut self, idx: usize, how: Attach) {
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
        let tx = self.tx.clone();
        let slug = e.slug.clone();
        tokio::spawn(async move {
            let msg = match backend.attach(&active, how, spec).await {
                Ok(s) => BottleMsg::Attached(Box::new(s)),
                Err(e) => BottleMsg::Failed(e.to_string()),
            };
            let _ = tx.send(AppEvent::Bottle(slug, msg));
        });
    }

    /// An approved capability change: answer the agent (its session is
    /// about to end), rebuild, then continue the conversation in a new one.
    fn rebuild(&mut self, p: &Proposal, decision: Decision, lines: String) {
        let state = self.paths.state_dir();
        let Some(idx) = self.entries.iter().position(|e| e.slug == p.slug) else {
            return;
        };
        let backend = self
            .backend(self.entries[idx].backend)
            .filter(|b| b.applies_capability());
        let Some(backend) = backend else {
            let reason =
                "capability changes (a rebuilt image) need the Docker backend; nothing was changed"
                    .to_string();
            let outcome = record(
                &state,
                p,
                &Decision::Rejected {
                    reason: reason.clone(),
                },
            );
            self.on_decided(&p.slug, None, outcome.and(Err(reason)));
            return;
        };
        if let Err(e) = record(&state, p, &decision) {
            self.error(e);
            return;
        }
        let e = &mut self.entries[idx];
        e.phase = Phase::Launching;
        e.log = vec![format!(
            "rebuilding {}'s image with the approved change",
            e.agent
        )];
        let (tx, slug) = (self.tx.clone(), p.slug.clone());
        tokio::spawn(async move {
            let (ptx, forward) = forward_progress(&tx, &slug);
            let result = backend
                .apply_capability(&slug, &lines, ptx)
                .await
                .map_err(|e| e.to_string());
            let _ = forward.await;
            let _ = tx.send(AppEvent::Bottle(slug, BottleMsg::Rebuilt(result)));
        });
    }

    fn stop(&mut self, slug: &str) {
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
        let tx = self.tx.clone();
        let slug = slug.to_string();
        tokio::spawn(async move {
            let msg = match backend.stop(&slug).await {
                Ok(()) => BottleMsg::Stopped,
                Err(e) => BottleMsg::StopFailed(e.to_string()),
            };
            let _ = tx.send(AppEvent::Bottle(slug, msg));
        });
    }

    fn on_bottle(&mut self, slug: &str, msg: BottleMsg) {
        self.dirty = true;
        let Some(idx) = self.entries.iter().position(|e| e.slug == slug) else {
            return;
        };
        match msg {
            BottleMsg::Progress(line) => self.entries[idx].log.push(line),
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
            BottleMsg::Stopped => {
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
                self.info(format!("stopped {slug}"));
            }
            BottleMsg::StopFailed(why) => {
                self.entries[idx].phase = Phase::Unreachable;
                self.error(format!("could not stop {slug}: {why}"));
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

    fn on_discovered(&mut self, bottles: Vec<ActiveBottle>) {
        for b in bottles {
            if self.entries.iter().any(|e| e.slug == b.slug) {
                continue;
            }
            let phase = match b.state {
                BottleState::Running | BottleState::Starting => Phase::Detached,
                BottleState::AgentDown => Phase::Exited(None),
                BottleState::Unreachable => Phase::Unreachable,
            };
            self.entries.push(Entry {
                slug: b.slug.clone(),
                agent: b.agent.clone(),
                bottle: b.bottle.clone(),
                backend: b.backend,
                phase,
                session: None,
                unread: false,
                log: Vec::new(),
                routes: Vec::new(),
                active: Some(b),
            });
        }
        if let Some(slug) = self.attach_on_discovery.take() {
            if let Some(i) = self.entries.iter().position(|e| e.slug == slug) {
                self.set_focus(i);
                if self.entries[i].phase == Phase::Detached {
                    self.attach_focused(Attach::Fresh);
                }
            }
        }
        self.dirty = true;
    }

    // ---- modals ----

    fn on_modal_key(&mut self, key: KeyEvent) {
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
                    self.open_preflight(&c.agent, kind);
                    self.modal.take()
                }
                _ => Some(Modal::Backend(c)),
            },
            Modal::Preflight(mut p) => match text_key(&mut p.scroll, p.lines.len(), &key, true) {
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
            },
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
                let lines = super::view::help::lines(&self.config.keymap).len();
                match text_key(&mut scroll, lines, &key, false) {
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
                    self.suspend = Some(Suspend::EditProposal(p.proposal.clone()));
                    None
                }
                ProposalOutcome::Reject(reason) => {
                    self.decide(&p.proposal, Decision::Rejected { reason });
                    None
                }
            },
        };
    }

    fn open_proposal(&mut self) {
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
            Some(p) => {
                let routes = self
                    .entries
                    .iter()
                    .find(|e| e.slug == p.slug)
                    .map(|e| e.routes.clone())
                    .unwrap_or_default();
                self.modal = Some(Modal::Proposal(Box::new(ProposalModal::new(p, &routes))));
            }
        }
    }

    /// Record the operator's decision; the supervise sidecar answers the
    /// agent from it.
    pub fn decide(&mut self, p: &Proposal, decision: Decision) {
        let state = self.paths.state_dir();
        self.proposals.retain(|q| q.id != p.id);
        if let Decision::Approved {
            request: Request::Credentialed { host, token_ref },
            ..
        } = &decision
        {
            let Some(token) = token_ref.clone() else {
                self.proposals.insert(0, p.clone());
                self.error("pick the token first: m opens the request in $EDITOR to set token_ref");
                return;
            };
            let host = host.clone();
            self.apply_credentialed(p, decision, &host, &token);
            return;
        }
        if let Decision::Approved {
            request: Request::Capability { dockerfile },
            ..
        } = &decision
        {
            let lines = dockerfile.clone();
            self.rebuild(p, decision, lines);
            return;
        }
        let live = self
            .entries
            .iter()
            .find(|e| e.slug == p.slug)
            .and_then(|e| self.backend(e.backend))
            .filter(|b| b.applies_egress());
        if let (
            Decision::Approved {
                request: Request::Egress(req),
                ..
            },
            Some(backend),
        ) = (&decision, live)
        {
            // Apply first, answer after: the agent's retry must find the route.
            self.info(format!("applying: {} {}", p.agent, p.request.summary()));
            let (tx, p, req) = (self.tx.clone(), p.clone(), req.clone());
            tokio::spawn(async move {
                let outcome = match backend.update_egress(&p.slug, &req).await {
                    Ok(()) => record(&state, &p, &decision),
                    Err(e) => Err(format!(
                        "could not apply {} for {}: {e}; the proposal stays pending",
                        p.request.summary(),
                        p.agent
                    )),
                };
                let _ = tx.send(AppEvent::Decided {
                    slug: p.slug.clone(),
                    applied: Some(req),
                    outcome,
                });
            });
            return;
        }
        let applied = match &decision {
            Decision::Approved {
                request: Request::Egress(req),
                ..
            } => Some(req.clone()),
            _ => None,
        };
        let outcome = record(&state, p, &decision);
        self.on_decided(&p.slug, applied, outcome);
    }

    /// Add a route carrying `token` (one the bottle holds) for `host`,
    /// then answer the agent.
    fn apply_credentialed(&mut self, p: &Proposal, decision: Decision, host: &str, token: &str) {
        use crate::backend::docker::live;
        let Some(backend) = self
            .entries
            .iter()
            .find(|e| e.slug == p.slug)
            .and_then(|e| self.backend(e.backend))
            .filter(|b| b.applies_egress())
        else {
            self.proposals.insert(0, p.clone());
            self.error("only a running Docker bottle's egress can be changed");
            return;
        };
        let mut config = match live::read_config(&self.paths.home, &p.slug) {
            Ok(c) => c,
            Err(e) => {
                self.error(e);
                return;
            }
        };
        let mut egress = live::config_to_egress(&config);
        egress.routes.retain(|r| r.host != host);
        let mut route = crate::manifest::Route::bare(host);
        route.auth = Some(crate::manifest::RouteAuth {
            scheme: crate::manifest::AuthScheme::Bearer,
            token_ref: token.to_string(),
        });
        egress.routes.push(route);
        if let Err(e) = live::egress_into_config(&mut config, &egress) {
            self.proposals.insert(0, p.clone());
            self.error(e);
            return;
        }
        let (tx, p, state) = (self.tx.clone(), p.clone(), self.paths.state_dir());
        self.info(format!("applying: {} {}", p.agent, p.request.summary()));
        tokio::spawn(async move {
            let outcome = match backend.replace_egress(&p.slug, config).await {
                Ok(()) => record(&state, &p, &decision),
                Err(e) => Err(format!(
                    "could not apply {}: {e}; the proposal stays pending",
                    p.request.summary()
                )),
            };
            let _ = tx.send(AppEvent::Decided {
                slug: p.slug.clone(),
                applied: None,
                outcome,
            });
        });
    }

    /// Apply the operator's edit of a bottle's live egress, and log it.
    pub fn apply_egress_edit(
        &mut self,
        slug: &str,
        config: serde_json::Value,
        before: String,
        after: String,
    ) {
        let Some(entry) = self.entries.iter_mut().find(|e| e.slug == slug) else {
            return;
        };
        let kind = entry.backend;
        entry.routes = crate::backend::docker::live::config_to_egress(&config)
            .routes
            .iter()
            .map(|r| LiveRoute {
                host: r.host.clone(),
                path_allowlist: r.path_allowlist.clone(),
                token_ref: r.auth.as_ref().map(|a| a.token_ref.clone()),
                tls_passthrough: r.tls_passthrough,
            })
            .collect();
        let Some(backend) = self.backend(kind) else {
            return;
        };
        let (tx, slug, state) = (self.tx.clone(), slug.to_string(), self.paths.state_dir());
        self.info(format!("applying the edited egress of {slug}"));
        tokio::spawn(async move {
            let outcome = match backend.replace_egress(&slug, config).await {
                Ok(()) => {
                    let line = serde_json::json!({
                        "time": crate::state::now_rfc3339(),
                        "slug": slug,
                        "decision": "edited",
                        "before": before,
                        "after": after,
                    });
                    let log = state.join(&slug).join("decisions.jsonl");
                    let _ = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log)
                        .and_then(|mut f| {
                            std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes())
                        });
                    Ok(format!("egress of {slug} updated and reloaded"))
                }
                Err(e) => Err(format!("could not apply the edit to {slug}: {e}")),
            };
            let _ = tx.send(AppEvent::Decided {
                slug,
                applied: None,
                outcome,
            });
        });
    }

    fn on_decided(
        &mut self,
        slug: &str,
        applied: Option<EgressRequest>,
        outcome: Result<String, String>,
    ) {
        match outcome {
            Ok(text) => {
                if let (Some(req), Some(e)) =
                    (applied, self.entries.iter_mut().find(|e| e.slug == slug))
                {
                    e.routes = crate::supervise::proposal::merge_egress(&e.routes, &req);
                }
                self.info(text);
            }
            Err(text) => self.error(text),
        }
    }

    // ---- scrolling, copying, mouse ----

    fn on_scroll_key(&mut self, key: KeyEvent) {
        let Some(mut mode) = self.scroll else { return };
        let rows = self.pane_size().0;
        let Some(s) = self.focused().and_then(|e| e.session.as_ref()) else {
            self.scroll = None;
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let mut term = s.term.lock();
        let page = rows.saturating_sub(1).max(1) as isize;
        let mut copied = None;
        let mut exit = false;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                if mode.cursor == 0 {
                    term.scroll_by(1);
                } else {
                    mode.cursor -= 1;
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                if mode.cursor + 1 >= rows {
                    term.scroll_by(-1);
                } else {
                    mode.cursor += 1;
                }
            }
            KeyCode::PageUp | KeyCode::Char('b') => term.scroll_by(page),
            KeyCode::Char('u') if ctrl => term.scroll_by(page / 2),
            KeyCode::PageDown | KeyCode::Char('f') | KeyCode::Char(' ') => term.scroll_by(-page),
            KeyCode::Char('d') if ctrl => term.scroll_by(-page / 2),
            KeyCode::Char('g') | KeyCode::Home => {
                term.scroll_to_top();
                mode.cursor = 0;
            }
            KeyCode::Char('G') | KeyCode::End => {
                term.scroll_to_live();
                mode.cursor = rows.saturating_sub(1);
            }
            KeyCode::Char('v') => {
                let abs = term.history_len() - term.scroll_offset() + mode.cursor as usize;
                mode.anchor = if mode.anchor.is_some() {
                    None
                } else {
                    Some(abs)
                };
            }
            KeyCode::Char('y') | KeyCode::Enter => {
                let cursor_abs = term.history_len() - term.scroll_offset() + mode.cursor as usize;
                let (from, to) = match mode.anchor {
                    Some(a) => (a.min(cursor_abs), a.max(cursor_abs)),
                    None => (cursor_abs, cursor_abs),
                };
                copied = Some((to - from + 1, lines_between(&mut term, from, to)));
                exit = true;
            }
            KeyCode::Esc | KeyCode::Char('q') => exit = true,
            _ => {}
        }
        if exit {
            term.scroll_to_live();
        }
        drop(term);
        self.scroll = if exit { None } else { Some(mode) };
        if let Some((n, text)) = copied {
            let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            self.outer.push(osc52(b64.as_bytes()));
            self.info(format!(
                "copied {n} line{} to the clipboard",
                if n == 1 { "" } else { "s" }
            ));
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        if self.modal.is_some() {
            return;
        }
        self.dirty = true;
        let l = self.layout();
        let pos = Position::new(m.column, m.row);
        if l.pane_inner.contains(pos) {
            let Some(s) = self.focused().and_then(|e| e.session.as_ref()) else {
                return;
            };
            let mut term = s.term.lock();
            let screen = term.screen();
            let (mode, encoding) = (
                screen.mouse_protocol_mode(),
                screen.mouse_protocol_encoding(),
            );
            let (col, row) = (m.column - l.pane_inner.x, m.row - l.pane_inner.y);
            if mode != vt100::MouseProtocolMode::None {
                if let Some(bytes) = encode_mouse(m.kind, m.modifiers, col, row, mode, encoding) {
                    drop(term);
                    s.write(&bytes);
                }
                return;
            }
            let up = match m.kind {
                MouseEventKind::ScrollUp => true,
                MouseEventKind::ScrollDown => false,
                _ => return,
            };
            if screen.alternate_screen() {
                // No history on the alternate screen: scroll the program,
                // as terminals do, with arrow keys.
                let modes = Modes::of(screen);
                let arrow = KeyEvent::new(
                    if up { KeyCode::Up } else { KeyCode::Down },
                    KeyModifiers::NONE,
                );
                let bytes = encode_key(&arrow, modes).repeat(3);
                drop(term);
                s.write(&bytes);
            } else {
                term.scroll_by(if up { 3 } else { -3 });
            }
            return;
        }
        if let (Some(side), MouseEventKind::Down(MouseButton::Left)) = (l.sidebar, m.kind) {
            if l.agents.contains(pos) && side.contains(pos) {
                let row = m.row.saturating_sub(l.agents.y + 1) as usize;
                let idx = row / 2;
                if idx < self.entries.len() {
                    self.set_focus(idx);
                }
            }
        }
    }

    /// Pending proposals of one bottle.
    pub fn proposals_for(&self, slug: &str) -> usize {
        self.proposals.iter().filter(|p| p.slug == slug).count()
    }
}

/// A progress sink whose lines become `BottleMsg::Progress` for `slug`;
/// await the handle to be sure every line was delivered.
fn forward_progress(
    tx: &UnboundedSender<AppEvent>,
    slug: &str,
) -> (crate::backend::Progress, tokio::task::JoinHandle<()>) {
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (tx, slug) = (tx.clone(), slug.to_string());
    let handle = tokio::spawn(async move {
        while let Some(line) = prx.recv().await {
            let _ = tx.send(AppEvent::Bottle(slug.clone(), BottleMsg::Progress(line)));
        }
    });
    (ptx, handle)
}

/// Write the decision for the supervise sidecar and append it to the
/// bottle's decision log (when, what, which agent, why).
fn record(state: &std::path::Path, p: &Proposal, decision: &Decision) -> Result<String, String> {
    crate::supervise::queue::decide(state, p, decision)
        .map_err(|e| format!("could not record the decision for {}: {e}", p.agent))?;
    let (verb, reason) = match decision {
        Decision::Approved { note, .. } => ("approved", note.clone().unwrap_or_default()),
        Decision::Rejected { reason } => ("rejected", reason.clone()),
    };
    let line = serde_json::json!({
        "time": crate::state::now_rfc3339(),
        "agent": p.agent,
        "slug": p.slug,
        "proposal": p.id,
        "request": p.request,
        "agent_reason": p.reason,
        "decision": verb,
        "operator_note": reason,
    });
    let log = state.join(&p.slug).join("decisions.jsonl");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        return Err(format!(
            "{verb}, but could not write {}: {e}",
            log.display()
        ));
    }
    Ok(format!("{verb}: {} {}", p.agent, p.request.summary()))
}

/// Lines `from..=to` of a terminal's history and screen, as text.
fn lines_between(term: &mut crate::session::Term, from: usize, to: usize) -> String {
    let saved = term.scroll_offset();
    let history = term.history_len();
    let mut out = Vec::new();
    for abs in from..=to {
        let (offset, row) = if abs < history {
            (history - abs, 0u16)
        } else {
            (0, (abs - history) as u16)
        };
        term.scroll_to_live();
        term.scroll_by(offset as isize);
        out.push(term.rows_text(row, row));
    }
    term.scroll_to_live();
    term.scroll_by(saved as isize);
    out.join("\n")
}

/// Copy base64 `data` to the outer terminal's clipboard.
pub fn osc52(data: &[u8]) -> Vec<u8> {
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(data);
    out.push(0x07);
    out
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
