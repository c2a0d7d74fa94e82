//! The operator channel: how bb reaches a bottle's state, which lives with
//! the bottle (the bundle's state volume, `/var/lib/bb`), over the
//! engine's API alone. bb runs `bb-sidecar operator REQUEST` in the bundle
//! (an exec, as root: the agent has no way to it) and reads one `Answer`
//! from its stdout; `bb-sidecar operator watch` prints a line whenever the
//! state changes, so bb reads it as soon as it does.

use serde::{Deserialize, Serialize};

use crate::proposal::{Decision, Proposal};

/// Where the state lives in the bundle.
pub const STATE_DIR: &str = "/var/lib/bb";

/// The state dir's group: the daemons that write there.
pub const STATE_GID: u32 = 10900;

/// Who the operator channel runs as in the bundle: root in the state's
/// group. The bundle drops every capability, so root reads the daemons'
/// group-readable files (the audit log, proposals) as a member, not by
/// overriding permissions.
pub const OPERATOR_USER: &str = "0:10900";

/// What bb asks, as the one argument after `operator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The pending proposals, and the audit log since `since` (all of it,
    /// the rotated-out file first, without).
    Read { since: Option<Cursor> },
    /// Answer a proposal, and log the decision (`log` is the line).
    Decide {
        id: String,
        decision: Decision,
        log: serde_json::Value,
    },
    /// File a proposal (the operator's own, from the network view).
    File { proposal: Proposal },
    /// Add a line to the decision log (an edit of the live routes).
    Log { line: serde_json::Value },
    /// The files a stopped bottle leaves behind (its audit and decision
    /// logs), to keep on the operator's machine.
    Kept,
}

/// A place in the audit log: the current file (by inode) and how far
/// into it bb has read. A rotation moves that file aside, so a cursor
/// on the moved file goes on in it, then in the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Cursor {
    pub inode: u64,
    pub at: u64,
}

/// One answer: what was asked for, or why it could not be done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Read(StateRead),
    Kept { files: Vec<KeptFile> },
    Done,
    Failed { why: String },
}

/// The state as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRead {
    /// Undecided proposals, oldest first.
    pub proposals: Vec<Proposal>,
    /// Whole lines of the audit log, as written.
    pub audit: String,
    /// Where the next read goes on from.
    pub cursor: Cursor,
}

/// A file a stopped bottle leaves: its name and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFile {
    pub name: String,
    pub text: String,
}

/// The logs a stopped bottle leaves behind.
pub const KEPT_LOGS: [&str; 3] = ["audit.jsonl.1", "audit.jsonl", "decisions.jsonl"];
