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
}

impl LocalBackend {
    pub fn new(command: String) -> LocalBackend {
        LocalBackend {
            command,
            bottles: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Notify::new(),
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
