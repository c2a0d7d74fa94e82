//! Running the smolvm command lines `cli` builds, with what went wrong
//! said in one line.

use super::cli::{self, Listed, Smolvm};

#[derive(Debug, thiserror::Error)]
pub enum SmolvmError {
    #[error("cannot run {program}: {why}; reinstall smolmachines or fix BB_SMOLVM")]
    Spawn { program: String, why: String },
    #[error("smolvm machine {verb} failed: {said}")]
    Failed { verb: String, said: String },
}

/// Run `args` (a `cli` argv); its stdout.
pub async fn run(s: &Smolvm, args: &[String]) -> Result<String, SmolvmError> {
    run_with_input(s, args, Vec::new()).await
}

/// Run `args` with `input` on its stdin; its stdout.
pub async fn run_with_input(
    s: &Smolvm,
    args: &[String],
    input: Vec<u8>,
) -> Result<String, SmolvmError> {
    let out = run_bytes(s, args, input).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Run `args` with `input` on its stdin; its stdout as it was (a git
/// bundle is not text).
pub async fn run_bytes(
    s: &Smolvm,
    args: &[String],
    input: Vec<u8>,
) -> Result<Vec<u8>, SmolvmError> {
    use tokio::io::AsyncWriteExt;
    let spawn_failed = |e: std::io::Error| SmolvmError::Spawn {
        program: s.program.display().to_string(),
        why: e.to_string(),
    };
    let mut child = tokio::process::Command::new(&s.program)
        .args(args)
        .stdin(if input.is_empty() {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::piped()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(spawn_failed)?;
    if let Some(mut stdin) = child.stdin.take() {
        // Written while the output is read, so neither side waits on the
        // other; a command that stops reading early says why on stderr.
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let out = child.wait_with_output().await.map_err(spawn_failed)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    Err(SmolvmError::Failed {
        verb: verb(args),
        said: said(&out.stderr, out.status.code()),
    })
}

/// The verb an argv runs (`create`, `exec`, ...), for errors.
fn verb(args: &[String]) -> String {
    args.iter()
        .skip_while(|a| *a != "machine")
        .nth(1)
        .cloned()
        .unwrap_or_default()
}

/// The last thing smolvm said on stderr that is not a note, one line.
fn said(stderr: &[u8], code: Option<i32>) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("note:"))
        .map(String::from)
        .unwrap_or_else(|| match code {
            Some(c) => format!("exit {c}, nothing said"),
            None => "killed".to_string(),
        })
}

/// The machines smolvm has.
pub async fn list(s: &Smolvm) -> Result<Vec<Listed>, SmolvmError> {
    let json = run(s, &cli::list(s)).await?;
    cli::parse_list(&json).map_err(|said| SmolvmError::Failed {
        verb: "ls".into(),
        said,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_smolvms_last_word_without_its_notes() {
        let stderr = b"note: no packed assets found for 'smol-vmm'\nError: agent operation failed: start machine: KVM_EXIT_INTERNAL_ERROR\n\nnote: again\n";
        assert_eq!(
            said(stderr, Some(1)),
            "Error: agent operation failed: start machine: KVM_EXIT_INTERNAL_ERROR"
        );
        assert_eq!(said(b"note: x\n", Some(3)), "exit 3, nothing said");
        let args: Vec<String> = ["--state-dir", "/s", "machine", "start", "--name", "m"]
            .map(String::from)
            .to_vec();
        assert_eq!(verb(&args), "start");
    }
}
