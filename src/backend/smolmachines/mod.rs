//! The smolmachines backend: the agent in a smolvm micro-VM, its sidecar
//! bundle in Docker. `cli` builds the smolvm command lines and `run` runs
//! them; `probe` says whether smolvm can boot VMs here (`bb doctor`, and
//! whether the backend is offered); `launch` makes a bottle; `inventory`
//! finds bottles again after a restart; `session` is a pane's terminal in
//! a machine.

pub mod cli;
pub mod inventory;
pub mod launch;
pub mod probe;
pub mod run;
pub mod session;

use std::path::PathBuf;

use async_trait::async_trait;
use bb_sidecar::console::{GUEST_BINARY, LEGACY_GUEST_BINARY};

use crate::backend::docker::guest::HostValues;
use crate::backend::docker::{names, revive, DockerBackend};
use crate::backend::engines::EngineSpec;
use crate::backend::{ActiveBottle, Attach, Backend, BackendError, Progress, SessionSpec};
use crate::plan::{BackendKind, BottlePlan};
use crate::session::Session;
use cli::Smolvm;

/// Bottles whose agents are smolvm machines.
pub struct SmolBackend {
    home: PathBuf,
    user_home: PathBuf,
    /// The bundles' engine.
    docker: DockerBackend,
    /// Found (or not) when first needed, once: finding it may ask python,
    /// and the workspace lists bottles every few seconds.
    smolvm: std::sync::OnceLock<Option<Smolvm>>,
}

impl SmolBackend {
    /// Micro-VMs whose bundles run on `engine` (one on this machine).
    pub fn new(home: PathBuf, user_home: PathBuf, engine: EngineSpec) -> SmolBackend {
        SmolBackend::with(home, user_home, engine, None)
    }

    /// With this smolvm (tests give each run its own state dir).
    pub fn with(
        home: PathBuf,
        user_home: PathBuf,
        engine: EngineSpec,
        smolvm: Option<Smolvm>,
    ) -> SmolBackend {
        let found = std::sync::OnceLock::new();
        if let Some(s) = smolvm {
            let _ = found.set(Some(s));
        }
        SmolBackend {
            docker: DockerBackend::new(home.clone(), user_home.clone(), engine),
            home,
            user_home,
            smolvm: found,
        }
    }

    fn smolvm(&self) -> Result<Smolvm, BackendError> {
        self.smolvm
            .get_or_init(|| {
                probe::locate(
                    std::env::var("BB_SMOLVM").ok().as_deref(),
                    std::env::var("PATH").ok().as_deref(),
                )
                .map(|program| Smolvm {
                    program,
                    state_dir: None,
                })
            })
            .clone()
            .ok_or_else(|| BackendError::Failed(probe::Unusable::NotInstalled.to_string()))
    }

    async fn engine(&self) -> Result<&crate::backend::docker::Engine, BackendError> {
        self.docker
            .engine()
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))
    }
}

fn failed(e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(e.to_string())
}

/// The relay a pane runs in the machine: its terminal carries keys and
/// the window size to the console holder.
fn relay() -> Vec<String> {
    console(&["attach", "--tty"])
}

/// The holder, started unless one holds the agent already: the agent runs
/// once per machine boot, however many sessions come and go.
fn holder() -> Vec<String> {
    console(&["serve", "--unless-held", "--", "sh", launch::AGENT_SCRIPT])
}

/// `console ARGS` of the machine's holder binary: bb-console, or in a
/// machine an older bb made, the bb-sidecar it put there instead.
fn console(args: &[&str]) -> Vec<String> {
    let script = format!(
        "b={GUEST_BINARY}; [ -x \"$b\" ] || b={LEGACY_GUEST_BINARY}; exec \"$b\" console \"$@\""
    );
    ["sh", "-c", &script, "sh"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

#[async_trait]
impl Backend for SmolBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Smolmachines
    }

    async fn unavailable(&self) -> Option<String> {
        // The probe runs smolvm --version: off the async workers.
        match tokio::task::spawn_blocking(probe::usable).await {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => return Some(why.to_string()),
            Err(e) => return Some(format!("probing smolvm failed: {e}")),
        }
        self.engine().await.err().map(|e| e.to_string())
    }

    async fn launch(
        &self,
        plan: &BottlePlan,
        progress: Progress,
    ) -> Result<ActiveBottle, BackendError> {
        crate::backend::check_launchable(plan)?;
        let smolvm = self.smolvm()?;
        let engine = self.engine().await?;
        let host = HostValues::read(plan, &self.user_home);
        launch::launch(&engine.docker, &smolvm, &self.home, plan, &host, &progress)
            .await
            .map_err(failed)
    }

    async fn attach(
        &self,
        bottle: &ActiveBottle,
        _how: Attach,
        spec: SessionSpec,
    ) -> Result<Session, BackendError> {
        let slug = &bottle.slug;
        crate::backend::check_attachable(&self.home, slug)?;
        let smolvm = self.smolvm()?;
        let docker = &self.engine().await?.docker;
        let machine = names::names(slug).agent;
        let listed = run::list(&smolvm).await.map_err(failed)?;
        let Some(m) = listed.iter().find(|m| m.name == machine) else {
            return Err(failed(format!(
                "the machine {machine} is gone (deleted outside bb): stop the bottle with x"
            )));
        };
        let addr = m
            .labels
            .get(names::ADDRESS)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                failed(format!(
                    "the machine {machine} has no bb.address label: stop the bottle with x"
                ))
            })?;
        // A bundle that died comes back with a new CA: the agent, which
        // read its trust store when it started, starts again on it.
        let new_ca = revive::restart_bundle(docker, &self.user_home, slug)
            .await
            .map_err(failed)?;
        let running = m.state == "running";
        if new_ca.is_some() && running {
            run::run(&smolvm, &cli::stop(&smolvm, &machine))
                .await
                .map_err(failed)?;
        }
        if new_ca.is_some() || !running {
            run::run(&smolvm, &cli::start(&smolvm, &machine))
                .await
                .map_err(failed)?;
        }
        if let Some(pem) = &new_ca {
            // smolvm copies files in from this machine's disk: the new
            // certificate (public) goes through a file of its own.
            let cert = crate::state::scratch(&self.home, slug)
                .map_err(failed)?
                .join("ca.crt");
            std::fs::write(&cert, pem).map_err(failed)?;
            let copied = run::run(
                &smolvm,
                &cli::copy_in(
                    &smolvm,
                    &machine,
                    &cert,
                    crate::backend::docker::trust::CA_GUEST,
                    0o644,
                ),
            )
            .await;
            crate::state::forget_lease(&self.home, slug);
            copied.map_err(failed)?;
        }
        launch::set_up_guest(&smolvm, &machine, addr)
            .await
            .map_err(failed)?;
        run::run(
            &smolvm,
            &cli::exec_detached(&smolvm, &machine, Some("node"), &holder()),
        )
        .await
        .map_err(failed)?;
        session::attach(&smolvm, &machine, Some("node"), &relay(), spec)
    }

    async fn send_work(
        &self,
        slug: &str,
        agent: &str,
        known: &[String],
    ) -> Result<Vec<u8>, BackendError> {
        let smolvm = self.smolvm()?;
        let machine = names::names(slug).agent;
        let listed = run::list(&smolvm).await.map_err(failed)?;
        let Some(m) = listed.iter().find(|m| m.name == machine) else {
            return Err(failed(format!(
                "bottle {slug}: its machine {machine} is gone, and its work with it"
            )));
        };
        // A stopped machine is started to read it; the agent starts only
        // with a session.
        if m.state != "running" {
            run::run(&smolvm, &cli::start(&smolvm, &machine))
                .await
                .map_err(failed)?;
        }
        let cmd = crate::work::snapshot::command(crate::workspace::GUEST_WORKSPACE, agent, known);
        run::run_bytes(
            &smolvm,
            &cli::exec(&smolvm, &machine, Some("node"), &cmd),
            Vec::new(),
        )
        .await
        .map_err(|e| {
            failed(format!(
                "bottle {slug}: reading its work failed (is git in the agent's image?): {e}"
            ))
        })
    }

    // The bundle is a Docker bundle like any other: its egress is changed
    // live the same way.
    fn applies_egress(&self) -> bool {
        true
    }

    async fn live_routes(
        &self,
        slug: &str,
    ) -> Result<Vec<bb_contract::egress::RouteConfig>, BackendError> {
        self.docker.live_routes(slug).await
    }

    async fn live_egress(&self, slug: &str) -> Result<crate::manifest::Egress, BackendError> {
        self.docker.live_egress(slug).await
    }

    async fn replace_egress(
        &self,
        slug: &str,
        egress: &crate::manifest::Egress,
    ) -> Result<(), BackendError> {
        self.docker.replace_egress(slug, egress).await
    }

    async fn update_egress(
        &self,
        slug: &str,
        req: &crate::supervise::EgressRequest,
    ) -> Result<(), BackendError> {
        self.docker.update_egress(slug, req).await
    }

    async fn list(&self) -> Result<Vec<ActiveBottle>, BackendError> {
        let docker = &self.engine().await?.docker;
        let bundles = inventory::bundles(docker, &self.home)
            .await
            .map_err(failed)?;
        let states = inventory::states(docker, &self.home)
            .await
            .map_err(failed)?;
        // smolvm is asked only where this home has a micro-VM bottle: the
        // workspace lists every few seconds, and most homes never do.
        if bundles.is_empty() && states.is_empty() {
            return Ok(Vec::new());
        }
        let machines = match self.smolvm() {
            Ok(s) => Some(run::list(&s).await.map_err(failed)?),
            Err(_) => None,
        };
        Ok(inventory::assemble(
            &self.home,
            machines.as_deref(),
            &bundles,
            &states,
        ))
    }

    async fn stop(&self, slug: &str) -> Result<(), BackendError> {
        let docker = &self.engine().await?.docker;
        let machine = names::names(slug).agent;
        let mut removed = 0;
        if let Ok(smolvm) = self.smolvm() {
            let listed = run::list(&smolvm).await.map_err(failed)?;
            if let Some(m) = listed.iter().find(|m| m.name == machine) {
                if !names::belongs_to(&m.labels, &self.home) {
                    return Err(failed(format!(
                        "bottle {slug} belongs to another bb home ({}); stop it from there",
                        m.labels.get(names::HOME).cloned().unwrap_or_default()
                    )));
                }
                run::run(&smolvm, &cli::delete(&smolvm, &machine))
                    .await
                    .map_err(failed)?;
                removed += 1;
            }
        }
        // The bundle and its state, as a container bottle's.
        match crate::backend::docker::stop_bottle(docker, &self.home, slug).await {
            Err(BackendError::NoSuchBottle(_)) if removed > 0 => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `console`'s command, with the holder paths moved under `dir`, run
    /// by sh: what it ran.
    fn run_console(dir: &std::path::Path) -> String {
        let at = |p: &str| dir.join(p.trim_start_matches('/')).display().to_string();
        let argv: Vec<String> = console(&["attach", "--tty"])
            .into_iter()
            .map(|a| {
                a.replace(GUEST_BINARY, &at(GUEST_BINARY))
                    .replace(LEGACY_GUEST_BINARY, &at(LEGACY_GUEST_BINARY))
            })
            .collect();
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn a_machine_runs_its_console_or_the_sidecar_an_older_bb_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let put = |p: &str, name: &str| {
            let path = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("#!/bin/sh\necho {name} \"$@\"\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        put(LEGACY_GUEST_BINARY, "sidecar");
        assert_eq!(run_console(dir.path()), "sidecar console attach --tty\n");
        put(GUEST_BINARY, "console");
        assert_eq!(run_console(dir.path()), "console console attach --tty\n");
    }
}
