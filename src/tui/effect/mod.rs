//! What `App::update` asks for and the one runner that does it: the only
//! place in the workspace that spawns tasks, touches files or calls a
//! backend. Slow work reports back as an [`AppEvent`].

mod decide;
mod watch;

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use super::event::{AppEvent, BottleMsg, PreflightReady};
use crate::backend::{ActiveBottle, Attach, SessionSpec, SharedBackend};
use crate::manifest::{Egress, Manifest};
use crate::plan::{self, BackendKind, BottlePlan};
use crate::supervise::{Decision, EgressRequest, Proposal};

pub enum Effect {
    /// Read the manifests for the agent picker.
    LoadManifest(crate::manifest::Layout),
    /// Resolve an agent's plan and measure its workspace for the preflight.
    Preflight(Box<PreflightJob>),
    Launch {
        backend: SharedBackend,
        plan: Box<BottlePlan>,
        spec: SessionSpec,
    },
    Attach {
        backend: SharedBackend,
        bottle: ActiveBottle,
        how: Attach,
        spec: SessionSpec,
    },
    /// Save the bottle's work, then stop it.
    Stop {
        backend: SharedBackend,
        home: PathBuf,
        slug: String,
    },
    /// Record the operator's decision in the bottle (for the agent, and in
    /// its decision log), after or before applying it.
    Decide {
        backend: Option<SharedBackend>,
        proposal: Proposal,
        decision: Decision,
        apply: Apply,
    },
    /// Replace a bottle's live egress with the operator's edit, and log it.
    EditEgress {
        backend: SharedBackend,
        slug: String,
        egress: Box<Egress>,
        before: String,
        after: String,
    },
    /// Follow a bottle's state where it keeps it (proposals, its audit
    /// log): all of it first, then each change, until `closed` is set.
    WatchBottle {
        backend: SharedBackend,
        slug: String,
        closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
    /// Put the operator's own proposal in a bottle's queue.
    FileProposal {
        backend: SharedBackend,
        proposal: Proposal,
    },
    /// Read a bottle's work for the review view, again every couple of
    /// seconds, until `closed` is set.
    WatchWork {
        backend: Option<SharedBackend>,
        home: PathBuf,
        slug: String,
        closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
    /// Save a bottle's work and read it (after a turn).
    SaveWork {
        backend: SharedBackend,
        home: PathBuf,
        slug: String,
    },
    /// `bb take` from the workspace: the work as a branch.
    TakeWork { home: PathBuf, slug: String },
    /// `bb apply` from the workspace: the changes into the user's files.
    ApplyWork { home: PathBuf, slug: String },
    /// Read a bottle's live egress routes, where egress reads them.
    LoadRoutes {
        backend: SharedBackend,
        slug: String,
    },
    /// Bytes for the outer terminal (OSC 52 copies, bells, notifications).
    Outer(Vec<u8>),
    /// Work that needs the real terminal ($EDITOR), between frames.
    Suspend(Suspend),
}

/// What a decision changes besides being recorded.
pub enum Apply {
    /// Nothing: record and report.
    Nothing,
    /// Recorded, but the operator's choice could not be carried out: say
    /// why.
    Refused { reason: String },
    /// Add the approved route to the live egress first (the agent's retry
    /// must find it).
    Egress {
        backend: SharedBackend,
        req: EgressRequest,
    },
    /// Add a route for `host` carrying `token` (one the bottle holds) first.
    Credentialed {
        backend: SharedBackend,
        host: String,
        token: String,
    },
    /// Record, then rebuild the agent's image with these Dockerfile lines
    /// and continue the conversation.
    Capability {
        backend: SharedBackend,
        lines: String,
    },
}

/// Work that needs the real terminal, done by the run loop between frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspend {
    /// Edit a proposal's request in $EDITOR, then apply it.
    EditProposal(Proposal),
    /// Edit a running bottle's live egress routes.
    EditEgress(String),
}

pub struct PreflightJob {
    pub manifest: Manifest,
    pub agent: String,
    pub backend: BackendKind,
    /// The engine chosen (None: the bottle's own, else the default).
    pub engine: Option<String>,
    pub cwd: PathBuf,
    pub user_home: PathBuf,
    /// bb's home, never copied as a workspace.
    pub bb_home: PathBuf,
    pub upstream_ca: Vec<String>,
    pub workspace_limit_mb: u64,
}

/// Start `effect`; what needs the terminal (`Outer`, `Suspend`) is the run
/// loop's and is handed back.
/// The backend's bottles as they are after a launch or an attach (which
/// may have revived a part): what changed while the row was launching is
/// not taken from discovery, so it is listed again once it is not.
async fn relist(backend: &SharedBackend, tx: &UnboundedSender<AppEvent>) {
    if let Ok(found) = backend.list().await {
        let _ = tx.send(AppEvent::Discovered(backend.place(), found));
    }
}

pub fn spawn(effect: Effect, tx: &UnboundedSender<AppEvent>) -> Option<Effect> {
    let tx = tx.clone();
    match effect {
        Effect::LoadManifest(layout) => {
            tokio::task::spawn_blocking(move || {
                let m = crate::manifest::load(&layout);
                let _ = tx.send(AppEvent::Manifest(Box::new(m)));
            });
        }
        Effect::Preflight(job) => {
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(AppEvent::Preflight(preflight(*job).map(Box::new)));
            });
        }
        Effect::Launch {
            backend,
            plan,
            spec,
        } => {
            tokio::spawn(async move {
                let slug = plan.slug.clone();
                let (progress, forward) = forward_progress(&tx, &slug);
                let send = |m| {
                    let _ = tx.send(AppEvent::Bottle(slug.clone(), m));
                };
                match backend.launch(&plan, progress).await {
                    Err(e) => send(BottleMsg::Failed(e.to_string())),
                    Ok(active) => {
                        send(BottleMsg::Launched(active.clone()));
                        match backend.attach(&active, Attach::Fresh, spec).await {
                            Ok(s) => send(BottleMsg::Attached(Box::new(s))),
                            Err(e) => send(BottleMsg::Failed(e.to_string())),
                        }
                    }
                }
                relist(&backend, &tx).await;
                let _ = forward.await;
            });
        }
        Effect::Attach {
            backend,
            bottle,
            how,
            spec,
        } => {
            tokio::spawn(async move {
                let msg = match backend.attach(&bottle, how, spec).await {
                    Ok(s) => BottleMsg::Attached(Box::new(s)),
                    Err(e) => BottleMsg::Failed(e.to_string()),
                };
                let _ = tx.send(AppEvent::Bottle(bottle.slug, msg));
                relist(&backend, &tx).await;
            });
        }
        Effect::Stop {
            backend,
            home,
            slug,
        } => {
            tokio::spawn(async move {
                // Stopped elsewhere (another shell, `docker rm`): nothing
                // to save or stop; its row goes.
                let gone = backend
                    .list()
                    .await
                    .is_ok_and(|listed| !listed.iter().any(|b| b.slug == slug));
                if gone {
                    let msg = BottleMsg::Stopped(Some("it was already gone".into()));
                    let _ = tx.send(AppEvent::Bottle(slug, msg));
                    return;
                }
                // The agent's work first: saved, or the bottle keeps running.
                let msg = match crate::work::save_before_stop(backend.as_ref(), &home, &slug).await
                {
                    Err(e) => BottleMsg::StopFailed(format!(
                        "its work could not be saved first ({e}), so it keeps running; `bb stop --force {slug}` stops it without saving"
                    )),
                    Ok(saved) => match backend.stop(&slug).await {
                        Ok(()) => BottleMsg::Stopped(saved),
                        Err(e) => BottleMsg::StopFailed(e.to_string()),
                    },
                };
                let _ = tx.send(AppEvent::Bottle(slug, msg));
            });
        }
        Effect::Decide {
            backend,
            proposal,
            decision,
            apply,
        } => {
            tokio::spawn(decide::decide(tx, backend, proposal, decision, apply));
        }
        Effect::EditEgress {
            backend,
            slug,
            egress,
            before,
            after,
        } => {
            tokio::spawn(async move {
                let outcome = match backend.replace_egress(&slug, &egress).await {
                    Ok(()) => {
                        let line = serde_json::json!({
                            "time": crate::state::now_rfc3339(),
                            "slug": slug,
                            "decision": "edited",
                            "before": before,
                            "after": after,
                        });
                        match backend.log_decision(&slug, line).await {
                            Ok(()) => Ok(format!("egress of {slug} updated and reloaded")),
                            Err(e) => Err(format!(
                                "egress of {slug} updated and reloaded, but not logged: {e}"
                            )),
                        }
                    }
                    Err(e) => Err(format!("could not apply the edit to {slug}: {e}")),
                };
                let _ = tx.send(AppEvent::Decided { outcome });
            });
        }
        Effect::WatchBottle {
            backend,
            slug,
            closed,
        } => {
            tokio::spawn(watch::watch_bottle(tx, backend, slug, closed));
        }
        Effect::WatchWork {
            backend,
            home,
            slug,
            closed,
        } => {
            tokio::spawn(watch::watch_work(tx, backend, home, slug, closed));
        }
        Effect::SaveWork {
            backend,
            home,
            slug,
        } => {
            tokio::spawn(async move {
                let saved = crate::work::Saved::at(&home, &slug);
                let read = watch::read_work(Some(&backend), &saved, &slug).await;
                let _ = tx.send(AppEvent::Work(read));
            });
        }
        Effect::TakeWork { home, slug } => {
            tokio::task::spawn_blocking(move || {
                let saved = crate::work::Saved::at(&home, &slug);
                let outcome = (|| {
                    let meta = saved
                        .meta()
                        .ok_or_else(|| format!("{slug} has no saved work"))?;
                    let branch = crate::work::default_branch(&meta.agent, &slug);
                    crate::work::take(&saved, &branch).map_err(|e| e.to_string())?;
                    Ok(format!(
                        "took the work of {} into branch {branch} of {}",
                        meta.agent,
                        meta.source.display()
                    ))
                })();
                let _ = tx.send(AppEvent::WorkDone(outcome));
            });
        }
        Effect::ApplyWork { home, slug } => {
            tokio::task::spawn_blocking(move || {
                let saved = crate::work::Saved::at(&home, &slug);
                let outcome = crate::work::apply(&saved)
                    .map(|files| {
                        let dir = saved.meta().map(|m| m.source).unwrap_or_default();
                        format!(
                            "applied {} file{} to {} (not committed)",
                            files.len(),
                            if files.len() == 1 { "" } else { "s" },
                            dir.display()
                        )
                    })
                    .map_err(|e| e.to_string());
                let _ = tx.send(AppEvent::WorkDone(outcome));
            });
        }
        Effect::LoadRoutes { backend, slug } => {
            tokio::spawn(async move {
                let routes = backend.live_routes(&slug).await.map_err(|e| e.to_string());
                let _ = tx.send(AppEvent::LiveRoutes(slug, routes));
            });
        }
        Effect::FileProposal { backend, proposal } => {
            tokio::spawn(async move {
                if let Err(e) = backend.file_proposal(&proposal).await {
                    let _ = tx.send(AppEvent::Decided {
                        outcome: Err(format!("could not file the proposal: {e}")),
                    });
                }
            });
        }
        Effect::Outer(_) | Effect::Suspend(_) => return Some(effect),
    }
    None
}

fn preflight(job: PreflightJob) -> Result<PreflightReady, String> {
    let (a, b) = job
        .manifest
        .agent(&job.agent)
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())?;
    let host = crate::system::SystemHost {
        cwd: job.cwd.clone(),
        home: job.user_home.clone(),
    };
    let mut plan = plan::resolve(a, b, &host, job.backend, &plan::random_suffix())
        .with_upstream_ca(
            job.upstream_ca
                .iter()
                .map(|f| plan::expand_path(&host, f))
                .collect(),
        );
    if job.engine.is_some() {
        plan.engine = job.engine.clone();
    }
    plan = match crate::workspace::locate(&job.cwd, &job.user_home, &job.bb_home) {
        Ok(dir) => plan.with_workspace(
            crate::workspace::read(&dir, job.workspace_limit_mb).map_err(|e| e.to_string())?,
        ),
        Err(why) => plan.without_workspace(&why),
    };
    let lines = crate::preflight::to_text(&plan, &job.user_home)
        .lines()
        .map(String::from)
        .collect();
    Ok(PreflightReady { plan, lines })
}

/// A progress sink whose lines become `BottleMsg::Progress` for `slug`;
/// await the handle to be sure every line was delivered.
fn forward_progress(
    tx: &UnboundedSender<AppEvent>,
    slug: &str,
) -> (crate::backend::Progress, tokio::task::JoinHandle<()>) {
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<crate::backend::ProgressMsg>();
    let (tx, slug) = (tx.clone(), slug.to_string());
    let handle = tokio::spawn(async move {
        while let Some(line) = prx.recv().await {
            let _ = tx.send(AppEvent::Bottle(slug.clone(), BottleMsg::Progress(line)));
        }
    });
    (ptx, handle)
}
