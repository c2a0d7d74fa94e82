//! The Docker backend, through bollard: bottles as real containers.

pub(crate) mod agent;
pub mod bundle;
pub mod capability;
pub mod console;
pub mod context;
pub mod exec;
pub mod guest;
pub mod images;
pub mod inventory;
pub mod launch;
mod launch_agent;
pub mod live;
pub mod names;
pub mod operator;
pub mod revive;
pub(crate) mod sidecars;
pub(crate) mod trust;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;

use crate::backend::engines::EngineSpec;
use crate::backend::{
    ActiveBottle, Attach, Backend, BackendError, BottleNews, Progress, SessionSpec,
};
use crate::plan::{BackendKind, BottlePlan};
use crate::session::Session;
use bb_contract::operator::Request as OperatorRequest;

/// How long to wait for the engine to answer before calling it down.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a running engine may take to answer a ping while bottles on
/// it are shown.
const ALIVE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker engine answers at {addr}: start it (or point DOCKER_HOST, or config.yaml `engines:`, at one that runs), then try again")]
    NotRunning { addr: String },
    #[error("no permission to use the Docker socket at {addr}: add your user to the docker group and log in again")]
    Permission { addr: String },
    #[error("the TLS handshake with the Docker engine at {addr} failed ({detail}): check that the engine's `tls:` directory holds ca.pem (the engine's CA) and cert.pem/key.pem the engine's CA signed")]
    Tls { addr: String, detail: String },
    #[error("Docker at {addr} failed: {detail}")]
    Other { addr: String, detail: String },
}

/// A connection to the engine that has answered a ping.
pub struct Engine {
    pub docker: Docker,
    /// Its name in bb and its address, for messages.
    pub name: String,
    pub addr: String,
}

/// How long one request to an engine may take (bollard's timeout).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A client for the engine `spec` names (not yet asked anything).
fn client(spec: &EngineSpec) -> Result<Docker, bollard::errors::Error> {
    let (h, v) = (spec.host.as_str(), bollard::API_DEFAULT_VERSION);
    if h.starts_with("unix://") {
        Docker::connect_with_unix(h, REQUEST_TIMEOUT_SECS, v)
    } else if h.starts_with("ssh://") {
        // The user's own ssh: its config, agent and known hosts.
        Docker::connect_with_ssh(h, REQUEST_TIMEOUT_SECS, v, None)
    } else if let Some(tls) = &spec.tls {
        Docker::connect_with_ssl(h, &tls.key, &tls.cert, &tls.ca, REQUEST_TIMEOUT_SECS, v)
    } else {
        Docker::connect_with_http(h, REQUEST_TIMEOUT_SECS, v)
    }
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
    } else if ["certificate", "handshake", "tls", "alert"]
        .iter()
        .any(|w| lower.contains(w))
    {
        DockerError::Tls {
            addr,
            detail: chain,
        }
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
    pub async fn connect(spec: &EngineSpec) -> Result<Engine, DockerError> {
        let addr = spec.host.clone();
        let docker = client(spec).map_err(|e| classify(&addr, &e))?;
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
        Ok(Engine {
            docker,
            name: spec.name.clone(),
            addr,
        })
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
    /// Podman lists `runsc` whenever the binary is installed, set up for
    /// its networks or not, so there it is never taken as registered.
    pub async fn runsc_available(&self) -> Result<bool, DockerError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| classify(&self.addr, &e))?;
        Ok(
            info.runtimes.is_some_and(|r| r.contains_key("runsc"))
                && !is_podman(&self.docker).await,
        )
    }
}

/// Whether the engine is Podman's Docker-compatible service.
pub async fn is_podman(docker: &Docker) -> bool {
    docker.version().await.is_ok_and(|v| {
        v.components
            .unwrap_or_default()
            .iter()
            .any(|c| c.name.to_ascii_lowercase().contains("podman"))
    })
}

/// Bottles as Docker containers, on one engine.
pub struct DockerBackend {
    /// The bb home (what bb keeps of its bottles).
    home: PathBuf,
    user_home: PathBuf,
    spec: EngineSpec,
    engine: tokio::sync::OnceCell<Engine>,
}

impl DockerBackend {
    pub fn new(home: PathBuf, user_home: PathBuf, spec: EngineSpec) -> DockerBackend {
        DockerBackend {
            home,
            user_home,
            spec,
            engine: tokio::sync::OnceCell::new(),
        }
    }

    /// The engine this backend runs bottles on.
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    pub async fn engine(&self) -> Result<&Engine, DockerError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.spec))
            .await
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

    fn engine(&self) -> Option<&EngineSpec> {
        Some(&self.spec)
    }

    async fn alive(&self) -> bool {
        match self.engine().await {
            Ok(e) => matches!(
                tokio::time::timeout(ALIVE_TIMEOUT, e.docker.ping()).await,
                Ok(Ok(_))
            ),
            Err(_) => false,
        }
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
        let host = guest::HostValues::read(plan, &self.user_home);
        launch::launch(engine, &self.home, plan, &host, runsc, &progress)
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
        revive::bundle(docker, &self.user_home, &bottle.slug)
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
        capability::apply(docker, slug, lines, &progress)
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
        let config = live::read_config(self.docker().await?, slug)
            .await
            .map_err(BackendError::Failed)?;
        Ok(config.routes)
    }

    async fn live_egress(&self, slug: &str) -> Result<crate::manifest::Egress, BackendError> {
        let config = live::read_config(self.docker().await?, slug)
            .await
            .map_err(BackendError::Failed)?;
        Ok(live::config_to_egress(&config))
    }

    async fn replace_egress(
        &self,
        slug: &str,
        egress: &crate::manifest::Egress,
    ) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let mut config = live::read_config(docker, slug)
            .await
            .map_err(BackendError::Failed)?;
        live::egress_into_config(&mut config, egress).map_err(BackendError::Failed)?;
        live::apply_config(docker, slug, &config)
            .await
            .map_err(BackendError::Failed)
    }

    async fn update_egress(
        &self,
        slug: &str,
        req: &crate::supervise::EgressRequest,
    ) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        live::apply_egress(docker, slug, req)
            .await
            .map_err(BackendError::Failed)
    }

    async fn list(&self) -> Result<Vec<ActiveBottle>, BackendError> {
        inventory::bottles(self.docker().await?, &self.home, &self.spec.name)
            .await
            .map_err(failed)
    }

    async fn news(
        &self,
        slug: &str,
        since: Option<bb_contract::operator::Cursor>,
    ) -> Result<BottleNews, BackendError> {
        let docker = self.docker().await?;
        match operator::ask(docker, slug, &OperatorRequest::Read { since })
            .await
            .map_err(failed)?
        {
            bb_contract::operator::Answer::Read(r) => Ok(BottleNews::from(r)),
            other => Err(failed(format!(
                "the sidecar bundle of {slug} answered a read with {other:?}"
            ))),
        }
    }

    async fn watch(&self, slug: &str) -> Result<crate::backend::Changes, BackendError> {
        let docker = self.docker().await?;
        let stream = operator::watch(docker, slug).await.map_err(failed)?;
        Ok(Box::pin(stream))
    }

    async fn decide(
        &self,
        proposal: &crate::supervise::Proposal,
        decision: &crate::supervise::Decision,
        log: serde_json::Value,
    ) -> Result<(), BackendError> {
        let request = OperatorRequest::Decide {
            id: proposal.id.clone(),
            decision: decision.clone(),
            log,
        };
        operator::done(self.docker().await?, &proposal.slug, &request)
            .await
            .map_err(failed)
    }

    async fn file_proposal(
        &self,
        proposal: &crate::supervise::Proposal,
    ) -> Result<(), BackendError> {
        let request = OperatorRequest::File {
            proposal: proposal.clone(),
        };
        operator::done(self.docker().await?, &proposal.slug, &request)
            .await
            .map_err(failed)
    }

    async fn log_decision(&self, slug: &str, line: serde_json::Value) -> Result<(), BackendError> {
        operator::done(self.docker().await?, slug, &OperatorRequest::Log { line })
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
        stop_bottle(docker, &self.home, slug).await
    }
}

/// Keep a bottle's logs on this machine, then remove all of it from its
/// engine (and what an older bb kept of it here).
pub(crate) async fn stop_bottle(
    docker: &Docker,
    home: &std::path::Path,
    slug: &str,
) -> Result<(), BackendError> {
    let kept = operator::kept_logs(docker, slug).await;
    crate::state::keep_logs(home, slug, &kept).map_err(|e| {
        failed(format!(
            "{slug} keeps running: its logs could not be kept in {}: {e}",
            crate::home::archive_dir(home).display()
        ))
    })?;
    let removed = inventory::remove_bottle(docker, home, slug)
        .await
        .map_err(|e| match e {
            inventory::RemoveError::OtherHome { .. } => BackendError::Failed(e.to_string()),
            inventory::RemoveError::Docker(e) => failed(e),
        })?;
    let settled = crate::state::settle_legacy(home, slug).map_err(failed)?;
    crate::state::forget_lease(home, slug);
    if removed == 0 && !settled {
        return Err(BackendError::NoSuchBottle(slug.to_string()));
    }
    Ok(())
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
            .starts_with("no Docker engine answers at unix:///x: start it"));
        // A refused client certificate is no engine that is down.
        let e = classify(
            "tcp://10.0.0.6:2376",
            &E("error trying to connect: received fatal alert: BadCertificate"),
        );
        assert!(matches!(e, DockerError::Tls { .. }), "{e}");
        assert!(e.to_string().contains("ca.pem"));
    }
}
