//! Changes under bb's state dir (a proposal filed or decided, a refusal in
//! an egress log), told as they happen (inotify), so nothing reads the dir
//! while nothing changes there. Where no watch can be set up (no inotify,
//! its limits reached), the dir is read on a short period instead.

use std::path::Path;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// Without a watch: how often the dir is read.
const POLL: Duration = Duration::from_millis(700);
/// A burst of changes (a log line written in pieces) is one read.
const SETTLE: Duration = Duration::from_millis(30);

pub struct StateWatch {
    watcher: Option<RecommendedWatcher>,
    changes: UnboundedReceiver<()>,
    /// With a watch: the dir is read again after this long all the same
    /// (a change the watch could not see, such as one over NFS).
    fallback: Duration,
}

/// Why [`StateWatch::changed`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Files,
    /// Time to read it anyway.
    Due,
}

impl StateWatch {
    pub fn new(dir: &Path, fallback: Duration) -> StateWatch {
        let (tx, changes) = unbounded_channel();
        // bb's own dir: made here so it can be watched before any bottle.
        let _ = std::fs::create_dir_all(dir);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading is no change (and bb's own reads would wake it).
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.send(());
            }
        })
        .and_then(|mut w| w.watch(dir, RecursiveMode::Recursive).map(|()| w))
        .ok();
        StateWatch {
            watcher,
            changes,
            fallback,
        }
    }

    /// Wait until something under the dir changed, or it is due a read.
    pub async fn changed(&mut self) -> Changed {
        if self.watcher.is_none() {
            tokio::time::sleep(POLL).await;
            return Changed::Due;
        }
        match tokio::time::timeout(self.fallback, self.changes.recv()).await {
            Ok(Some(())) => {
                tokio::time::sleep(SETTLE).await;
                while self.changes.try_recv().is_ok() {}
                Changed::Files
            }
            _ => Changed::Due,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_written_in_a_new_bottle_dir_is_told_and_reading_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut watch = StateWatch::new(&state, Duration::from_secs(2));
        let bottle = state.join("alpha-abc123");
        std::fs::create_dir_all(&bottle).unwrap();
        assert_eq!(watch.changed().await, Changed::Files, "a new bottle's dir");
        // The new dir is watched too.
        std::fs::write(bottle.join("proposal-1.json"), "{}").unwrap();
        assert_eq!(watch.changed().await, Changed::Files, "a file in it");
        // Settled: bb reading what changed is not a change.
        while watch.changes.try_recv().is_ok() {}
        let _ = std::fs::read_to_string(bottle.join("proposal-1.json")).unwrap();
        let _ = std::fs::read_dir(&bottle).unwrap().count();
        assert_eq!(watch.changed().await, Changed::Due, "reads are not changes");
    }
}
