//! Everything the workspace reacts to, merged on one channel: terminal
//! input, session output, background work reporting back, and ticks.

use crossterm::event::Event;

use crate::backend::{ActiveBottle, Place};
use crate::manifest::{Egress, Manifest};
use crate::plan::BottlePlan;
use crate::session::{Session, SessionEvent};
use crate::supervise::{Proposal, Request};

pub enum AppEvent {
    Term(Event),
    Session(SessionEvent),
    /// News about a bottle being launched or (re)attached.
    Bottle(String, BottleMsg),
    /// Every bottle a backend has now (at start, then as they change).
    Discovered(Place, Vec<ActiveBottle>),
    /// A backend (an engine) does not answer now: its bottles are
    /// unreachable, not gone; why.
    Unreachable(Place, String),
    /// Manifests read for the agent picker.
    Manifest(Box<Manifest>),
    /// An agent's plan, resolved and its workspace measured, for review;
    /// or why there is none.
    Preflight(Result<Box<PreflightReady>, String>),
    /// Where bottles can run now.
    Usable(Vec<Place>),
    /// A bottle's state as read where it keeps it: its pending proposals,
    /// what its egress logged since the last read (`first`: all of it).
    News {
        slug: String,
        news: crate::backend::BottleNews,
        first: bool,
    },
    /// A decision was applied (or could not be) and recorded.
    Decided {
        outcome: Result<String, String>,
    },
    /// What the operator did in $EDITOR.
    Edited(Edited),
    /// An agent's work as read (for the review view), or why it could not
    /// be.
    Work(WorkRead),
    /// `t` or `a` in the review view: done, or why not.
    WorkDone(Result<String, String>),
    /// A bottle's live egress routes (for the approval on screen), or why
    /// they could not be read.
    LiveRoutes(
        String,
        Result<Vec<bb_contract::egress::RouteConfig>, String>,
    ),
    /// Time for what `App::next_due` named, or for a frame.
    Tick,
    /// SIGTERM or SIGHUP: leave, restoring the terminal.
    Signal(&'static str),
}

pub enum Edited {
    /// A proposal's request as edited: the new request, None when the
    /// operator cancelled, or why it cannot be used.
    Proposal {
        proposal: Proposal,
        result: Result<Option<Request>, String>,
    },
    /// A bottle's live egress as edited: None when unchanged.
    Egress {
        slug: String,
        result: Result<Option<EgressEdit>, String>,
    },
}

pub struct EgressEdit {
    pub egress: Egress,
    /// Both as manifest text, for the decision log.
    pub before: String,
    pub after: String,
}

pub struct PreflightReady {
    pub plan: BottlePlan,
    /// The plan as preflight text.
    pub lines: Vec<String>,
}

pub enum BottleMsg {
    Progress(crate::backend::ProgressMsg),
    Launched(ActiveBottle),
    Attached(Box<Session>),
    /// A resume was asked for but there was nothing to continue.
    Failed(String),
    /// Stopped; the line saying where its work was saved, if it had any.
    Stopped(Option<String>),
    /// An approved capability change is recorded; the image is being rebuilt.
    Rebuilding,
    /// A capability change was built and the agent container recreated.
    Rebuilt(Result<(), String>),
    StopFailed(String),
}

/// An agent's work as read.
#[derive(Debug)]
pub struct WorkRead {
    pub slug: String,
    /// The work as saved (brought up to date when `live`).
    pub review: Option<crate::work::review::Review>,
    /// Why it, or the bottle's newest, could not be read.
    pub error: Option<String>,
    /// Read from the bottle just now, not only from bb's saved copy.
    pub live: bool,
}
