//! `bb ls`, `bb start`, `bb stop`, `bb cleanup`: bottles from the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::placement::{all_bottles, backend_for, backends, engines, listed, placed};
use super::Ctx;
use crate::backend::docker::{images, inventory, DockerBackend};
use crate::backend::{ActiveBottle, BackendError, ProgressMsg, SharedBackend};
use crate::plan::{self, BackendKind, BottlePlan};
use crate::system::SystemHost;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The workspace options of `start` and `preflight`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkspaceArgs {
    /// Copy this directory into the bottle as the workspace [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Start with no workspace
    #[arg(long, conflicts_with = "cwd")]
    pub no_workspace: bool,
}

/// The plan for `agent`, with its workspace measured.
pub fn plan_for(
    ctx: &Ctx,
    agent: &str,
    ws: &WorkspaceArgs,
    backend: BackendKind,
) -> Result<BottlePlan> {
    let m = ctx.existing_manifest()?;
    let (a, b) = m.agent(agent).map_err(|e| anyhow!("{e}"))?;
    let host = SystemHost {
        cwd: ctx.cwd.clone(),
        home: ctx.user_home.clone(),
    };
    let config = crate::tui::config::load(&ctx.home).map_err(|e| anyhow!("{e}"))?;
    let mut p = plan::resolve(a, b, &host, backend, &plan::random_suffix()).with_upstream_ca(
        config
            .upstream_ca
            .iter()
            .map(|f| plan::expand_path(&host, f))
            .collect(),
    );
    let dir = match (&ws.cwd, ws.no_workspace) {
        (_, true) => None,
        (Some(d), false) => {
            let d = if d.is_relative() {
                ctx.cwd.join(d)
            } else {
                d.clone()
            };
            if !d.is_dir() {
                return Err(anyhow!("--cwd {}: not a directory", d.display()));
            }
            // The repository it is in goes whole, as from the current
            // directory.
            Some(crate::work::source::repo_root(&d).unwrap_or(d))
        }
        (None, false) => match crate::workspace::locate(&ctx.cwd, &ctx.user_home, &ctx.home) {
            Ok(d) => Some(d),
            Err(why) => {
                p = p.without_workspace(&why);
                None
            }
        },
    };
    if let Some(d) = dir {
        p = p.with_workspace(crate::workspace::read(&d, config.workspace_limit_mb)?);
    }
    Ok(p)
}

/// `bb ls --format json`: a versioned contract for scripts (README, "bb ls
/// JSON"); fields are added without a version change.
#[derive(serde::Serialize)]
struct LsJson<'a> {
    version: u32,
    bottles: Vec<LsBottle<'a>>,
}

#[derive(serde::Serialize)]
struct LsBottle<'a> {
    slug: &'a str,
    agent: &'a str,
    bottle: &'a str,
    backend: crate::plan::BackendKind,
    /// The Docker engine it runs on, by name; null for a micro-VM.
    engine: Option<&'a str>,
    state: crate::backend::BottleState,
    started_at: Option<&'a str>,
    sidecars: &'a [String],
    down: Option<&'a str>,
    /// The agent's work since launch, as last read: null when the bottle
    /// has none saved (no workspace).
    work: Option<&'a crate::work::Summary>,
}

/// Each bottle's work, read from it now where it can be (all at once),
/// else as last saved.
async fn works(
    ctx: &Ctx,
    backends: &[SharedBackend],
    bottles: &[ActiveBottle],
) -> Vec<Option<crate::work::Summary>> {
    let reads = bottles.iter().map(|b| async move {
        let saved = crate::work::Saved::at(&ctx.home, &b.slug);
        if !saved.exists() {
            return None;
        }
        let backend = backend_for(backends, b.backend, &b.engine)?;
        match crate::work::refresh(backend.as_ref(), &saved, &b.slug).await {
            Ok(s) => Some(s),
            Err(_) => saved.summary().ok(),
        }
    });
    futures_util::future::join_all(reads).await
}

fn ls_json(
    bottles: &[crate::backend::ActiveBottle],
    works: &[Option<crate::work::Summary>],
) -> String {
    let doc = LsJson {
        version: 1,
        bottles: bottles
            .iter()
            .zip(works)
            .map(|(b, w)| LsBottle {
                slug: &b.slug,
                agent: &b.agent,
                bottle: &b.bottle,
                backend: b.backend,
                engine: Some(b.engine.as_str()).filter(|e| !e.is_empty()),
                state: b.state,
                started_at: b.started_at.as_deref(),
                sidecars: &b.sidecars,
                down: b.down.as_deref(),
                work: w.as_ref(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

pub fn ls(ctx: &Ctx, format: super::Format) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let backends = backends(ctx)?;
        let bottles = all_bottles(&backends).await?;
        let works = works(ctx, &backends, &bottles).await;
        if format == super::Format::Json {
            println!("{}", ls_json(&bottles, &works));
            return Ok(ExitCode::SUCCESS);
        }
        if bottles.is_empty() {
            println!("No bottles.");
            return Ok(ExitCode::SUCCESS);
        }
        let w = bottles
            .iter()
            .map(|b| b.slug.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let e = bottles
            .iter()
            .map(|b| b.engine.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "{:<w$}  {:<16} {:<12} {:<e$} {:<11} {:<21} {:<24} WORK",
            "SLUG", "AGENT", "BOTTLE", "ENGINE", "STATE", "STARTED", "SIDECARS"
        );
        let notes: Vec<(String, String)> = bottles
            .iter()
            .filter_map(|b| Some((b.slug.clone(), b.down.clone()?)))
            .collect();
        for (b, work) in bottles.into_iter().zip(works) {
            let sidecars = if b.sidecars.is_empty() {
                "(down)".to_string()
            } else {
                b.sidecars.join(",")
            };
            let work = match work {
                None => "-".to_string(),
                Some(s) if s.taken => format!("{} (taken)", crate::work::describe(&s)),
                Some(s) => format!("{} (not taken)", crate::work::describe(&s)),
            };
            let engine = if b.engine.is_empty() { "-" } else { &b.engine };
            println!(
                "{:<w$}  {:<16} {:<12} {engine:<e$} {:<11} {:<21} {sidecars:<24} {work}",
                b.slug,
                b.agent,
                b.bottle,
                b.state.label(),
                b.started_at.unwrap_or_default()
            );
        }
        for (slug, note) in notes {
            println!("{slug}: {note}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `bb stop` (and `bb attach`) act on: a bottle's slug; an agent's name when exactly
/// one bottle runs it; with `all`, every bottle of this home. A name that
/// is neither is passed on as a slug (the backend says whose it is).
fn named_bottles(
    name: Option<&str>,
    all: bool,
    bottles: &[(String, String)],
) -> Result<Vec<String>, String> {
    if all {
        return Ok(bottles.iter().map(|(slug, _)| slug.clone()).collect());
    }
    let Some(name) = name else {
        return Err("name a bottle (its slug or agent), or use --all".into());
    };
    if bottles.iter().any(|(slug, _)| slug == name) {
        return Ok(vec![name.to_string()]);
    }
    let running: Vec<&String> = bottles
        .iter()
        .filter(|(_, agent)| agent == name)
        .map(|(slug, _)| slug)
        .collect();
    match running[..] {
        [] => Ok(vec![name.to_string()]),
        [slug] => Ok(vec![slug.clone()]),
        _ => Err(format!(
            "{name} runs in {} bottles ({}): name one by its slug",
            running.len(),
            running
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `name` names no bottle of this home: say so, with the nearest name.
fn no_such(name: &str, listed: &[(String, String)]) -> anyhow::Error {
    let names = listed.iter().flat_map(|(s, a)| [s.as_str(), a.as_str()]);
    match crate::suggest::did_you_mean(name, names) {
        Some(near) => anyhow!("no bottle or agent {name}: did you mean {near}?"),
        None => anyhow!("no bottle or agent {name}: `bb ls` lists the running ones"),
    }
}

/// The running bottle `name` names (its slug, or its agent when one bottle
/// runs it), for `bb attach`.
pub fn one_bottle(ctx: &Ctx, name: &str) -> Result<String> {
    runtime()?.block_on(async {
        let listed = listed(&backends(ctx)?).await?;
        let slug = named_bottles(Some(name), false, &listed)
            .map_err(|e| anyhow!(e))?
            .pop()
            .unwrap_or_default();
        if listed.iter().any(|(s, _)| *s == slug) {
            return Ok(slug);
        }
        Err(no_such(name, &listed))
    })
}

pub fn stop(ctx: &Ctx, name: Option<&str>, all: bool, force: bool) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let backends = backends(ctx)?;
        let bottles = all_bottles(&backends).await?;
        let listed: Vec<(String, String)> = bottles
            .iter()
            .map(|b| (b.slug.clone(), b.agent.clone()))
            .collect();
        let targets = named_bottles(name, all, &listed).map_err(|e| anyhow!(e))?;
        if targets.is_empty() {
            println!("No bottles.");
        }
        // Every bottle at once (each saves its work, then stops); said in
        // the order they were named.
        let stops = targets.iter().map(|slug| {
            let listed_as = bottles.iter().find(|b| &b.slug == slug);
            stop_one(ctx, &backends, listed_as, slug, &listed, force)
        });
        let mut failed = Vec::new();
        for result in futures_util::future::join_all(stops).await {
            match result {
                Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            return Err(anyhow!("{}", failed.join("\n")));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Save one bottle's work and stop it: what to say.
async fn stop_one(
    ctx: &Ctx,
    backends: &[SharedBackend],
    listed_as: Option<&ActiveBottle>,
    slug: &str,
    listed: &[(String, String)],
    force: bool,
) -> Result<Vec<String>> {
    // The backend that lists it stops it; one nobody lists (what an older
    // bb left) is the default engine's to settle.
    let backend = match listed_as {
        Some(b) => backend_for(backends, b.backend, &b.engine),
        None => backends.first(),
    };
    let Some(backend) = backend else {
        return Err(anyhow!(
            "bottle {slug} runs on an engine this bb is not given: name it in config.yaml `engines:`"
        ));
    };
    // The agent's work first: saved, or the bottle keeps running.
    let saved = match crate::work::save_before_stop(backend.as_ref(), &ctx.home, slug).await {
        Ok(line) => line,
        Err(e) if force => Some(format!("its work was not saved ({e}); stopped anyway (--force)")),
        Err(e) => {
            return Err(anyhow!(
                "{slug} keeps running: its work could not be saved first ({e}); `bb stop --force {slug}` stops it without saving"
            ))
        }
    };
    match backend.stop(slug).await {
        Ok(()) => {
            let mut lines = vec![format!("stopped {slug}")];
            lines.extend(saved);
            let kept = crate::home::archive_dir(&ctx.home).join(slug);
            if kept.is_dir() {
                lines.push(format!(
                    "its audit and decision logs are kept in {}",
                    kept.display()
                ));
            }
            Ok(lines)
        }
        Err(BackendError::NoSuchBottle(_)) => Err(no_such(slug, listed)),
        Err(e) => Err(anyhow!("{e}")),
    }
}

pub fn cleanup(ctx: &Ctx, dry_run: bool) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let current = images::current_tags()?;
        let mut failed = 0;
        let mut found_any = false;
        for (i, spec) in engines(ctx)?.into_iter().enumerate() {
            let backend = DockerBackend::new(ctx.home.clone(), ctx.user_home.clone(), spec);
            let engine = match backend.engine().await {
                Ok(e) => e,
                Err(e) => {
                    failed += 1;
                    eprintln!("error: engine {}: {e}", backend.spec().name);
                    continue;
                }
            };
            let on = |o: &inventory::Orphan| format!("{o} on {}", engine.name);
            let found = inventory::orphans(&engine.docker, &ctx.home, &current, i == 0).await?;
            found_any |= !found.is_empty();
            for o in &found {
                if dry_run {
                    println!("would remove {}", on(o));
                    continue;
                }
                match inventory::remove_orphan(&engine.docker, &ctx.home, o).await {
                    Ok(()) => println!("removed {}", on(o)),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: could not remove {}: {e}", on(o));
                    }
                }
            }
        }
        if !found_any && failed == 0 {
            println!("Nothing to clean up.");
        }
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Launch `agent` after a y/N on its preflight; the new bottle's slug.
pub fn start(
    ctx: &Ctx,
    agent: &str,
    yes: bool,
    ws: &WorkspaceArgs,
    kind: BackendKind,
    engine: Option<&str>,
) -> Result<String> {
    let mut plan = plan_for(ctx, agent, ws, kind)?;
    if let Some(e) = engine {
        plan.engine = Some(e.to_string());
    }
    let backends = backends(ctx)?;
    let backend = placed(ctx, &backends, &plan)?;
    if kind != BackendKind::Docker {
        // Said before the preflight and the questions, not after them.
        if let Some(why) = runtime()?.block_on(backend.unavailable()) {
            return Err(anyhow!(
                "the {} backend cannot run here: {why}",
                kind.name()
            ));
        }
    }
    eprint!("{}", crate::preflight::to_text(&plan, &ctx.user_home));
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(anyhow!(
                "no terminal to answer y/N: pass --yes to launch without asking"
            ));
        }
        eprint!("\nLaunch {agent}? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(anyhow!("not launched"));
        }
    }
    let questions = plan.questions();
    if !questions.is_empty() && !std::io::stdin().is_terminal() {
        let names: Vec<&str> = questions.iter().map(|(n, _)| n.as_str()).collect();
        return Err(anyhow!(
            "{} asked at launch: run bb start in a terminal to answer",
            names.join(", ")
        ));
    }
    for (name, question) in questions {
        eprint!("{question} ({name}): ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        plan.answer(&name, answer.trim_end_matches(['\n', '\r']).to_string());
    }
    let slug = plan.slug.clone();
    runtime()?.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressMsg>();
        let printer = tokio::spawn(async move {
            let started = std::time::Instant::now();
            // On a terminal a build's steps overwrite each other in place;
            // elsewhere (a log) each is a line.
            let tty = std::io::stderr().is_terminal();
            let mut open = false;
            while let Some(msg) = rx.recv().await {
                let secs = started.elapsed().as_secs();
                let line = format!("  [{}:{:02}] {msg}", secs / 60, secs % 60);
                match (tty, msg.building().is_some()) {
                    (true, true) => {
                        eprint!("\r\x1b[K{line}");
                        open = true;
                    }
                    _ => {
                        if open {
                            eprintln!();
                            open = false;
                        }
                        eprintln!("{line}");
                    }
                }
            }
            if open {
                eprintln!();
            }
        });
        let result = backend.launch(&plan, tx).await;
        let _ = printer.await;
        result.map_err(|e| anyhow!("{e}"))
    })?;
    eprintln!("launched {slug}");
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_takes_a_slug_an_unambiguous_agent_or_all() {
        let bottles: Vec<(String, String)> = [
            ("alpha-1a2b3c", "alpha"),
            ("beta-4d5e6f", "beta"),
            ("beta-7a8b9c", "beta"),
        ]
        .iter()
        .map(|(s, a)| (s.to_string(), a.to_string()))
        .collect();
        assert_eq!(
            named_bottles(Some("beta-4d5e6f"), false, &bottles).unwrap(),
            ["beta-4d5e6f"]
        );
        assert_eq!(
            named_bottles(Some("alpha"), false, &bottles).unwrap(),
            ["alpha-1a2b3c"]
        );
        // The candidates, never a wider action (--all stops every bottle).
        let two = named_bottles(Some("beta"), false, &bottles).unwrap_err();
        assert!(
            two.contains("beta-4d5e6f, beta-7a8b9c") && !two.contains("--all"),
            "{two}"
        );
        assert_eq!(named_bottles(None, true, &bottles).unwrap().len(), 3);
        // Unknown: passed on, for the backend to say whose it is.
        assert_eq!(
            named_bottles(Some("gamma-000000"), false, &bottles).unwrap(),
            ["gamma-000000"]
        );
        assert!(named_bottles(None, false, &bottles).is_err());
    }

    fn sample() -> Vec<crate::backend::ActiveBottle> {
        vec![crate::backend::ActiveBottle {
            engine: "default".into(),
            slug: "alpha-1a2b3c".into(),
            agent: "alpha".into(),
            bottle: "dev".into(),
            backend: crate::plan::BackendKind::Docker,
            started_at: Some("2026-12-01T07:00:00Z".into()),
            state: crate::backend::BottleState::BundleDown,
            sidecars: vec![],
            down: Some("the bundle exited with code 137 (killed)".into()),
            template: None,
        }]
    }

    #[test]
    fn ls_json_is_the_documented_shape() {
        let work = crate::work::Summary {
            commits: 2,
            files: 3,
            taken: false,
            uncommitted: true,
        };
        let v: serde_json::Value =
            serde_json::from_str(&ls_json(&sample(), &[Some(work)])).unwrap();
        assert_eq!(v["version"], 1);
        let b = &v["bottles"][0];
        assert_eq!(b["work"]["commits"], 2);
        let mut fields_of_work: Vec<String> = b["work"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| format!("work.{k}"))
            .collect();
        assert_eq!(b["state"], "bundle_down");
        assert_eq!(b["backend"], "docker");
        assert_eq!(b["engine"], "default");
        assert_eq!(b["sidecars"], serde_json::json!([]));
        // Every field is in the README's table.
        let section = crate::cli::readme_section("bb ls JSON");
        let mut fields: Vec<String> = vec!["version".into(), "bottles".into()];
        fields.extend(b.as_object().unwrap().keys().cloned());
        fields.append(&mut fields_of_work);
        for f in fields {
            assert!(
                section.contains(&format!("`{f}`")),
                "README's bb ls JSON lacks `{f}`"
            );
        }
    }
}
