//! Everything the workspace reacts to, merged on one channel: terminal
//! input, session output, background work reporting back, and ticks.

use crossterm::event::Event;

use crate::backend::ActiveBottle;
use crate::manifest::Manifest;
use crate::plan::BackendKind;
use crate::session::{Session, SessionEvent};
use crate::supervise::{EgressRequest, Proposal};

pub enum AppEvent {
    Term(Event),
    Session(SessionEvent),
    /// News about a bottle being launched or (re)attached.
    Bottle(String, BottleMsg),
    /// Bottles a backend reported at start-up.
    Discovered(Vec<ActiveBottle>),
    /// Manifests read for the agent picker.
    Manifest(Box<Manifest>),
    /// Backends that can run bottles now.
    Usable(Vec<BackendKind>),
    /// Every pending proposal, from the queue watcher.
    Proposals(Vec<Proposal>),
    /// A decision was applied (or could not be) and recorded.
    Decided {
        slug: String,
        applied: Option<EgressRequest>,
        outcome: Result<String, String>,
    },
    Tick,
    /// SIGTERM or SIGHUP: leave, restoring the terminal.
    Signal(&'static str),
}

pub enum BottleMsg {
    Progress(String),
    Launched(ActiveBottle),
    Attached(Box<Session>),
    /// A resume was asked for but there was nothing to continue.
    Failed(String),
    Stopped,
    /// A capability change was built and the agent container recreated.
    Rebuilt(Result<(), String>),
    StopFailed(String),
}
