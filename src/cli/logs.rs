//! `bb logs`: a bottle's egress audit log, readable: read where the bottle
//! keeps it (through its engine) or, once it is stopped, from the archive.

use std::path::Path;
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

/// The bottle `name` names among those with logs: a slug, or an agent's
/// name when one of them is its (`agent-1a2b3c`: the agent's name and a
/// six-character suffix).
fn pick(name: &str, slugs: &[String], home_dir: &Path) -> Result<String> {
    if slugs.iter().any(|s| s == name) {
        return Ok(name.to_string());
    }
    let of_agent: Vec<&String> = slugs
        .iter()
        .filter(|s| {
            s.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|suffix| suffix.len() == 6)
        })
        .collect();
    match of_agent[..] {
        [s] => Ok(s.clone()),
        [] => {
            let near = crate::suggest::did_you_mean(name, slugs.iter().map(String::as_str));
            Err(match near {
                Some(n) => anyhow!("no audit log for {name}: did you mean {n}?"),
                None => anyhow!(
                    "no audit log for {name} in the bottles of {}: `bb ls` lists them",
                    home_dir.display()
                ),
            })
        }
        _ => Err(anyhow!(
            "{name} has logs in {} bottles ({}): name one",
            of_agent.len(),
            of_agent
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Stopped bottles whose logs are kept in the archive.
fn archived(home_dir: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(home::archive_dir(home_dir)) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| audit::exists(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn print(lines: Vec<Line>) {
    for l in lines {
        match l {
            Line::Record(r) => println!("{}", line(&r)),
            Line::Unreadable(text) => println!("(unreadable line) {text}"),
        }
    }
}

/// How often a followed log is read when its bottle cannot tell changes.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

pub fn run(ctx: &Ctx, name: &str, follow: bool) -> Result<ExitCode> {
    super::bottles::runtime()?.block_on(async {
        let backends = super::placement::backends(ctx)?;
        let running = super::placement::all_bottles(&backends)
            .await
            .unwrap_or_default();
        let live: Vec<String> = running.iter().map(|b| b.slug.clone()).collect();
        let mut slugs = live.clone();
        let kept = archived(&ctx.home);
        slugs.extend(
            kept.iter()
                .filter(|s| !slugs.contains(s))
                .cloned()
                .collect::<Vec<_>>(),
        );
        // The one running bottle of an agent is meant, whatever stopped
        // ones of it left logs.
        let slug = pick(name, &live, &ctx.home).or_else(|_| pick(name, &slugs, &ctx.home))?;
        let Some(backend) = running
            .iter()
            .find(|b| b.slug == slug)
            .and_then(|b| super::placement::backend_for(&backends, b.backend, &b.engine))
        else {
            // Stopped: its log as kept.
            let dir = home::archive_dir(&ctx.home).join(&slug);
            let (older, mut tail) = audit::history(&dir);
            print(older);
            print(tail.read());
            return Ok(ExitCode::SUCCESS);
        };
        // Running: read where the bottle keeps it, then as it changes.
        let mut changes = if follow {
            backend.watch(&slug).await.ok()
        } else {
            None
        };
        let mut cursor = None;
        loop {
            let news = backend
                .news(&slug, cursor)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            cursor = Some(news.cursor);
            print(news.audit);
            if !follow {
                return Ok(ExitCode::SUCCESS);
            }
            match &mut changes {
                Some(stream) => {
                    if futures_util::StreamExt::next(stream).await.is_none() {
                        return Err(anyhow!("{slug} stopped answering; its log ends here"));
                    }
                }
                None => tokio::time::sleep(FOLLOW_POLL).await,
            }
        }
    })
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
    fn a_bottle_is_named_by_slug_or_by_its_agent() {
        let home_dir = tempfile::tempdir().unwrap();
        let slugs = vec!["alpha-1a2b3c".to_string(), "beta-4d5e6f".to_string()];
        let pick = |n| pick(n, &slugs, home_dir.path());
        assert_eq!(pick("alpha-1a2b3c").unwrap(), "alpha-1a2b3c");
        assert_eq!(pick("alpha").unwrap(), "alpha-1a2b3c");
        assert_eq!(pick("beta").unwrap(), "beta-4d5e6f");
        let miss = pick("alpha-1a2b3d").unwrap_err().to_string();
        assert!(miss.contains("did you mean alpha-1a2b3c"), "{miss}");
        // Stopped bottles' logs are found in the archive.
        let stopped = home::archive_dir(home_dir.path()).join("gamma-7a8b9c");
        std::fs::create_dir_all(&stopped).unwrap();
        std::fs::write(stopped.join("audit.jsonl"), record("allowed", None) + "\n").unwrap();
        assert_eq!(archived(home_dir.path()), ["gamma-7a8b9c"]);
    }
}
