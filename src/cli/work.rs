//! `bb diff`, `bb take`, `bb apply`, `bb archive`: an agent's work, out of
//! its bottle. A running bottle's work is read from it first; a stopped
//! one's from what `bb stop` saved.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::bottles::runtime;
use super::placement::{all_bottles, backends};
use super::{Ctx, Format};
use crate::backend::SharedBackend;
use crate::work::{self, Saved};

/// The bottle `name` names (a slug, or an agent with one bottle), and the
/// backend that runs it if it still runs.
struct Named {
    slug: String,
    backend: Option<SharedBackend>,
}

/// Every slug with saved work in this home: (slug, agent).
fn saved_bottles(ctx: &Ctx) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(crate::home::archive_dir(&ctx.home)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| {
            let slug = e.file_name().to_string_lossy().into_owned();
            let meta = Saved::at(&ctx.home, &slug).meta()?;
            Some((slug, meta.agent))
        })
        .collect();
    out.sort();
    out
}

async fn resolve(ctx: &Ctx, name: &str) -> Result<Named> {
    let backends = backends(ctx)?;
    let bottles = all_bottles(&backends).await.unwrap_or_default();
    let mut known: Vec<(String, String)> = bottles
        .iter()
        .map(|b| (b.slug.clone(), b.agent.clone()))
        .collect();
    for (slug, agent) in saved_bottles(ctx) {
        if !known.iter().any(|(s, _)| *s == slug) {
            known.push((slug, agent));
        }
    }
    let slug = if known.iter().any(|(s, _)| s == name) {
        name.to_string()
    } else {
        let of_agent: Vec<&String> = known
            .iter()
            .filter(|(_, a)| a == name)
            .map(|(s, _)| s)
            .collect();
        match of_agent[..] {
            [one] => one.clone(),
            [] => {
                let names = known.iter().flat_map(|(s, a)| [s.as_str(), a.as_str()]);
                return Err(match crate::suggest::did_you_mean(name, names) {
                    Some(near) => anyhow!("no bottle or agent {name}: did you mean {near}?"),
                    None => anyhow!("no bottle or agent {name} has work here: `bb ls` lists the running ones, `bb archive ls` the saved"),
                });
            }
            _ => {
                return Err(anyhow!(
                    "{name} has work in {} bottles: name one of {}",
                    of_agent.len(),
                    of_agent
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    };
    let backend = bottles
        .iter()
        .find(|b| b.slug == slug)
        .and_then(|b| super::placement::backend_for(&backends, b.backend, &b.engine).cloned());
    Ok(Named { slug, backend })
}

/// The bottle's saved work, brought up to date from the bottle when it
/// still runs (said when it cannot be, and the saved copy used).
async fn current(ctx: &Ctx, name: &str) -> Result<(String, Saved)> {
    let named = resolve(ctx, name).await?;
    let saved = Saved::at(&ctx.home, &named.slug);
    if !saved.exists() {
        return Err(anyhow!("{}", work::WorkError::NoWork(named.slug)));
    }
    if let Some(b) = &named.backend {
        if let Err(e) = work::refresh(b.as_ref(), &saved, &named.slug).await {
            eprintln!("warning: {e}; showing the work as last saved");
        }
    }
    Ok((named.slug, saved))
}

#[derive(serde::Serialize)]
struct DiffJson {
    version: u32,
    slug: String,
    agent: String,
    commits: Vec<CommitJson>,
    files: Vec<FileJson>,
    uncommitted: bool,
    taken: bool,
}

#[derive(serde::Serialize)]
struct CommitJson {
    sha: String,
    subject: String,
}

#[derive(serde::Serialize)]
struct FileJson {
    path: String,
    added: Option<u64>,
    removed: Option<u64>,
}

pub fn diff(ctx: &Ctx, name: &str, stat: bool, format: Format) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (slug, saved) = current(ctx, name).await?;
        if format == Format::Json {
            let s = saved.summary()?;
            let doc = DiffJson {
                version: 1,
                agent: saved.meta().map(|m| m.agent).unwrap_or_default(),
                slug,
                commits: saved
                    .commits()?
                    .into_iter()
                    .map(|(sha, subject)| CommitJson {
                        sha,
                        subject: crate::shown::shown(&subject).into_owned(),
                    })
                    .collect(),
                files: saved
                    .files()?
                    .into_iter()
                    .map(|(path, added, removed)| FileJson {
                        path,
                        added,
                        removed,
                    })
                    .collect(),
                uncommitted: s.uncommitted,
                taken: s.taken,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(ExitCode::SUCCESS);
        }
        let out = saved.diff(stat)?;
        // A patch is data: written as it is to a pipe, shown (control
        // characters visible) to a terminal.
        let mut stdout = std::io::stdout();
        if std::io::IsTerminal::is_terminal(&stdout) {
            for line in String::from_utf8_lossy(&out).lines() {
                writeln!(stdout, "{}", crate::shown::shown(line))?;
            }
        } else {
            stdout.write_all(&out)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn take(ctx: &Ctx, name: &str, branch: Option<&str>) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (slug, saved) = current(ctx, name).await?;
        let meta = saved.meta().ok_or_else(|| anyhow!("no saved work for {slug}"))?;
        let branch = branch
            .map(String::from)
            .unwrap_or_else(|| work::default_branch(&meta.agent, &slug));
        let s = saved.summary()?;
        work::take(&saved, &branch).map_err(|e| anyhow!("{e}"))?;
        println!(
            "took the work of {} ({}) into branch {branch} of {}; your checked-out branch, index and files are as they were",
            meta.agent,
            work::describe(&s),
            meta.source.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn apply(ctx: &Ctx, name: &str) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (slug, saved) = current(ctx, name).await?;
        let meta = saved
            .meta()
            .ok_or_else(|| anyhow!("no saved work for {slug}"))?;
        let files = work::apply(&saved).map_err(|e| anyhow!("{e}"))?;
        if files.is_empty() {
            println!(
                "nothing to apply: {} holds the work of {} already",
                meta.source.display(),
                meta.agent
            );
        } else {
            println!(
                "applied the work of {} to {} ({} file{} written, not committed): {}",
                meta.agent,
                meta.source.display(),
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                files.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `bb archive ls`: every stopped bottle's saved work.
pub fn archive_ls(ctx: &Ctx) -> Result<ExitCode> {
    let saved = saved_bottles(ctx);
    if saved.is_empty() {
        println!("No saved work.");
        return Ok(ExitCode::SUCCESS);
    }
    for (slug, agent) in saved {
        let s = Saved::at(&ctx.home, &slug);
        let what = s
            .summary()
            .map(|s| {
                format!(
                    "{}{}",
                    work::describe(&s),
                    if s.taken { ", taken" } else { "" }
                )
            })
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        println!("{slug}  {agent}  {what}  {}", s.dir().display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `bb archive prune`: saved work removed, said; never a running bottle's.
pub fn archive_prune(ctx: &Ctx, names: &[String], all: bool, taken: bool) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let running: Vec<String> = all_bottles(&backends(ctx)?)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|b| b.slug)
            .collect();
        let saved = saved_bottles(ctx);
        let targets: Vec<(String, String)> = saved
            .into_iter()
            .filter(|(slug, agent)| {
                all || names.iter().any(|n| n == slug || n == agent)
                    || (taken && Saved::at(&ctx.home, slug).summary().is_ok_and(|s| s.taken))
            })
            .collect();
        if targets.is_empty() {
            return Err(anyhow!(
                "no saved work matches: `bb archive ls` lists it; name slugs, or use --taken or --all"
            ));
        }
        for (slug, agent) in targets {
            if running.contains(&slug) {
                eprintln!("kept {slug}: the bottle still runs (stop it first)");
                continue;
            }
            let dir = Saved::at(&ctx.home, &slug).dir().to_path_buf();
            std::fs::remove_dir_all(&dir)
                .map_err(|e| anyhow!("could not remove {}: {e}", dir.display()))?;
            println!("removed the saved work of {agent} ({slug}) and its logs: {}", dir.display());
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field `bb diff --format json` prints is in the README's table.
    #[test]
    fn the_readme_documents_every_diff_json_field() {
        let doc = serde_json::to_value(DiffJson {
            version: 1,
            slug: "a-1".into(),
            agent: "a".into(),
            commits: vec![CommitJson {
                sha: "0".repeat(40),
                subject: "s".into(),
            }],
            files: vec![FileJson {
                path: "x".into(),
                added: Some(1),
                removed: None,
            }],
            uncommitted: false,
            taken: false,
        })
        .unwrap();
        let section = crate::cli::readme_section("bb diff JSON");
        let mut fields: Vec<String> = doc.as_object().unwrap().keys().cloned().collect();
        for list in ["commits", "files"] {
            fields.extend(doc[list][0].as_object().unwrap().keys().cloned());
        }
        for f in fields {
            assert!(
                section.contains(&format!("`{f}`")),
                "README's bb diff JSON lacks `{f}`"
            );
        }
    }
}
