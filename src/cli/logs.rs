//! `bb logs`: a bottle's egress audit log, readable, from its state dir or,
//! once it is stopped, from the archive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::Ctx;
use crate::audit::{self, AuditRecord, Line};
use crate::home;
use anyhow::{anyhow, Result};

/// One record as a line: time, decision, method, host, path, and the rule
/// that refused it.
pub fn line(r: &AuditRecord) -> String {
    let secs = i64::try_from(r.time_ms / 1000).unwrap_or(0);
    let mut out = format!(
        "{}  {:<9} {:<7} {}{}",
        crate::state::rfc3339(secs),
        r.decision,
        r.method,
        r.host,
        r.path
    );
    if let Some(rule) = &r.rule {
        out.push_str(&format!("  [{rule}]"));
    }
    // What the agent sent is printed, never obeyed by the terminal.
    crate::shown::shown(&out).into_owned()
}

/// The directory holding `name`'s logs: a bottle's slug (running or
/// stopped), or an agent's name when one bottle of it has logs.
fn logs_of(home_dir: &Path, name: &str) -> Result<PathBuf> {
    let roots = [home::state_dir(home_dir), home::archive_dir(home_dir)];
    let mut slugs: Vec<(String, PathBuf)> = Vec::new();
    for root in &roots {
        let Ok(dir) = std::fs::read_dir(root) else {
            continue;
        };
        for e in dir.flatten() {
            let p = e.path();
            if audit::exists(&p) {
                slugs.push((e.file_name().to_string_lossy().into_owned(), p));
            }
        }
    }
    if let Some((_, p)) = slugs.iter().find(|(s, _)| s == name) {
        return Ok(p.clone());
    }
    // `agent-1a2b3c`: the agent's name and a six-character suffix.
    let of_agent: Vec<&(String, PathBuf)> = slugs
        .iter()
        .filter(|(s, _)| {
            s.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|suffix| suffix.len() == 6)
        })
        .collect();
    match of_agent[..] {
        [(_, p)] => Ok(p.clone()),
        [] => {
            let near = crate::suggest::did_you_mean(name, slugs.iter().map(|(s, _)| s.as_str()));
            Err(match near {
                Some(n) => anyhow!("no audit log for {name}: did you mean {n}?"),
                None => anyhow!(
                    "no audit log for {name} in {}: `bb ls` lists the bottles",
                    home_dir.display()
                ),
            })
        }
        _ => Err(anyhow!(
            "{name} has logs in {} bottles ({}): name one",
            of_agent.len(),
            of_agent
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn print(lines: Vec<Line>) {
    for l in lines {
        match l {
            Line::Record(r) => println!("{}", line(&r)),
            Line::Unreadable(text) => println!("(unreadable line) {text}"),
        }
    }
}

pub fn run(ctx: &Ctx, name: &str, follow: bool) -> Result<ExitCode> {
    let dir = logs_of(&ctx.home, name)?;
    let (older, mut tail) = audit::history(&dir);
    print(older);
    loop {
        print(tail.read());
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(decision: &str, rule: Option<&str>) -> String {
        serde_json::to_string(&AuditRecord {
            time_ms: 1_796_108_977_323,
            client: "10.0.0.2:4000".into(),
            host: "pypi.org".into(),
            method: "GET".into(),
            path: "/simple/".into(),
            decision: serde_json::from_str(&format!("\"{decision}\"")).unwrap(),
            rule: rule.map(String::from),
        })
        .unwrap()
    }

    #[test]
    fn a_record_reads_as_one_line() {
        let text = record("blocked", Some("host-not-allowed"));
        let r: AuditRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(
            line(&r),
            "2026-12-01T07:09:37Z  blocked   GET     pypi.org/simple/  [host-not-allowed]"
        );
    }

    #[test]
    fn logs_are_found_by_slug_or_agent_running_or_stopped() {
        let home_dir = tempfile::tempdir().unwrap();
        let running = home::state_dir(home_dir.path()).join("alpha-1a2b3c");
        let stopped = home::archive_dir(home_dir.path()).join("beta-4d5e6f");
        for d in [&running, &stopped] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("audit.jsonl"), record("allowed", None) + "\n").unwrap();
        }
        assert_eq!(logs_of(home_dir.path(), "alpha-1a2b3c").unwrap(), running);
        assert_eq!(logs_of(home_dir.path(), "alpha").unwrap(), running);
        assert_eq!(logs_of(home_dir.path(), "beta").unwrap(), stopped);
        let miss = logs_of(home_dir.path(), "alpha-1a2b3d")
            .unwrap_err()
            .to_string();
        assert!(miss.contains("did you mean alpha-1a2b3c"), "{miss}");
    }
}
