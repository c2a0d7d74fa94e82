//! The workspace's state and the one place it changes: [`App::update`],
//! which returns the [`Effect`]s it wants (launching, stopping, attaching,
//! reading manifests, recording decisions); the run loop performs them and
//! their results come back as events. `update` never waits on I/O.
//!
//! Split by concern: keys and actions (`keys`), modals (`modals`), the
//! new-agent flow and bottles' lifecycle (`launch`), proposals
//! (`proposals`), scrolling, copying and the mouse (`scroll`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind};
use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedSender;

use super::config::Config;
pub use super::effect::Suspend;
use super::effect::{Apply, Effect};
use super::event::AppEvent;
use super::keymap::Action;
use super::modal::{ClipboardAsk, Modal};
use super::view::layout::{layout, Layout};
use crate::backend::{ActiveBottle, Place, SessionSpec, SharedBackend};
use crate::manifest::Manifest;
use crate::plan::BackendKind;
use crate::session::activity::Tracker;
use crate::session::{Notify, Session, SessionEvent, SessionId};
use crate::supervise::Proposal;
pub use activity::{desktop_notification, AgentState};

mod activity;
mod keys;
mod launch;
mod modals;
mod proposals;
mod scroll;

/// How long a run of resizes must settle before sessions are told: longer
/// than the ~16 ms between the resize events of a dragged window (so a drag
/// is one resize for the program), short enough that a program hears of a
/// settled size within 30 ms.
pub const RESIZE_DEBOUNCE: Duration = Duration::from_millis(20);
/// How long an informational status message stays.
const STATUS_TTL: Duration = Duration::from_secs(6);

/// Where things are, for the workspace.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub cwd: PathBuf,
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
    /// The engine it runs on (empty for backends without one).
    pub engine: String,
    pub phase: Phase,
    pub session: Option<Session>,
    pub active: Option<ActiveBottle>,
    /// Output arrived since the user last looked at this pane.
    pub unread: bool,
    /// Launch progress, or what went wrong.
    pub log: Vec<String>,
    /// What its session shows it doing.
    pub activity: Tracker,
    /// The state its row last showed.
    pub shown: Option<AgentState>,
    /// It started to need you while you looked elsewhere.
    pub attention: bool,
    /// The last desktop notification its program sent since you typed.
    pub notice: Option<String>,
    /// Requests egress refused since you last opened its network view.
    pub refused: usize,
    /// The image the last log line is a build step of: the next step
    /// replaces it.
    pub log_building: Option<String>,
    /// When its launch began, and whole seconds since (shown while it
    /// starts).
    pub launch_started: Option<Instant>,
    pub launch_secs: u64,
    /// Its work as last read: the review view opens on it at once.
    pub work: Option<crate::work::review::Review>,
    /// Its work is being saved (after a turn).
    pub saving: bool,
    /// Its pending proposals, as last read from it.
    pub proposals: Vec<Proposal>,
    /// What its egress logged, newest last (at most `network::KEPT`).
    pub audit: Vec<crate::audit::Record>,
    /// Its state is followed; set when it goes (the watcher stops).
    pub watched: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Its session ended because its engine stopped answering: it is
    /// attached again when the engine is back.
    pub reattach: bool,
}

impl Entry {
    /// Where it runs.
    pub fn place(&self) -> Place {
        Place {
            kind: self.backend,
            engine: self.engine.clone(),
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(w) = &self.watched {
            w.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Entry {
    pub fn new(
        slug: String,
        agent: String,
        bottle: String,
        backend: BackendKind,
        phase: Phase,
        template: Option<crate::manifest::Template>,
    ) -> Entry {
        Entry {
            slug,
            agent,
            bottle,
            backend,
            phase,
            session: None,
            active: None,
            unread: false,
            log: Vec::new(),
            activity: Tracker::new(template),
            shown: None,
            attention: false,
            notice: None,
            refused: 0,
            log_building: None,
            launch_started: None,
            launch_secs: 0,
            work: None,
            saving: false,
            engine: String::new(),
            proposals: Vec::new(),
            audit: Vec::new(),
            watched: None,
            reattach: false,
        }
    }
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

pub struct App {
    pub paths: Paths,
    pub config: Config,
    pub backends: Vec<SharedBackend>,
    /// Where bottles can run (backends that answered they can).
    pub usable: Vec<Place>,
    /// Every backend has answered whether it can.
    pub checked: bool,
    /// An agent chosen before they had: it goes on once they have.
    chosen: Option<String>,
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
    /// The workspace needs drawing.
    pub dirty: bool,
    /// The focused program's screen changed (and, unless `dirty`, nothing
    /// else did: drawing its changed rows is enough).
    pub pane_changed: bool,
    /// The manifest the open picker was built from.
    picker_manifest: Option<Manifest>,
    /// A bottle to focus and start a fresh session in once it is found
    /// (`bb start` launched it just before opening the workspace).
    pub attach_on_discovery: Option<String>,
    /// Where sessions report (their notify hook).
    tx: UnboundedSender<AppEvent>,
    /// What this update asks the run loop to do.
    effects: Vec<Effect>,
    next_id: SessionId,
    resize_due: Option<Instant>,
    /// Bottles stopped here, so a listing taken before they went does not
    /// bring them back.
    stopped: Vec<String>,
    /// The size sessions were last given.
    session_size: (u16, u16),
    /// The last clipboard write a program asked for, not yet decided.
    pub clipboard_ask: Option<ClipboardAsk>,
    /// The bottle whose live routes the approval on screen waits to read
    /// once the bottle is listed.
    routes_wanted: Option<String>,
    /// Backends (engines) that do not answer now, and why.
    pub unreachable: std::collections::BTreeMap<Place, String>,
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
            checked: false,
            chosen: None,
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
            pane_changed: false,
            picker_manifest: None,
            attach_on_discovery: None,
            tx,
            effects: Vec::new(),
            stopped: Vec::new(),
            next_id: 1,
            resize_due: None,
            session_size: (0, 0),
            clipboard_ask: None,
            routes_wanted: None,
            unreachable: std::collections::BTreeMap::new(),
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

    /// Whether anything is to be drawn.
    pub fn needs_draw(&self) -> bool {
        self.dirty || self.pane_changed
    }

    /// Everything that was to be drawn is.
    pub fn drawn(&mut self) {
        self.dirty = false;
        self.pane_changed = false;
    }

    pub fn focused(&self) -> Option<&Entry> {
        self.entries.get(self.focus)
    }

    fn focused_mut(&mut self) -> Option<&mut Entry> {
        self.entries.get_mut(self.focus)
    }

    /// A status line. Status text may quote a bottle (a host, a proposal),
    /// so it is shown, never obeyed.
    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: crate::shown::shown(&text.into()).into_owned(),
            error: false,
            at: Instant::now(),
        });
        self.dirty = true;
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: crate::shown::shown(&text.into()).into_owned(),
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

    /// The backend running bottles at `place`.
    pub fn backend_at(&self, place: &Place) -> Option<SharedBackend> {
        self.backends.iter().find(|b| b.place() == *place).cloned()
    }

    /// Where a bottle goes without a choice: the first backend of `kind`
    /// (for Docker, the default engine).
    pub fn default_place(&self, kind: BackendKind) -> Option<Place> {
        self.backends
            .iter()
            .find(|b| b.kind() == kind)
            .map(|b| b.place())
    }

    /// The backend running bottle `slug`.
    pub fn backend_of(&self, slug: &str) -> Option<SharedBackend> {
        let e = self.entries.iter().find(|e| e.slug == slug)?;
        self.backend_at(&e.place())
    }

    /// React to one event; what it needs done, for the run loop.
    #[must_use]
    pub fn update(&mut self, ev: AppEvent) -> Vec<Effect> {
        self.on_event(ev);
        std::mem::take(&mut self.effects)
    }

    fn on_event(&mut self, ev: AppEvent) {
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
            AppEvent::Discovered(place, bottles) => {
                self.on_discovered(place, bottles);
                self.read_wanted_routes();
            }
            AppEvent::Unreachable(place, why) => self.on_unreachable(&place, why),
            AppEvent::Manifest(m) => self.open_picker(&m),
            AppEvent::Preflight(ready) => self.open_preflight(ready),
            AppEvent::Usable(places) => self.on_usable(places),
            AppEvent::News { slug, news, first } => self.on_news(&slug, news, first),
            AppEvent::Decided { outcome } => self.on_decided(outcome),
            AppEvent::Edited(edited) => self.on_edited(edited),
            AppEvent::LiveRoutes(slug, routes) => self.on_live_routes(&slug, routes),
            AppEvent::Work(read) => self.on_work(read),
            AppEvent::WorkDone(Ok(text)) => self.info(text),
            AppEvent::WorkDone(Err(text)) => self.error(text),
            AppEvent::Tick => self.on_tick(Instant::now()),
            AppEvent::Signal(_) => self.quit = true,
        }
        self.refresh_states(Instant::now());
    }

    fn on_tick(&mut self, now: Instant) {
        self.refresh_states(now);
        for e in &mut self.entries {
            if let (Phase::Launching, Some(t)) = (&e.phase, e.launch_started) {
                let secs = now.saturating_duration_since(t).as_secs();
                if secs != e.launch_secs {
                    e.launch_secs = secs;
                    self.dirty = true;
                }
            }
        }
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

    /// When `update` next has timed work (a debounced resize, a status
    /// line to clear), so the loop sleeps until then and not in ticks.
    pub fn next_due(&self) -> Option<Instant> {
        let status = self
            .status
            .as_ref()
            .filter(|s| !s.error)
            .map(|s| s.at + STATUS_TTL + Duration::from_millis(1));
        let state = self.next_state_change(Instant::now());
        // The next whole second of a launch, for its clock.
        let clock = self
            .entries
            .iter()
            .filter(|e| e.phase == Phase::Launching)
            .filter_map(|e| e.launch_started)
            .map(|t| t + Duration::from_secs(t.elapsed().as_secs() + 1))
            .min();
        [self.resize_due, status, state, clock]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn request_resize(&mut self) {
        self.resize_due = Some(Instant::now() + RESIZE_DEBOUNCE);
        self.dirty = true;
    }

    /// Give every session the pane's size; unchanged sizes are skipped.
    pub fn apply_resize(&mut self) {
        let (rows, cols) = self.pane_size();
        self.session_size = (rows, cols);
        let now = Instant::now();
        for e in &mut self.entries {
            if let Some(s) = &e.session {
                if s.resize(rows, cols) {
                    e.activity.resized(now);
                }
            }
        }
        self.dirty = true;
    }

    fn on_output(&mut self, id: SessionId) {
        let focus = self.focus;
        let now = Instant::now();
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.session.as_ref().is_some_and(|s| s.id == id))
        {
            self.observe(i, now);
        }
        let mut asks = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            let Some(s) = &e.session else { continue };
            if s.id != id {
                continue;
            }
            s.term.mark_seen();
            if let Some(text) = s.term.lock().take_clipboard() {
                asks.push(ClipboardAsk {
                    agent: e.agent.clone(),
                    text,
                });
            }
            // Another pane's output changes the screen only when its row
            // first shows it is unread.
            if i == focus {
                self.pane_changed = true;
            } else {
                self.dirty |= !e.unread;
                e.unread = true;
            }
        }
        for ask in asks {
            self.ask_clipboard(ask);
        }
    }

    /// A program asked to set the clipboard: said on the status line, and
    /// kept for the operator to look at (the prefix key's `clipboard`).
    fn ask_clipboard(&mut self, ask: ClipboardAsk) {
        let chars = ask.text.chars().count();
        let key = self.config.keymap.chord(Action::Clipboard);
        self.info(format!(
            "{} asks to put {chars} character{} on your clipboard: {key} to see it and allow it or not",
            ask.agent,
            if chars == 1 { "" } else { "s" },
        ));
        self.clipboard_ask = Some(ask);
    }

    pub(super) fn open_clipboard(&mut self) {
        match self.clipboard_ask.take() {
            Some(ask) => self.modal = Some(Modal::Clipboard(ask)),
            None => self.info("no program has asked to set your clipboard"),
        }
    }

    /// Pending proposals of one bottle.
    pub fn proposals_for(&self, slug: &str) -> usize {
        self.proposals.iter().filter(|p| p.slug == slug).count()
    }
}

/// Copy base64 `data` to the outer terminal's clipboard.
pub fn osc52(data: &[u8]) -> Vec<u8> {
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(data);
    out.push(0x07);
    out
}

#[cfg(test)]
mod tests;
