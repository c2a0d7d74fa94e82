//! The agent's console: the agent CLI runs under bb-sidecar's console
//! holder, the agent container's main process, which owns its PTY and
//! keeps its screen. A session is a `docker exec` of the holder's relay:
//! it gets the screen as it is now (with the history printed while no bb
//! watched), then live output. Leaving bb, or a crash of bb, ends only the
//! relay; the next bb attaches to the same agent process.

use bb_sidecar::console::{Frame, GUEST_BINARY};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::StartContainerOptions;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backend::SessionSpec;
use crate::session::{Session, SessionEvent, SessionIo, SharedTerm, Term};
use crate::shell;

/// Marks that the agent has run in this home: later starts continue.
const STARTED_MARK: &str = "/home/node/.bb/started";

/// The agent's start script. The first start is a fresh session; every
/// later one (the agent exited, the container was restarted or rebuilt)
/// continues the conversation, falling back to a fresh one when there is
/// nothing to continue (`history` is the provider's test for a
/// conversation; a resume that fails at once also falls back).
pub fn start_script(fresh: &[String], resume: &[String], history: Option<&str>) -> String {
    let fresh = shell::join(fresh);
    let fallback = format!(
        "printf '\\r\\nbb: nothing to continue; starting a new session\\r\\n'; exec {fresh}"
    );
    let attempt = format!(
        "started=$(date +%s); {resume}; rc=$?; \
         if [ $rc -ne 0 ] && [ $(( $(date +%s) - started )) -lt 5 ]; then {fallback}; fi; exit $rc",
        resume = shell::join(resume)
    );
    let resume = match history {
        None => attempt,
        Some(h) => format!("if {h}; then {attempt}; else {fallback}; fi"),
    };
    format!(
        "if [ -e {STARTED_MARK} ]; then {resume}; \
         else mkdir -p \"$(dirname {STARTED_MARK})\"; touch {STARTED_MARK}; exec {fresh}; fi"
    )
}

/// The agent container's command: the holder, which starts the agent when
/// the first session gives it a size (so at its pane's size, and only after
/// launch has set the bottle up).
pub fn main_command(fresh: &[String], resume: &[String], history: Option<&str>) -> Vec<String> {
    [GUEST_BINARY, "console", "serve", "--", "sh", "-c"]
        .into_iter()
        .map(String::from)
        .chain([start_script(fresh, resume, history)])
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the agent container is gone (removed outside bb): stop the bottle with x")]
    Gone,
    #[error("this bottle was started by an older bb whose agent cannot be re-attached: copy out its work (docker cp), then stop it with x and start it again")]
    Legacy,
    #[error("Docker failed while {doing}: {source}")]
    Docker {
        doing: &'static str,
        source: bollard::errors::Error,
    },
}

fn docker_err(doing: &'static str) -> impl Fn(bollard::errors::Error) -> ConsoleError {
    move |source| match source {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => ConsoleError::Gone,
        source => ConsoleError::Docker { doing, source },
    }
}

struct ConsoleIo {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SessionIo for ConsoleIo {
    fn write(&self, bytes: &[u8]) {
        let _ = self.frames.send(Frame::Input(bytes.to_vec()).encode());
    }

    fn resize(&self, rows: u16, cols: u16) {
        let _ = self.frames.send(Frame::Resize { rows, cols }.encode());
    }

    fn kill(&self) {
        // Ending the relay detaches; the agent keeps running.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Attach a session to the agent's console, starting the container first
/// when it is stopped (the agent exited, or was killed).
pub async fn attach(
    docker: &Docker,
    container: &str,
    spec: SessionSpec,
) -> Result<Session, ConsoleError> {
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(docker_err("checking the agent container"))?;
    // The relay is the holder the container runs (an older bb's too).
    let Some(holder) = info
        .config
        .as_ref()
        .and_then(|c| c.cmd.as_deref())
        .and_then(super::agent::holder_path)
        .map(str::to_string)
    else {
        return Err(ConsoleError::Legacy);
    };
    if info.state.as_ref().and_then(|s| s.running) != Some(true) {
        docker
            .start_container(container, None::<StartContainerOptions>)
            .await
            .map_err(docker_err("starting the agent container"))?;
    }
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                user: Some("node".into()),
                cmd: Some(vec![holder, "console".into(), "attach".into()]),
                ..Default::default()
            },
        )
        .await
        .map_err(docker_err("attaching to the agent"))?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: Some(64 * 1024),
            }),
        )
        .await
        .map_err(docker_err("attaching to the agent"))?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(ConsoleError::Docker {
            doing: "attaching to the agent",
            source: bollard::errors::Error::DockerStreamError {
                error: "the relay did not attach".into(),
            },
        });
    };
    let term = SharedTerm::new(Term::new(spec.rows, spec.cols, spec.scrollback));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // The holder draws its screen at the size a session first sends.
    let _ = tx.send(
        Frame::Resize {
            rows: spec.rows,
            cols: spec.cols,
        }
        .encode(),
    );
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                break;
            }
        }
    });
    let reader_term = term.clone();
    let replies = tx.clone();
    let notify = spec.notify.clone();
    let id = spec.id;
    let d = docker.clone();
    let name = container.to_string();
    let reader = tokio::spawn(async move {
        while let Some(chunk) = output.next().await {
            let Ok(chunk) = chunk else { break };
            let (answer, first) = reader_term.feed(&chunk.into_bytes());
            if !answer.is_empty() {
                let _ = replies.send(Frame::Input(answer).encode());
            }
            if first {
                notify(SessionEvent::Output(id));
            }
        }
        // The relay ended: the agent exited (the container stops with its
        // code) or the holder could not be reached.
        let state = d
            .inspect_container(&name, None)
            .await
            .ok()
            .and_then(|i| i.state);
        let code = match state {
            Some(s) if s.running != Some(true) => s.exit_code.map(|c| c as i32),
            _ => None,
        };
        notify(SessionEvent::Exited(id, code));
    });
    Ok(Session::new(
        spec.id,
        term,
        Box::new(ConsoleIo {
            frames: tx,
            tasks: vec![reader, writer],
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_first_start_is_fresh_and_later_ones_continue() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("started");
        let script = |history: Option<&str>| {
            start_script(
                &["echo".to_string(), "FRESH".into()],
                &["echo".to_string(), "RESUMED".into()],
                history,
            )
            .replace(STARTED_MARK, &mark.display().to_string())
        };
        assert_eq!(sh(&script(None)), "FRESH\n");
        assert!(mark.exists());
        assert_eq!(sh(&script(None)), "RESUMED\n");
        // A provider's history test that finds no conversation.
        let out = sh(&script(Some("false")));
        assert!(
            out.contains("nothing to continue") && out.ends_with("FRESH\n"),
            "{out}"
        );
    }

    #[test]
    fn a_resume_that_fails_at_once_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("started");
        std::fs::write(&mark, "").unwrap();
        let script = start_script(
            &["echo".to_string(), "FRESH".into()],
            &["false".into()],
            None,
        )
        .replace(STARTED_MARK, &mark.display().to_string());
        assert!(sh(&script).ends_with("FRESH\n"));
    }
}
