//! `bb-sidecar git-gate`: the agent's git remote. Smart HTTP is served by
//! git's own `git http-backend`; the gate keeps a bare mirror per remote,
//! refreshes it from the real upstream before every fetch (failing closed
//! when upstream is unreachable), and a pre-receive hook refuses deletions
//! and non-fast-forward updates (unless the remote allows them), scans
//! every object the push brings with the shared DLP rules, then pushes
//! what is clean upstream with the gate's credential before accepting it.
//! Only the smart protocol is served. The agent never holds the credential.

mod hold;
mod push;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub use bb_contract::gate::{GateConfig, RemoteConfig};

/// Per-remote credentials as files only the gate can read.
fn ssh_command(keys: &Path, r: &RemoteConfig) -> Option<String> {
    let key_env = r.identity_env.as_ref()?;
    let key = crate::secrets::get(key_env)?;
    let _ = std::fs::create_dir_all(keys);
    let key_path = keys.join(format!("{}.key", r.name));
    let kh_path = keys.join(format!("{}.known_hosts", r.name));
    write_private(&key_path, &(key.trim_end().to_string() + "\n")).ok()?;
    write_private(
        &kh_path,
        &r.known_host.clone().map(|k| k + "\n").unwrap_or_default(),
    )
    .ok()?;
    Some(format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        key_path.display(),
        kh_path.display()
    ))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
}

async fn git(dir: &Path, args: &[&str], ssh: Option<&str>) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    if let Some(s) = ssh {
        cmd.env("GIT_SSH_COMMAND", s);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

pub struct Gate {
    pub config: GateConfig,
    keys: PathBuf,
}

impl Gate {
    pub fn new(config: GateConfig) -> Gate {
        // The bundle's runtime dir is a tmpfs: keys never reach a disk.
        let base = std::env::var_os("BB_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let keys = base.join(format!("bb-git-gate-keys-{}", std::process::id()));
        Gate { config, keys }
    }

    fn remote(&self, name: &str) -> Option<&RemoteConfig> {
        self.config.remotes.iter().find(|r| r.name == name)
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.config.repos_dir.join(format!("{name}.git"))
    }

    /// Make each bare mirror with its hook; a first fetch is tried, and a
    /// failure only means fetches fail closed until upstream answers.
    pub async fn prepare(&self) -> Result<(), String> {
        let hook = self
            .config
            .hook_binary
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .ok_or("cannot find the hook program")?;
        for r in &self.config.remotes {
            let repo = self.repo(&r.name);
            if !repo.join("HEAD").exists() {
                std::fs::create_dir_all(&repo).map_err(|e| e.to_string())?;
                git(&repo, &["init", "--bare", "--quiet"], None).await?;
                git(&repo, &["remote", "add", "origin", &r.upstream], None).await?;
                git(&repo, &["config", "http.receivepack", "true"], None).await?;
                git(
                    &repo,
                    &["config", "uploadpack.allowAnySHA1InWant", "false"],
                    None,
                )
                .await?;
            }
            let hook_path = repo.join("hooks/pre-receive");
            std::fs::create_dir_all(repo.join("hooks")).map_err(|e| e.to_string())?;
            std::fs::write(
                &hook_path,
                format!("#!/bin/sh\nexec '{}' git-gate-hook\n", hook.display()),
            )
            .map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            if let Err(e) = self.refresh(r).await {
                eprintln!("bb-sidecar git-gate: {}: upstream not reachable yet ({e}); fetches fail until it is", r.name);
            }
        }
        Ok(())
    }

    async fn refresh(&self, r: &RemoteConfig) -> Result<(), String> {
        let ssh = ssh_command(&self.keys, r);
        let repo = self.repo(&r.name);
        git(
            &repo,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "origin",
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            ssh.as_deref(),
        )
        .await?;
        // Clones check out what upstream's HEAD names.
        let symref = git(
            &repo,
            &["ls-remote", "--symref", "origin", "HEAD"],
            ssh.as_deref(),
        )
        .await?;
        if let Some(head) = symref
            .lines()
            .find_map(|l| l.strip_prefix("ref: "))
            .and_then(|l| l.split_whitespace().next())
        {
            git(&repo, &["symbolic-ref", "HEAD", head], None).await?;
        }
        Ok(())
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let Some(name) = path
            .trim_start_matches('/')
            .split(".git/")
            .next()
            .filter(|n| !n.is_empty() && !n.contains('/'))
        else {
            return text(StatusCode::NOT_FOUND, "no such repository on this gate");
        };
        let Some(remote) = self.remote(name).cloned() else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("no repository {name} on this gate"),
            );
        };
        let fetching =
            query.contains("service=git-upload-pack") || path.ends_with("/git-upload-pack");
        let listing = path.ends_with("/info/refs");
        // Smart HTTP only: the dumb protocol reads the mirror's files
        // directly, past the refresh from upstream.
        let smart = (listing
            && (query.contains("service=git-upload-pack")
                || query.contains("service=git-receive-pack")))
            || (req.method() == http::Method::POST
                && (path.ends_with("/git-upload-pack") || path.ends_with("/git-receive-pack")));
        if !smart {
            return text(
                StatusCode::FORBIDDEN,
                "bb git-gate: only git's smart HTTP protocol is served",
            );
        }
        if fetching && listing {
            // What the agent fetches is what upstream has now, or nothing.
            if let Err(e) = self.refresh(&remote).await {
                let last = e.lines().last().unwrap_or("").to_string();
                return git_error(&format!(
                    "bb git-gate: upstream {} is unreachable, so nothing is served ({last})",
                    remote.upstream
                ));
            }
        }
        let headers = req.headers().clone();
        let method = req.method().to_string();
        let body = match Limited::new(req.into_body(), self.config.push_bytes)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "bb git-gate: push too large"),
        };
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("http-backend")
            .env("GIT_PROJECT_ROOT", &self.config.repos_dir)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", &path)
            .env("QUERY_STRING", &query)
            .env("CONTENT_TYPE", header("content-type"))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
            .env("GIT_PROTOCOL", header("git-protocol"))
            .env("REMOTE_ADDR", "agent")
            .env("REMOTE_USER", "agent")
            .env("BB_GATE_REMOTE", &remote.name)
            .env("BB_DLP_BIP39", if self.config.bip39 { "1" } else { "0" })
            .env(
                "BB_GATE_ALLOW_FORCE_PUSH",
                if remote.allow_force_push { "1" } else { "0" },
            )
            .env(
                "BB_GATE_REVIEW",
                if remote.review_pushes { "1" } else { "0" },
            )
            .env("BB_GATE_UPSTREAM", &remote.upstream)
            .env(
                "BB_GATE_QUEUE",
                self.config
                    .queue
                    .as_deref()
                    .unwrap_or(std::path::Path::new("")),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ssh) = ssh_command(&self.keys, &remote) {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        let Ok(mut child) = cmd.spawn() else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bb git-gate: cannot run git http-backend",
            );
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&body).await;
        }
        let Ok(out) = child.wait_with_output().await else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bb git-gate: git http-backend failed",
            );
        };
        cgi_response(&out.stdout)
    }
}

/// An error git shows its user (`fatal: remote error: ...`): an ERR
/// packet in a smart-protocol advertisement.
fn git_error(message: &str) -> Response<Full<Bytes>> {
    let payload = format!("ERR {message}\n");
    let mut r = Response::new(Full::new(Bytes::from(format!(
        "{:04x}{payload}",
        payload.len() + 4
    ))));
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/x-git-upload-pack-advertisement"),
    );
    r
}

fn text(status: StatusCode, t: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{t}\n"))));
    *r.status_mut() = status;
    r
}

/// A CGI answer (headers, blank line, body) as an HTTP response.
fn cgi_response(out: &[u8]) -> Response<Full<Bytes>> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return text(
            StatusCode::BAD_GATEWAY,
            "bb git-gate: git http-backend gave no headers",
        );
    };
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(&out[at + sep..])));
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            if let Some(code) = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
            {
                *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            }
        } else if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(k.trim()),
            http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

pub async fn serve(listener: TcpListener, gate: Arc<Gate>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let gate = gate.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let gate = gate.clone();
                async move { Ok::<_, Infallible>(gate.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", config_path.display()))?;
    let config: GateConfig = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let gate = Gate::new(config);
    gate.prepare().await.map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "bb-sidecar git-gate: listening on {}",
        listener.local_addr()?
    );
    serve(listener, Arc::new(gate)).await?;
    Ok(())
}

// ---- the pre-receive hook ----

pub use push::{pre_receive, scan_push, Leak};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_answers_become_responses() {
        let r = cgi_response(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno");
        assert_eq!(r.status(), 403);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let r = cgi_response(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e#");
        assert_eq!(r.status(), 200);
    }
}
