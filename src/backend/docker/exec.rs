//! Agent sessions as Docker execs with a TTY: output streams into the
//! pane's emulator, keys go to the exec's stdin, resizes use resize_exec.

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backend::{Attach, SessionSpec};
use crate::session::{Session, SessionEvent, SessionIo, SharedTerm, Term};
use crate::shell;

/// Docker's detach sequence swallows keys (Ctrl-P by default); this one
/// is one nobody types.
pub const DETACH_KEYS: &str = "ctrl-@,ctrl-^,ctrl-@,ctrl-^";
const PID_FILE: &str = "/tmp/.bb-session.pid";

/// Run a command to completion without a TTY; its exit code and output.
pub async fn run(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: &[&str],
) -> Result<(i64, String), bollard::errors::Error> {
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                user: Some(user.to_string()),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        )
        .await?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, None::<StartExecOptions>)
        .await?
    {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
    }
    let code = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(-1);
    Ok((code, text))
}

/// The shell script a session runs: note its process group (so the next
/// attach can end a session left behind), then the agent CLI. A resume that
/// fails at once (nothing to continue) falls back to a fresh session; with
/// `history`, the provider's test for a conversation, bb does not even try
/// when there is none (a cold CLI can take longer than "at once").
pub fn session_script(
    fresh: &[String],
    resume: &[String],
    history: Option<&str>,
    how: Attach,
) -> String {
    let fresh = shell::join(fresh);
    let fallback = format!(
        "printf '\\r\\nbb: nothing to continue; starting a new session\\r\\n'; exec {fresh}"
    );
    let attempt = format!(
        "started=$(date +%s); {resume}; rc=$?; \
         if [ $rc -ne 0 ] && [ $(( $(date +%s) - started )) -lt 5 ]; then {fallback}; fi; exit $rc",
        resume = shell::join(resume)
    );
    match (how, history) {
        (Attach::Fresh, _) => format!("echo $$ > {PID_FILE}; exec {fresh}"),
        (Attach::Resume, None) => format!("echo $$ > {PID_FILE}; {attempt}"),
        (Attach::Resume, Some(h)) => {
            format!("echo $$ > {PID_FILE}; if {h}; then {attempt}; else {fallback}; fi")
        }
    }
}

/// End a session an earlier attach left running (bb quit or crashed).
pub async fn end_previous(docker: &Docker, container: &str) {
    let script = format!(
        "p=$(cat {PID_FILE} 2>/dev/null) && kill -HUP -- -$p 2>/dev/null; rm -f {PID_FILE}; true"
    );
    let _ = run(docker, container, "node", &["sh", "-c", &script]).await;
}

struct ExecIo {
    docker: Docker,
    exec_id: String,
    input: mpsc::UnboundedSender<Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
}

impl SessionIo for ExecIo {
    fn write(&self, bytes: &[u8]) {
        let _ = self.input.send(bytes.to_vec());
    }

    fn resize(&self, rows: u16, cols: u16) {
        let docker = self.docker.clone();
        let id = self.exec_id.clone();
        self.runtime.spawn(async move {
            // The exec may not be running yet right after start; retry.
            for _ in 0..10 {
                let ok = docker
                    .resize_exec(
                        &id,
                        ResizeExecOptions {
                            h: rows as i32,
                            w: cols as i32,
                        },
                    )
                    .await
                    .is_ok();
                if ok {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
    }

    fn kill(&self) {
        // Closing the connection ends the exec's TTY; the bottle stays.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start the agent CLI in `container` as a session.
pub async fn attach(
    docker: &Docker,
    container: &str,
    workdir: &str,
    script: String,
    spec: SessionSpec,
) -> Result<Session, bollard::errors::Error> {
    end_previous(docker, container).await;
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                console_size: Some(vec![spec.rows as usize, spec.cols as usize]),
                detach_keys: Some(DETACH_KEYS.to_string()),
                env: Some(vec![
                    "TERM=xterm-256color".into(),
                    "COLORTERM=truecolor".into(),
                ]),
                user: Some("node".into()),
                working_dir: Some(workdir.to_string()),
                cmd: Some(vec!["sh".into(), "-c".into(), script]),
                ..Default::default()
            },
        )
        .await?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: true,
                output_capacity: Some(64 * 1024),
            }),
        )
        .await?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(bollard::errors::Error::DockerStreamError {
            error: "the exec did not attach".into(),
        });
    };
    let term = SharedTerm::new(Term::new(spec.rows, spec.cols, spec.scrollback));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
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
    let exec_id = exec.id.clone();
    let reader = tokio::spawn(async move {
        while let Some(chunk) = output.next().await {
            let Ok(chunk) = chunk else { break };
            let (answer, first) = reader_term.feed(&chunk.into_bytes());
            if !answer.is_empty() {
                let _ = replies.send(answer);
            }
            if first {
                notify(SessionEvent::Output(id));
            }
        }
        let code = d
            .inspect_exec(&exec_id)
            .await
            .ok()
            .and_then(|i| i.exit_code)
            .map(|c| c as i32);
        notify(SessionEvent::Exited(id, code));
    });
    let io = ExecIo {
        docker: docker.clone(),
        exec_id: exec.id,
        input: tx,
        tasks: vec![reader, writer],
        runtime: tokio::runtime::Handle::current(),
    };
    // Engines before API 1.42 ignore console_size: set the size now too.
    io.resize(spec.rows, spec.cols);
    Ok(Session::new(spec.id, term, Box::new(io)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_record_the_session_and_fall_back_from_resume() {
        let fresh = vec![
            "claude".to_string(),
            "--append-system-prompt-file".into(),
            "/p.md".into(),
        ];
        let resume = vec!["claude".to_string(), "--continue".into()];
        assert_eq!(
            session_script(&fresh, &resume, None, Attach::Fresh),
            "echo $$ > /tmp/.bb-session.pid; exec claude --append-system-prompt-file /p.md"
        );
        let s = session_script(&fresh, &resume, None, Attach::Resume);
        assert!(s.contains("claude --continue; rc=$?"), "{s}");
        assert!(
            s.contains("exec claude --append-system-prompt-file /p.md; fi"),
            "{s}"
        );
        // With a history test, no conversation means a fresh session at once.
        let s = session_script(&fresh, &resume, Some("false"), Attach::Resume);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(s.replace("/tmp/.bb-session.pid", "/dev/null").replace(
                "exec claude --append-system-prompt-file /p.md",
                "echo FRESH",
            ))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.contains("nothing to continue") && out.ends_with("FRESH\n"),
            "{out}"
        );
    }
}
