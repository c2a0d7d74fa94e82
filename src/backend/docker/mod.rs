//! The Docker backend, through bollard: bottles as real containers.

pub(crate) mod agent;
pub mod bundle;
pub mod capability;
pub mod console;
pub mod context;
pub mod exec;
pub mod images;
pub mod inventory;
pub mod launch;
pub mod live;
pub mod names;
pub mod revive;
pub(crate) mod sidecars;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;

use crate::backend::{ActiveBottle, Attach, Backend, BackendError, Progress, SessionSpec};
use crate::plan::{BackendKind, BottlePlan};
use crate::session::Session;

/// How long to wait for the engine to answer before calling it down.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker is not reachable at {addr}: start the Docker engine (or point DOCKER_HOST at it), then try again")]
    NotRunning { addr: String },
    #[error("no permission to use the Docker socket at {addr}: add your user to the docker group and log in again")]
    Permission { addr: String },
    #[error("Docker at {addr} failed: {detail}")]
    Other { addr: String, detail: String },
}

/// A connection to the engine that has answered a ping.
pub struct Engine {
    pub docker: Docker,
    pub addr: String,
}

fn engine_addr() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Turn a bollard error into one that says what to do.
pub fn classify(addr: &str, err: &(dyn std::error::Error + 'static)) -> DockerError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    let addr = addr.to_string();
    if lower.contains("permission denied") {
        DockerError::Permission { addr }
    } else if lower.contains("no such file")
        || lower.contains("connection refused")
        || lower.contains("socket not found")
        || lower.contains("timed out")
        || lower.contains("error trying to connect")
    {
        DockerError::NotRunning { addr }
    } else {
        DockerError::Other {
            addr,
            detail: chain,
        }
    }
}

impl Engine {
    pub async fn connect() -> Result<Engine, DockerError> {
        let addr = engine_addr();
        let docker = Docker::connect_with_local_defaults().map_err(|e| classify(&addr, &e))?;
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Err(_) => return Err(DockerError::NotRunning { addr }),
            Ok(Err(e)) => return Err(classify(&addr, &e)),
            Ok(Ok(_)) => {}
        }
        // Speak the engine's API version, however old it is.
        let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(classify(&addr, &e)),
            Err(_) => return Err(DockerError::NotRunning { addr }),
        };
        Ok(Engine { docker, addr })
    }

    pub async fn image_exists(&self, reference: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(classify(&self.addr, &e)),
        }
    }

    /// Whether gVisor's `runsc` runtime is registered with the engine.
    pub async fn runsc_available(&self) -> Result<bool, DockerError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| classify(&self.addr, &e))?;
        Ok(info.runtimes.is_some_and(|r| r.contains_key("runsc")))
    }
}

/// Bottles as Docker containers.
pub struct DockerBackend {
    /// The bb home (state dirs).
    home: PathBuf,
    user_home: PathBuf,
    engine: tokio::sync::OnceCell<Engine>,
}

impl DockerBackend {
    pub fn new(home: PathBuf, user_home: PathBuf) -> DockerBackend {
        DockerBackend {
            home,
            user_home,
            engine: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn engine(&self) -> Result<&Engine, DockerError> {
        self.engine.get_or_try_init(Engine::connect).await
    }

    async fn docker(&self) -> Result<&Docker, BackendError> {
        self.engine()
            .await
            .map(|e| &e.docker)
            .map_err(|e| BackendError::Failed(e.to_string()))
    }
}

fn failed(e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(e.to_string())
}

#[async_trait]
impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    async fn unavailable(&self) -> Option<String> {
        self.engine().await.err().map(|e| e.to_string())
    }

    async fn launch(
        &self,
        plan: &BottlePlan,
        progress: Progress,
    ) -> Result<ActiveBottle, BackendError> {
        crate::backend::check_launchable(plan)?;
        let engine = self.engine().await.map_err(failed)?;
        let runsc = engine.runsc_available().await.unwrap_or(false);
        let host = launch::HostValues::read(plan, &self.user_home);
        launch::launch(&engine.docker, &self.home, plan, &host, runsc, &progress)
            .await
            .map_err(failed)
    }

    async fn attach(
        &self,
        bottle: &ActiveBottle,
        _how: Attach,
        spec: SessionSpec,
    ) -> Result<Session, BackendError> {
        // The agent is the container's main process: attaching never
        // starts a second one, and its start script decides between a
        // fresh session and continuing the last. Whatever of the bottle is
        // down (its bundle, its agent) is started again first.
        crate::backend::check_attachable(&self.home, &bottle.slug)?;
        let docker = self.docker().await?;
        revive::bundle(docker, &self.home, &self.user_home, &bottle.slug)
            .await
            .map_err(failed)?;
        console::attach(docker, &names::names(&bottle.slug).agent, spec)
            .await
            .map_err(failed)
    }

    fn applies_egress(&self) -> bool {
        true
    }

    fn applies_capability(&self) -> bool {
        true
    }

    async fn apply_capability(
        &self,
        slug: &str,
        lines: &str,
        progress: Progress,
    ) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        capability::apply(docker, &self.home, slug, lines, &progress)
            .await
            .map_err(BackendError::Failed)
    }

    async fn send_work(
        &self,
        slug: &str,
        agent: &str,
        known: &[String],
    ) -> Result<Vec<u8>, BackendError> {
        let docker = self.docker().await?;
        let name = names::names(slug).agent;
        let info = match docker.inspect_container(&name, None).await {
            Ok(i) => i,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(BackendError::Failed(format!(
                    "bottle {slug}: its agent container {name} is gone, and its work with it"
                )))
            }
            Err(e) => return Err(failed(e)),
        };
        // A stopped agent container is started to read it: its console
        // holder waits for a session, so the agent itself does not start.
        if !info.state.and_then(|s| s.running).unwrap_or(false) {
            docker
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(failed)?;
        }
        let cmd = crate::work::snapshot::command(crate::workspace::GUEST_WORKSPACE, agent, known);
        let (code, out, err) = exec::run_bytes(docker, &name, "node", &cmd)
            .await
            .map_err(failed)?;
        if code != 0 {
            return Err(BackendError::Failed(format!(
                "bottle {slug}: reading its work failed (is git in the agent's image?): {}",
                err.trim().lines().last().unwrap_or("no reason given")
            )));
        }
        Ok(out)
    }

    async fn live_routes(
        &self,
        slug: &str,
    ) -> Result<Vec<bb_contract::egress::RouteConfig>, BackendError> {
        let config = live::read_config(&self.home, slug).map_err(BackendError::Failed)?;
        Ok(config.routes)
    }

    async fn live_egress(&self, slug: &str) -> Result<crate::manifest::Egress, BackendError> {
        let config = live::read_config(&self.home, slug).map_err(BackendError::Failed)?;
        Ok(live::config_to_egress(&config))
    }

    async fn replace_egress(
        &self,
        slug: &str,
        egress: &crate::manifest::Egress,
    ) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let mut config = live::read_config(&self.home, slug).map_err(BackendError::Failed)?;
        live::egress_into_config(&mut config, egress).map_err(BackendError::Failed)?;
        live::apply_config(docker, &self.home, slug, &config)
            .await
            .map_err(BackendError::Failed)
    }

    async fn update_egress(
        &self,
        slug: &str,
        req: &crate::supervise::EgressRequest,
    ) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        live::apply_egress(docker, &self.home, slug, req)
            .await
            .map_err(BackendError::Failed)
    }

    async fn list(&self) -> Result<Vec<ActiveBottle>, BackendError> {
        inventory::bottles(self.docker().await?, &self.home)
            .await
            .map_err(failed)
    }

    async fn changed(&self, since: std::time::SystemTime) {
        match self.docker().await {
            Ok(docker) => {
                inventory::changed(docker, since).await;
            }
            Err(_) => tokio::time::sleep(crate::backend::LIST_POLL).await,
        }
    }

    async fn stop(&self, slug: &str) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let removed = inventory::remove_bottle(docker, &self.home, slug)
            .await
            .map_err(|e| match e {
                inventory::RemoveError::OtherHome { .. } => BackendError::Failed(e.to_string()),
                inventory::RemoveError::Docker(e) => failed(e),
            })?;
        let settled = crate::state::settle(&self.home, slug).map_err(failed)?;
        if removed == 0 && !settled {
            return Err(BackendError::NoSuchBottle(slug.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {}

    #[test]
    fn errors_say_what_to_do() {
        let e = classify(
            "unix:///x",
            &E("error trying to connect: Permission denied (os error 13)"),
        );
        assert!(matches!(e, DockerError::Permission { .. }));
        assert!(e.to_string().contains("docker group"));
        let e = classify(
            "unix:///x",
            &E("error trying to connect: No such file or directory"),
        );
        assert!(e
            .to_string()
            .starts_with("Docker is not reachable at unix:///x"));
    }
}
