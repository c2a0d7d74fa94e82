//! Reading a bottle's egress audit log on the host (`audit.jsonl` in its
//! state dir, and `audit.jsonl.1` once egress has rotated it): all of it,
//! or what is new since the last read, as the log grows and rotates.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use bb_contract::audit::{AuditRecord, Decision};

/// A record, owned.
pub type Record = AuditRecord<'static>;

/// The log's current file in a bottle's state (or archive) dir.
pub fn current(dir: &Path) -> PathBuf {
    dir.join("audit.jsonl")
}

/// The rotated-out file, older than the current one.
fn older(dir: &Path) -> PathBuf {
    dir.join("audit.jsonl.1")
}

/// One line of the log: a record, or a line that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Record(Record),
    Unreadable(String),
}

/// The lines of a log's text.
pub fn parse_text(text: &str) -> Vec<Line> {
    parse(text).collect()
}

fn parse(text: &str) -> impl Iterator<Item = Line> + '_ {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| {
        match serde_json::from_str::<AuditRecord>(l) {
            Ok(r) => Line::Record(r.into_owned()),
            Err(_) => Line::Unreadable(l.to_string()),
        }
    })
}

/// Follows the current file: each read returns the whole lines written
/// since the last; a rotation (the file shorter than what was read) starts
/// it over.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    at: u64,
    /// An unfinished last line, kept for the next read.
    partial: String,
}

impl Tail {
    /// From the start of the current file: [`Tail::read`] returns all of
    /// it first.
    pub fn from_start(dir: &Path) -> Tail {
        Tail {
            path: current(dir),
            at: 0,
            partial: String::new(),
        }
    }

    /// From its end now: only what is written later.
    pub fn from_end(dir: &Path) -> Tail {
        let path = current(dir);
        let at = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Tail {
            path,
            at,
            partial: String::new(),
        }
    }

    /// The lines written since the last read (none when the file is not
    /// there, as before the first request).
    pub fn read(&mut self) -> Vec<Line> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.at {
            self.at = 0;
            self.partial.clear();
        }
        let mut chunk = Vec::new();
        if f.seek(SeekFrom::Start(self.at)).is_err() || f.read_to_end(&mut chunk).is_err() {
            return Vec::new();
        }
        self.at += chunk.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&chunk));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let whole: String = self.partial.drain(..=end).collect();
        parse(&whole).collect()
    }
}

/// The rotated-out file's lines (the older ones), then a tail positioned
/// at the start of the current file.
pub fn history(dir: &Path) -> (Vec<Line>, Tail) {
    let old = std::fs::read_to_string(older(dir)).unwrap_or_default();
    (parse(&old).collect(), Tail::from_start(dir))
}

/// Whether `dir` holds a log at all.
pub fn exists(dir: &Path) -> bool {
    current(dir).exists() || older(dir).exists()
}

/// Milliseconds since the Unix epoch, as the log counts time.
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A rule of the log in words (the rules are egress's own, named where
/// they are made).
pub use bb_sidecar::egress::policy::rule_reason as reason;

#[cfg(test)]
mod tests {
    use super::*;

    fn line(decision: &str, host: &str) -> String {
        format!(
            "{{\"time_ms\":1,\"client\":\"c\",\"host\":\"{host}\",\"method\":\"GET\",\"path\":\"/\",\"decision\":\"{decision}\"}}\n"
        )
    }

    fn hosts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l {
                Line::Record(r) => r.host.to_string(),
                Line::Unreadable(t) => format!("?{t}"),
            })
            .collect()
    }

    #[test]
    fn a_tail_reads_whole_lines_as_they_come_and_follows_a_rotation() {
        let d = tempfile::tempdir().unwrap();
        let path = current(d.path());
        let mut tail = Tail::from_start(d.path());
        assert!(tail.read().is_empty(), "no log yet");
        std::fs::write(&path, line("allowed", "a.example") + "{\"time_ms\":2,\"cli").unwrap();
        assert_eq!(hosts(&tail.read()), ["a.example"]);
        let rest = "ent\":\"c\",\"host\":\"b.example\",\"method\":\"GET\",\"path\":\"/\",\"decision\":\"blocked\"}\nnot json\n";
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(rest);
        std::fs::write(&path, text).unwrap();
        assert_eq!(hosts(&tail.read()), ["b.example", "?not json"]);
        // Rotated: the old file moved aside, a new one begun.
        std::fs::rename(&path, older(d.path())).unwrap();
        std::fs::write(&path, line("blocked", "c.example")).unwrap();
        assert_eq!(hosts(&tail.read()), ["c.example"]);
        let (old, mut tail) = history(d.path());
        assert_eq!(hosts(&old), ["a.example", "b.example", "?not json"]);
        assert_eq!(hosts(&tail.read()), ["c.example"]);
        let mut late = Tail::from_end(d.path());
        assert!(late.read().is_empty());
    }
}
