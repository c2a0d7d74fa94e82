//! Where bottles run. Each backend launches a plan into a live bottle,
//! attaches sessions to it, lists the bottles it has (including ones an
//! earlier or another bb started) and stops them.

pub mod docker;
pub mod local;
pub mod smolmachines;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc::UnboundedSender;

use crate::plan::{BackendKind, BottlePlan};
use crate::session::{Notify, Session, SessionId};

/// A bottle a backend knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBottle {
    pub slug: String,
    pub agent: String,
    pub bottle: String,
    pub backend: BackendKind,
    /// RFC 3339, when known.
    pub started_at: Option<String>,
    pub state: BottleState,
    /// Sidecar daemons that are up.
    pub sidecars: Vec<String>,
    /// Why a part of it is down, when one is ("the agent exited with
    /// code 137 (killed)").
    pub down: Option<String>,
    /// The agent CLI it runs, when known: how its screen is read.
    pub template: Option<crate::manifest::Template>,
}

/// In `bb ls --format json` as `starting`, `running`, `agent_down`,
/// `bundle_down`, `unreachable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleState {
    Starting,
    Running,
    /// The agent container is gone or stopped; the bottle can be stopped.
    AgentDown,
    /// The agent runs but its sidecar bundle does not: no egress, no git
    /// gate, no proposals.
    BundleDown,
    /// The backend cannot be asked right now.
    Unreachable,
}

impl BottleState {
    pub fn label(self) -> &'static str {
        match self {
            BottleState::Starting => "starting",
            BottleState::Running => "running",
            BottleState::AgentDown => "exited",
            BottleState::BundleDown => "bundle down",
            BottleState::Unreachable => "unreachable",
        }
    }
}

/// News of a launch, for the pane while the bottle starts and for
/// `bb start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressMsg {
    Note(String),
    /// A step of an image build (the builder's own output is kept for the
    /// error, if the build fails).
    Build {
        image: String,
        step: u32,
        of: u32,
        doing: String,
    },
}

impl From<String> for ProgressMsg {
    fn from(s: String) -> ProgressMsg {
        ProgressMsg::Note(s)
    }
}

impl From<&str> for ProgressMsg {
    fn from(s: &str) -> ProgressMsg {
        ProgressMsg::Note(s.to_string())
    }
}

impl std::fmt::Display for ProgressMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgressMsg::Note(s) => f.write_str(s),
            ProgressMsg::Build {
                image,
                step,
                of,
                doing,
            } => {
                // A bar of ten cells, then what the step does, cut short.
                let done = (*step as usize * 10) / (*of as usize).max(1);
                let doing: String = doing.chars().take(60).collect();
                write!(
                    f,
                    "building {image} [{}{}] step {step}/{of}: {doing}",
                    "#".repeat(done.min(10)),
                    "-".repeat(10 - done.min(10))
                )
            }
        }
    }
}

impl ProgressMsg {
    /// The image whose build this is a step of.
    pub fn building(&self) -> Option<&str> {
        match self {
            ProgressMsg::Build { image, .. } => Some(image),
            ProgressMsg::Note(_) => None,
        }
    }
}

pub type Progress = UnboundedSender<ProgressMsg>;

/// How to start a session in a bottle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    Fresh,
    /// Continue the last conversation; a backend falls back to a fresh
    /// session when there is nothing to continue.
    Resume,
}

/// What a session needs from the workspace.
#[derive(Clone)]
pub struct SessionSpec {
    pub id: SessionId,
    pub rows: u16,
    pub cols: u16,
    pub scrollback: usize,
    pub notify: Notify,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Launch refused before anything was made.
    #[error("{0}")]
    Blocked(String),
    #[error("{0}")]
    Failed(String),
    #[error("no bottle {0} is running")]
    NoSuchBottle(String),
}

/// How often a backend that cannot tell its changes is listed.
pub const LIST_POLL: std::time::Duration = std::time::Duration::from_secs(2);

#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// Why this backend cannot be used now, if it cannot.
    async fn unavailable(&self) -> Option<String>;

    /// Make the bottle a plan describes. On failure, whatever was made is
    /// removed again.
    async fn launch(
        &self,
        plan: &BottlePlan,
        progress: Progress,
    ) -> Result<ActiveBottle, BackendError>;

    /// Start a session of the agent CLI in a running bottle.
    async fn attach(
        &self,
        bottle: &ActiveBottle,
        how: Attach,
        spec: SessionSpec,
    ) -> Result<Session, BackendError>;

    async fn list(&self) -> Result<Vec<ActiveBottle>, BackendError>;

    /// Wait until the bottles `list` gives may have changed since `since`
    /// (bottles die and are stopped outside bb too), so they are listed
    /// again then and not on a clock. By default: a while, as a poll.
    async fn changed(&self, since: std::time::SystemTime) {
        let _ = since;
        tokio::time::sleep(LIST_POLL).await;
    }

    /// Whether an approved egress change can be applied to a live bottle.
    fn applies_egress(&self) -> bool {
        false
    }

    /// Whether approved Dockerfile changes can be built into a bottle.
    fn applies_capability(&self) -> bool {
        false
    }

    /// Rebuild the agent's image with approved Dockerfile lines and recreate
    /// its container, carrying its home over.
    async fn apply_capability(
        &self,
        slug: &str,
        _lines: &str,
        _progress: Progress,
    ) -> Result<(), BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: capability changes (a rebuilt image) need the Docker backend"
        )))
    }

    /// What the bottle's workspace holds now, sent as
    /// `work::snapshot::SCRIPT` prints it (run in the agent's container or
    /// machine, as its user); `known` are the commits bb has of it (the
    /// base first), so only what is new comes.
    async fn send_work(
        &self,
        slug: &str,
        agent: &str,
        known: &[String],
    ) -> Result<Vec<u8>, BackendError> {
        let _ = (agent, known);
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend cannot send its work"
        )))
    }

    /// A bottle's live egress routes, as its egress reads them (the one
    /// source for an approval's diff).
    async fn live_routes(
        &self,
        slug: &str,
    ) -> Result<Vec<bb_contract::egress::RouteConfig>, BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend has no live egress routes to read"
        )))
    }

    /// A running bottle's egress routes, in the manifest's shape.
    async fn live_egress(&self, slug: &str) -> Result<crate::manifest::Egress, BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend cannot change egress while running"
        )))
    }

    /// Replace a running bottle's egress routes (the operator's edit) and
    /// reload; a credential the bottle was not started with is refused.
    async fn replace_egress(
        &self,
        slug: &str,
        _egress: &crate::manifest::Egress,
    ) -> Result<(), BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend cannot change egress while running"
        )))
    }

    /// Add an approved route to a running bottle's egress and reload it.
    async fn update_egress(
        &self,
        slug: &str,
        _req: &crate::supervise::EgressRequest,
    ) -> Result<(), BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend cannot change egress while running"
        )))
    }

    async fn stop(&self, slug: &str) -> Result<(), BackendError>;
}

pub type SharedBackend = Arc<dyn Backend>;

/// The workspace as a launch copies it in (tar archives for
/// `GUEST_WORKSPACE`): bb's saved-work repository made first (the
/// workspace as copied, recorded), the bottle's repository from it,
/// credentials left behind. Without git on this machine the files go in
/// alone, and `note` says the work cannot be read back.
pub fn workspace_copy(
    home: &std::path::Path,
    plan: &BottlePlan,
    note: &dyn Fn(String),
) -> Result<Vec<Vec<u8>>, String> {
    let Some(ws) = &plan.workspace else {
        return Ok(Vec::new());
    };
    let saved = crate::work::Saved::at(home, &plan.slug);
    let prepared = match crate::work::launch::prepare(
        &saved,
        &ws.source,
        ws.git.as_ref(),
        &plan.agent,
    ) {
        Ok(p) => Some(p),
        Err(crate::work::GitError::Missing) => {
            note(format!("{}; the workspace is copied without a repository, and this bottle's work cannot be reviewed or taken", crate::work::GitError::Missing));
            None
        }
        Err(e) => return Err(format!("preparing the workspace's repository: {e}")),
    };
    let tars = docker::context::workspace_archives(
        &ws.source,
        prepared.as_ref().map(|p| p.git_dir.as_path()),
        &ws.left_out,
        docker::launch::NODE_UID,
    )
    .map_err(|e| format!("workspace {}: {e}", ws.source.display()));
    if let Some(p) = &prepared {
        p.done();
    }
    tars
}

/// Start `cmd` in a local PTY at the size `spec` gives: the local backend's
/// sessions, and smolvm's `machine exec -t`.
pub fn spawn_in_pty(
    cmd: &crate::session::pty::PtyCommand,
    spec: SessionSpec,
) -> Result<Session, crate::session::pty::PtyError> {
    crate::session::pty::spawn(
        spec.id,
        cmd,
        spec.rows,
        spec.cols,
        spec.scrollback,
        spec.notify,
    )
}

/// Refuse a plan that cannot launch, naming what is missing.
pub fn check_launchable(plan: &BottlePlan) -> Result<(), BackendError> {
    let blockers = plan.blockers();
    if blockers.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = blockers.iter().map(|b| b.to_string()).collect();
    Err(BackendError::Blocked(text.join("; ")))
}

/// Refuse to attach to a bottle whose launch is under way or was killed
/// half-way, saying what to do.
pub fn check_attachable(home: &std::path::Path, slug: &str) -> Result<(), BackendError> {
    if crate::state::leased(home, slug) {
        return Err(BackendError::Failed(format!(
            "{slug} is still being launched: wait for it to be ready"
        )));
    }
    if crate::state::interrupted(home, slug) {
        return Err(BackendError::Failed(docker::inventory::interrupted_note(
            slug,
        )));
    }
    Ok(())
}

/// The backends bb offers people, in the order the picker lists them.
pub fn user_backends(home: &std::path::Path, user_home: &std::path::Path) -> Vec<SharedBackend> {
    vec![
        Arc::new(docker::DockerBackend::new(
            home.to_path_buf(),
            user_home.to_path_buf(),
        )),
        Arc::new(smolmachines::SmolBackend::new(
            home.to_path_buf(),
            user_home.to_path_buf(),
        )),
    ]
}
