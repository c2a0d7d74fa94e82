//! The Docker engine, through bollard.

use std::time::Duration;

use bollard::Docker;

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
            Err(_) => Err(DockerError::NotRunning { addr }),
            Ok(Err(e)) => Err(classify(&addr, &e)),
            Ok(Ok(_)) => Ok(Engine { docker, addr }),
        }
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
