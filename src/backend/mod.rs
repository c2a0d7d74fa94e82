//! Where bottles run. Each backend launches a plan into a live bottle,
//! attaches sessions to it, lists the bottles it has (including ones an
//! earlier or another bb started) and stops them.

pub mod docker;
pub mod engines;
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
    /// The engine it runs on (its name in bb; empty for backends without).
    pub engine: String,
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

impl ActiveBottle {
    /// Where it runs.
    pub fn place(&self) -> Place {
        Place {
            kind: self.backend,
            engine: self.engine.clone(),
        }
    }
}

/// Where bottles run: a backend, on an engine (Docker's; empty for
/// backends without one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Place {
    pub kind: BackendKind,
    pub engine: String,
}

impl Place {
    /// For a narrow column: the kind alone on the default engine,
    /// `docker@big` elsewhere.
    pub fn short(&self) -> String {
        if self.engine.is_empty() || self.engine == engines::DEFAULT {
            self.kind.name().to_string()
        } else {
            format!("{}@{}", self.kind.name(), self.engine)
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.engine.is_empty() {
            f.write_str(self.kind.name())
        } else {
            write!(f, "{} on {}", self.kind.name(), self.engine)
        }
    }
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

/// What a bottle's state holds now: its undecided proposals, and what its
/// egress logged since the last read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BottleNews {
    pub proposals: Vec<crate::supervise::Proposal>,
    pub audit: Vec<crate::audit::Line>,
    /// Where the next read goes on from.
    pub cursor: bb_contract::operator::Cursor,
}

impl From<bb_contract::operator::StateRead> for BottleNews {
    fn from(r: bb_contract::operator::StateRead) -> BottleNews {
        BottleNews {
            proposals: r.proposals,
            audit: crate::audit::parse_text(&r.audit),
            cursor: r.cursor,
        }
    }
}

/// A signal each time a bottle's state may have changed; it ends when the
/// bottle (or its engine) can no longer tell.
pub type Changes = std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>;

/// How often a backend that cannot tell its changes is listed.
pub const LIST_POLL: std::time::Duration = std::time::Duration::from_secs(2);

#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// The engine it runs bottles on, for backends that use one.
    fn engine(&self) -> Option<&engines::EngineSpec> {
        None
    }

    /// Where it runs bottles.
    fn place(&self) -> Place {
        Place {
            kind: self.kind(),
            engine: self.engine().map(|e| e.name.clone()).unwrap_or_default(),
        }
    }

    /// Whether it still answers, asked briefly (an engine cut off is seen
    /// within seconds, not a request's timeout later).
    async fn alive(&self) -> bool {
        true
    }

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

    /// A bottle's proposals, and what its egress logged since `since` (all
    /// of it without), read where the bottle keeps them.
    async fn news(
        &self,
        slug: &str,
        since: Option<bb_contract::operator::Cursor>,
    ) -> Result<BottleNews, BackendError> {
        let _ = (slug, since);
        Ok(BottleNews::default())
    }

    /// Signals as a bottle's state changes (a proposal, a logged request).
    async fn watch(&self, slug: &str) -> Result<Changes, BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend cannot tell when its state changes"
        )))
    }

    /// Answer a bottle's proposal, and log the decision (`log`).
    async fn decide(
        &self,
        proposal: &crate::supervise::Proposal,
        decision: &crate::supervise::Decision,
        log: serde_json::Value,
    ) -> Result<(), BackendError> {
        let _ = (decision, log);
        Err(BackendError::Failed(format!(
            "bottle {}: this backend keeps no proposals",
            proposal.slug
        )))
    }

    /// Put a proposal in a bottle's queue (the operator's own).
    async fn file_proposal(
        &self,
        proposal: &crate::supervise::Proposal,
    ) -> Result<(), BackendError> {
        Err(BackendError::Failed(format!(
            "bottle {}: this backend keeps no proposals",
            proposal.slug
        )))
    }

    /// Add a line to a bottle's decision log.
    async fn log_decision(&self, slug: &str, line: serde_json::Value) -> Result<(), BackendError> {
        let _ = line;
        Err(BackendError::Failed(format!(
            "bottle {slug}: this backend keeps no decision log"
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
/// credentials left behind. `note` says it is copying; without git on this
/// machine the files go in alone, and `note` says the work cannot be read
/// back.
pub fn workspace_copy(
    home: &std::path::Path,
    plan: &BottlePlan,
    note: &dyn Fn(String),
) -> Result<Vec<Vec<u8>>, String> {
    let Some(ws) = &plan.workspace else {
        return Ok(Vec::new());
    };
    note(format!(
        "copying the workspace {} ({})",
        ws.source.display(),
        crate::workspace::human(ws.bytes)
    ));
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

/// The backends bb offers people, in the order the picker lists them:
/// Docker on each engine (the default one first), then micro-VMs (whose
/// bundles run on an engine on this machine).
pub fn user_backends(
    home: &std::path::Path,
    user_home: &std::path::Path,
    engines: &[engines::EngineSpec],
) -> Vec<SharedBackend> {
    let mut out: Vec<SharedBackend> = engines
        .iter()
        .map(|spec| {
            Arc::new(docker::DockerBackend::new(
                home.to_path_buf(),
                user_home.to_path_buf(),
                spec.clone(),
            )) as SharedBackend
        })
        .collect();
    // A micro-VM reaches its bundle on this machine's address: the bundle
    // runs on an engine here.
    let here = engines
        .iter()
        .find(|e| e.host.starts_with("unix://"))
        .cloned()
        .unwrap_or_else(engines::local);
    out.push(Arc::new(smolmachines::SmolBackend::new(
        home.to_path_buf(),
        user_home.to_path_buf(),
        here,
    )));
    out
}
