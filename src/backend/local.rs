//! The local backend: each "bottle" is just a program on this machine in a
//! PTY, with no isolation at all. It exists so bb's own tests can drive the
//! workspace without Docker; bb offers it only behind a hidden flag.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ActiveBottle, Attach, Backend, BackendError, BottleState, Progress, SessionSpec};
use crate::plan::{BackendKind, BottlePlan};
use crate::session::pty::PtyCommand;
use crate::session::Session;

pub struct LocalBackend {
    /// A shell command line each session runs, with BB_AGENT, BB_SLUG and
    /// BB_RESUME (1 when resuming) in its environment.
    command: String,
    bottles: Mutex<BTreeMap<String, (ActiveBottle, u32)>>,
    /// Its bottles changed (they change only here: launched, stopped).
    changes: tokio::sync::Notify,
    /// Where its bottles keep their state (`<dir>/<slug>/`), laid out as a
    /// bundle's volume and read the same way (`bb_sidecar::operator`).
    state: Option<std::path::PathBuf>,
}

impl LocalBackend {
    pub fn new(command: String) -> LocalBackend {
        LocalBackend {
            command,
            bottles: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Notify::new(),
            state: None,
        }
    }

    /// With its bottles' state in `dir`.
    pub fn with_state(mut self, dir: std::path::PathBuf) -> LocalBackend {
        self.state = Some(dir);
        self
    }

    /// Ask `slug`'s state as a bundle's operator channel is asked.
    fn ask(
        &self,
        slug: &str,
        request: &bb_contract::operator::Request,
    ) -> Result<bb_contract::operator::Answer, BackendError> {
        let Some(dir) = &self.state else {
            return Err(BackendError::Failed(format!(
                "bottle {slug}: local bottles keep no state here"
            )));
        };
        let dir = dir.join(slug);
        let _ = std::fs::create_dir_all(dir.join("proposals"));
        let json =
            serde_json::to_string(request).map_err(|e| BackendError::Failed(e.to_string()))?;
        match bb_sidecar::operator::answer(&dir, &json) {
            bb_contract::operator::Answer::Failed { why } => Err(BackendError::Failed(why)),
            a => Ok(a),
        }
    }

    fn bottles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (ActiveBottle, u32)>> {
        self.bottles.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    async fn unavailable(&self) -> Option<String> {
        None
    }

    async fn launch(
        &self,
        plan: &BottlePlan,
        progress: Progress,
    ) -> Result<ActiveBottle, BackendError> {
        super::check_launchable(plan)?;
        let _ = progress.send(format!("starting local session for {}", plan.agent).into());
        let bottle = ActiveBottle {
            engine: String::new(),
            slug: plan.slug.clone(),
            agent: plan.agent.clone(),
            bottle: plan.bottle.clone(),
            backend: BackendKind::Local,
            started_at: None,
            state: BottleState::Running,
            sidecars: Vec::new(),
            down: None,
            template: Some(plan.template),
        };
        self.bottles()
            .insert(plan.slug.clone(), (bottle.clone(), 0));
        self.changes.notify_one();
        Ok(bottle)
    }

    async fn attach(
        &self,
        bottle: &ActiveBottle,
        how: Attach,
        spec: SessionSpec,
    ) -> Result<Session, BackendError> {
        let runs = {
            let mut bottles = self.bottles();
            let entry = bottles
                .get_mut(&bottle.slug)
                .ok_or_else(|| BackendError::NoSuchBottle(bottle.slug.clone()))?;
            entry.1 += 1;
            entry.1
        };
        // Resume needs an earlier session to continue; else start fresh.
        let resume = how == Attach::Resume && runs > 1;
        let cmd = PtyCommand {
            program: "sh".into(),
            args: vec!["-c".into(), self.command.clone()],
            env: vec![
                ("BB_AGENT".into(), bottle.agent.clone()),
                ("BB_SLUG".into(), bottle.slug.clone()),
                ("BB_RESUME".into(), if resume { "1" } else { "0" }.into()),
            ],
            cwd: None,
        };
        super::spawn_in_pty(&cmd, spec).map_err(|e| BackendError::Failed(e.to_string()))
    }

    async fn list(&self) -> Result<Vec<ActiveBottle>, BackendError> {
        Ok(self.bottles().values().map(|(b, _)| b.clone()).collect())
    }

    async fn changed(&self, _since: std::time::SystemTime) {
        self.changes.notified().await;
    }

    async fn news(
        &self,
        slug: &str,
        since: Option<bb_contract::operator::Cursor>,
    ) -> Result<super::BottleNews, BackendError> {
        if self.state.is_none() {
            return Ok(super::BottleNews::default());
        }
        match self.ask(slug, &bb_contract::operator::Request::Read { since })? {
            bb_contract::operator::Answer::Read(r) => Ok(r.into()),
            other => Err(BackendError::Failed(format!("{other:?}"))),
        }
    }

    async fn decide(
        &self,
        proposal: &crate::supervise::Proposal,
        decision: &crate::supervise::Decision,
        log: serde_json::Value,
    ) -> Result<(), BackendError> {
        let request = bb_contract::operator::Request::Decide {
            id: proposal.id.clone(),
            decision: decision.clone(),
            log,
        };
        self.ask(&proposal.slug, &request).map(|_| ())
    }

    async fn file_proposal(
        &self,
        proposal: &crate::supervise::Proposal,
    ) -> Result<(), BackendError> {
        let request = bb_contract::operator::Request::File {
            proposal: proposal.clone(),
        };
        self.ask(&proposal.slug, &request).map(|_| ())
    }

    async fn log_decision(&self, slug: &str, line: serde_json::Value) -> Result<(), BackendError> {
        self.ask(slug, &bb_contract::operator::Request::Log { line })
            .map(|_| ())
    }

    async fn stop(&self, slug: &str) -> Result<(), BackendError> {
        let removed = self.bottles().remove(slug);
        // One waiter (discovery); a change before it waits is kept for it.
        self.changes.notify_one();
        removed
            .map(|_| ())
            .ok_or_else(|| BackendError::NoSuchBottle(slug.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn discovery_waits_for_a_change_and_misses_none() {
        let local = std::sync::Arc::new(LocalBackend::new("true".into()));
        // A change before discovery waits is kept for it.
        let _ = local.stop("gone").await;
        local.changed(std::time::SystemTime::now()).await;
        // Nothing changed: it waits.
        let waiting = tokio::spawn({
            let local = local.clone();
            async move { local.changed(std::time::SystemTime::now()).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let _ = local.stop("gone").await;
        waiting.await.unwrap();
    }
}
