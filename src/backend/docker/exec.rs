//! Commands bb runs in a bottle's containers (no TTY): setup steps such as
//! trusting the bottle CA, and reading files back.

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use futures_util::StreamExt;

/// Run a command to completion without a TTY; its exit code, its stdout
/// as bytes (binary output, a git bundle) and its stderr.
pub async fn run_bytes(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: &[String],
) -> Result<(i64, Vec<u8>, String), bollard::errors::Error> {
    use bollard::container::LogOutput;
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                user: Some(user.to_string()),
                cmd: Some(cmd.to_vec()),
                ..Default::default()
            },
        )
        .await?;
    let (mut out, mut err) = (Vec::new(), String::new());
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, None::<StartExecOptions>)
        .await?
    {
        while let Some(chunk) = output.next().await {
            match chunk? {
                LogOutput::StdOut { message } => out.extend_from_slice(&message),
                LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
                _ => {}
            }
        }
    }
    let code = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(-1);
    Ok((code, out, err))
}

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
