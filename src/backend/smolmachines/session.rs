//! A session in a smolvm machine: `machine exec --interactive --tty` run
//! in a local PTY of the pane's size. smolvm sends the guest the size of
//! the terminal it runs in at start and on each SIGWINCH, so resizing this
//! PTY (which the workspace does, debounced, once a resize settles) is the
//! whole size bridge: no second exec, no side channel.

use super::cli::{self, Smolvm};
use crate::backend::{BackendError, SessionSpec};
use crate::session::pty::PtyCommand;
use crate::session::Session;

/// Start `argv` in `machine` as `user`, at the size `spec` gives.
pub fn attach(
    smolvm: &Smolvm,
    machine: &str,
    user: Option<&str>,
    argv: &[String],
    spec: SessionSpec,
) -> Result<Session, BackendError> {
    let cmd = PtyCommand {
        program: smolvm.program.display().to_string(),
        args: cli::exec_tty(smolvm, machine, user, argv),
        env: Vec::new(),
        cwd: None,
    };
    crate::backend::spawn_in_pty(&cmd, spec)
        .map_err(|e| BackendError::Failed(format!("cannot start a session in {machine}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// A stand-in smolvm (a VM cannot boot here): it records its argv and
    /// runs what follows `--` in its own terminal, as `machine exec -t`
    /// runs it in the guest's, with the size passed on.
    fn stand_in(dir: &std::path::Path) -> Smolvm {
        let program = dir.join("smolvm");
        let log = dir.join("argv.log");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nwhile [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Smolvm {
            program,
            state_dir: None,
        }
    }

    fn wait_for(session: &Session, what: &str) -> String {
        let start = Instant::now();
        loop {
            let text = session.term.lock().text();
            if text.contains(what) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waited for {what:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_guest_starts_at_the_panes_size_and_hears_each_resize_once() {
        let dir = tempfile::tempdir().unwrap();
        let smolvm = stand_in(dir.path());
        let reports = "trap 'echo size $(stty size)' WINCH; echo size $(stty size); while :; do sleep 0.05 & wait; done";
        let argv = vec!["sh".to_string(), "-c".to_string(), reports.to_string()];
        let spec = SessionSpec {
            id: 1,
            rows: 21,
            cols: 56,
            scrollback: 100,
            notify: Arc::new(|_| {}),
        };
        let session = attach(&smolvm, "bb-alpha-1a2b3c", Some("node"), &argv, spec).unwrap();
        wait_for(&session, "size 21 56");
        assert!(session.resize(37, 90));
        wait_for(&session, "size 37 90");
        // The same size again is not a resize: the guest hears nothing.
        assert!(!session.resize(37, 90));
        assert!(session.resize(30, 100));
        let text = wait_for(&session, "size 30 100");
        assert_eq!(text.matches("size ").count(), 3, "{text}");
        let argv_log = std::fs::read_to_string(dir.path().join("argv.log")).unwrap();
        assert!(
            argv_log.starts_with(
                "machine exec --name bb-alpha-1a2b3c --interactive --tty --user node -- sh -c"
            ),
            "{argv_log}"
        );
        session.kill();
    }
}
