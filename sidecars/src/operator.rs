//! The bundle's side of the operator channel (`bb_contract::operator`):
//! bb reaches the bottle's state through the engine's exec, never a mount
//! or a port, so the state stays with the bottle wherever its engine is.
//! Run as root by that exec; the agent has no way to it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bb_contract::operator::{Answer, Cursor, KeptFile, Request, StateRead, KEPT_LOGS};
use bb_contract::proposal::Proposal;

/// One request, answered.
pub fn answer(dir: &Path, request: &str) -> Answer {
    let request = match serde_json::from_str::<Request>(request) {
        Ok(r) => r,
        Err(e) => {
            return Answer::Failed {
                why: format!(
                    "not a request bb-sidecar knows ({e}): bb and its bundle differ in version"
                ),
            }
        }
    };
    let done = |r: std::io::Result<()>| match r {
        Ok(()) => Answer::Done,
        Err(e) => Answer::Failed { why: e.to_string() },
    };
    match request {
        Request::Read { since } => Answer::Read(read(dir, since)),
        Request::Decide { id, decision, log } => done(
            safe_id(&id)
                .and_then(|()| {
                    write_atomic(
                        &dir.join("proposals"),
                        &format!("{id}.decision.json"),
                        &serde_json::to_vec_pretty(&decision).unwrap_or_default(),
                    )
                })
                .and_then(|()| append(&dir.join("decisions.jsonl"), &log)),
        ),
        Request::File { proposal } => done(safe_id(&proposal.id).and_then(|()| {
            write_atomic(
                &dir.join("proposals"),
                &format!("{}.json", proposal.id),
                &serde_json::to_vec_pretty(&proposal).unwrap_or_default(),
            )
        })),
        Request::Log { line } => done(append(&dir.join("decisions.jsonl"), &line)),
        Request::Kept => Answer::Kept {
            files: KEPT_LOGS
                .iter()
                .filter_map(|name| {
                    let text = std::fs::read(dir.join(name)).ok()?;
                    Some(KeptFile {
                        name: name.to_string(),
                        text: String::from_utf8_lossy(&text).into_owned(),
                    })
                })
                .collect(),
        },
    }
}

/// A proposal id names one file in the queue, nothing else.
fn safe_id(id: &str) -> std::io::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{id:?} is not a proposal id"
        )))
    }
}

/// Files of the queue are read by its daemons (the state group) and bb.
const QUEUE_MODE: u32 = 0o660;

/// Write `name` in `dir` whole: a temp file, then a rename, so no reader
/// sees half of it.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(QUEUE_MODE)
            .open(&tmp)?;
        f.write_all(bytes)?;
    }
    std::fs::rename(&tmp, dir.join(name))
}

fn append(path: &Path, line: &serde_json::Value) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?
        .write_all(format!("{line}\n").as_bytes())
}

/// The pending proposals and the audit log since `since`.
pub fn read(dir: &Path, since: Option<Cursor>) -> StateRead {
    let (audit, cursor) = audit_since(dir, since);
    StateRead {
        proposals: pending(&dir.join("proposals")),
        audit,
        cursor,
    }
}

/// Undecided proposals, oldest first; a file that is not one (half
/// written, or foreign) is skipped.
fn pending(queue: &Path) -> Vec<Proposal> {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return Vec::new();
    };
    let mut out: Vec<Proposal> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".json") && !name.ends_with(".decision.json") && !name.starts_with('.')
        })
        .filter(|p| !p.with_extension("decision.json").exists())
        .filter_map(|p| std::fs::read(&p).ok())
        .filter_map(|t| serde_json::from_slice::<Proposal>(&t).ok())
        .collect();
    out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    out
}

/// The most of the log one read returns: a bottle that logged more since
/// is read on in the next.
const READ_MAX: u64 = 8 * 1024 * 1024;

/// Whole lines of the log after `since`, and where the next read goes on.
/// Without a cursor: the rotated-out file, then the current one. A cursor
/// on a file that has since been rotated out goes on in it, then in the
/// new one; one that was lost (rotated twice) starts the new one over.
fn audit_since(dir: &Path, since: Option<Cursor>) -> (String, Cursor) {
    let current = dir.join("audit.jsonl");
    let older = dir.join("audit.jsonl.1");
    let inode = |p: &Path| std::fs::metadata(p).map(|m| m.ino()).unwrap_or(0);
    let (cur_ino, old_ino) = (inode(&current), inode(&older));
    let mut text = Vec::new();
    let mut budget = READ_MAX;
    let at = match since {
        None => {
            read_from(&older, 0, &mut text, &mut budget);
            0
        }
        Some(c) if c.inode == cur_ino => c.at,
        Some(c) if c.inode != 0 && c.inode == old_ino => {
            let end = read_from(&older, c.at, &mut text, &mut budget);
            if end < std::fs::metadata(&older).map(|m| m.len()).unwrap_or(0) {
                // Not all of the old file fit: go on in it next time.
                return (
                    lossy(text),
                    Cursor {
                        inode: old_ino,
                        at: end,
                    },
                );
            }
            0
        }
        Some(_) => 0,
    };
    // A current file shorter than the cursor was begun again.
    let len = std::fs::metadata(&current).map(|m| m.len()).unwrap_or(0);
    let at = if at > len { 0 } else { at };
    let end = read_from(&current, at, &mut text, &mut budget);
    (
        lossy(text),
        Cursor {
            inode: cur_ino,
            at: end,
        },
    )
}

/// Append the whole lines of `path` from `at` to `out`, within `budget`;
/// the offset after the last whole line read.
fn read_from(path: &Path, at: u64, out: &mut Vec<u8>, budget: &mut u64) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else {
        return at;
    };
    if f.seek(SeekFrom::Start(at)).is_err() {
        return at;
    }
    let mut chunk = Vec::new();
    if (&mut f).take(*budget).read_to_end(&mut chunk).is_err() {
        return at;
    }
    let whole = chunk.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    out.extend_from_slice(&chunk[..whole]);
    *budget = budget.saturating_sub(whole as u64);
    at + whole as u64
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How long changes are gathered before they are told as one.
const SETTLE: Duration = Duration::from_millis(30);

/// Print a line whenever something under `dir` changes (a proposal filed
/// or answered, a request logged), until stdout is gone (bb left).
pub fn watch(dir: &Path) -> std::io::Result<()> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .map_err(std::io::Error::other)?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(std::io::Error::other)?;
    let mut out = std::io::stdout();
    // Ready: what changes from now on is told.
    writeln!(out, "watching")?;
    out.flush()?;
    while rx.recv().is_ok() {
        std::thread::sleep(SETTLE);
        while rx.try_recv().is_ok() {}
        writeln!(out, "changed")?;
        out.flush()?;
    }
    Ok(())
}

/// The state dir (the bottle's volume).
pub fn state_dir() -> PathBuf {
    PathBuf::from(bb_contract::operator::STATE_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::proposal::{Decision, EgressRequest, Request as Asked};

    fn proposal(id: &str) -> Proposal {
        Proposal {
            id: id.into(),
            slug: "a-1".into(),
            agent: "a".into(),
            created_at: "1".into(),
            reason: "r".into(),
            request: Asked::Egress(EgressRequest {
                host: "pypi.org".into(),
                path_allowlist: vec![],
            }),
        }
    }

    fn ask(dir: &Path, r: &Request) -> Answer {
        answer(dir, &serde_json::to_string(r).unwrap())
    }

    #[test]
    fn proposals_are_filed_listed_and_answered_with_their_decision_logged() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("proposals")).unwrap();
        let filed = ask(
            d.path(),
            &Request::File {
                proposal: proposal("p1"),
            },
        );
        assert_eq!(filed, Answer::Done);
        let Answer::Read(r) = ask(d.path(), &Request::Read { since: None }) else {
            panic!("a read");
        };
        assert_eq!(r.proposals, [proposal("p1")]);
        let decided = ask(
            d.path(),
            &Request::Decide {
                id: "p1".into(),
                decision: Decision::Rejected {
                    reason: "no".into(),
                },
                log: serde_json::json!({"decision": "rejected"}),
            },
        );
        assert_eq!(decided, Answer::Done);
        let Answer::Read(r) = ask(d.path(), &Request::Read { since: None }) else {
            panic!("a read");
        };
        assert!(r.proposals.is_empty(), "answered");
        let log = std::fs::read_to_string(d.path().join("decisions.jsonl")).unwrap();
        assert_eq!(log, "{\"decision\":\"rejected\"}\n");
        // An id is a file name in the queue, never a path.
        let bad = ask(
            d.path(),
            &Request::Decide {
                id: "../../etc/x".into(),
                decision: Decision::Rejected { reason: "x".into() },
                log: serde_json::json!({}),
            },
        );
        assert!(matches!(bad, Answer::Failed { .. }), "{bad:?}");
        let Answer::Kept { files } = ask(d.path(), &Request::Kept) else {
            panic!("kept");
        };
        assert_eq!(files.len(), 1, "the decision log");
        assert!(matches!(
            answer(d.path(), "{\"op\":\"fly\"}"),
            Answer::Failed { .. }
        ));
    }

    #[test]
    fn the_audit_log_is_read_on_from_a_cursor_across_a_rotation() {
        let d = tempfile::tempdir().unwrap();
        let cur = d.path().join("audit.jsonl");
        let read = |since| {
            let r = super::read(d.path(), since);
            (r.audit, r.cursor)
        };
        assert_eq!(read(None).0, "", "no log yet");
        std::fs::write(&cur, "a\nb\npart").unwrap();
        let (text, c) = read(None);
        assert_eq!(text, "a\nb\n", "whole lines only");
        std::fs::write(&cur, "a\nb\npartial\nc\n").unwrap();
        let (text, c) = read(Some(c));
        assert_eq!(text, "partial\nc\n");
        // Rotated: the rest of the old file, then the new one.
        std::fs::write(&cur, "a\nb\npartial\nc\nd\n").unwrap();
        std::fs::rename(&cur, d.path().join("audit.jsonl.1")).unwrap();
        std::fs::write(&cur, "e\n").unwrap();
        let (text, c) = read(Some(c));
        assert_eq!(text, "d\ne\n");
        let (text, _) = read(Some(c));
        assert_eq!(text, "", "nothing new");
        // From nothing: the old file, then the current.
        assert_eq!(read(None).0, "a\nb\npartial\nc\nd\ne\n");
    }
}
