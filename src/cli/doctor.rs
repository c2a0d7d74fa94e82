//! `bb doctor`: is this machine ready to run bottles?

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::backend::docker::images::{self, Freshness, ImageSource};
use crate::backend::docker::Engine;
use crate::backend::engines;
use crate::plan::{self, BackendKind, Blocker};
use crate::system::SystemHost;

/// The key for "the host has no Codex login" among missing secrets.
const CODEX_LOGIN: &str = "(codex login)";

#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, msg: impl AsRef<str>) {
        println!("ok    {}", msg.as_ref());
    }
    fn warn(&mut self, msg: impl AsRef<str>) {
        println!("warn  {}", msg.as_ref());
    }
    fn fail(&mut self, msg: impl AsRef<str>) {
        self.failures += 1;
        println!("FAIL  {}", msg.as_ref());
    }
}

pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let mut r = Report::default();
    // The images a launch would need, by repository.
    let mut sources: BTreeMap<String, ImageSource> = BTreeMap::new();
    match images::sidecar_source() {
        Ok(src) => {
            sources.insert(src.repository.clone(), src);
        }
        Err(e) => r.fail(e.to_string()),
    }
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();

    if !ctx.home.is_dir() {
        r.fail(format!(
            "no manifest directory at {}: run `bb init` to write starter bottles and agents",
            ctx.home.display()
        ));
    } else if let Err(e) = std::fs::read_dir(&ctx.home) {
        r.fail(format!("cannot read {}: {e}", ctx.home.display()));
    } else {
        let m = ctx.manifest();
        let repo = m
            .layout
            .repo
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default();
        r.ok(format!(
            "manifests: {} bottles, {} agents in {}{repo}",
            m.bottles.len(),
            m.agents.len(),
            ctx.home.display()
        ));
        for e in &m.errors {
            r.fail(e.to_string());
        }
        let host = SystemHost {
            cwd: ctx.cwd.clone(),
            home: ctx.user_home.clone(),
        };
        for (agent, bottle) in m
            .agents
            .values()
            .filter_map(|a| m.bottles.get(&a.bottle).map(|b| (a, b)))
        {
            let p = plan::resolve(agent, bottle, &host, BackendKind::Docker, "doctor");
            match images::agent_source(&p) {
                Ok(src) => {
                    sources.insert(src.repository.clone(), src);
                }
                Err(e) => r.fail(e.to_string()),
            }
            for b in p.blockers() {
                match b {
                    Blocker::MissingSecret(name) => {
                        missing.entry(name).or_default().insert(bottle.name.clone());
                    }
                    Blocker::MissingCodexLogin => {
                        missing
                            .entry(CODEX_LOGIN.into())
                            .or_default()
                            .insert(bottle.name.clone());
                    }
                    _ => {}
                }
            }
        }
        for (name, bottles) in &missing {
            let bottles = bottles
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            r.fail(if name == CODEX_LOGIN {
                format!("no Codex login on the host (~/.codex/auth.json; bottles: {bottles}): run `codex login --device-auth`")
            } else {
                format!("secret {name} is not set on the host (bottles: {bottles}): export it before launching their agents")
            });
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = crate::tui::config::load(&ctx.home).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (specs, errors) = engines::all(
        &config.engines,
        config.default_engine.as_deref(),
        &engines::process_env,
        &ctx.user_home,
    );
    for e in errors {
        r.fail(e.to_string());
    }
    // Every engine, one line each for what is wrong and what to do.
    for spec in &specs {
        let at = format!("engine {} ({}, from {})", spec.name, spec.host, spec.from);
        rt.block_on(async {
        match Engine::connect(spec).await {
            Err(e) => r.fail(format!("{at}: {e}")),
            Ok(engine) => {
                let version = engine
                    .docker
                    .version()
                    .await
                    .ok()
                    .and_then(|v| v.version)
                    .unwrap_or_default();
                r.ok(format!("{at}: Docker API {version} answers"));
                match engine.runsc_available().await {
                    Ok(true) => r.ok(format!("{}: gVisor (runsc) is registered: bottles run under it", spec.name)),
                    Ok(false) => r.warn(format!("{}: gVisor (runsc) is not registered: bottles run under the engine's default runtime", spec.name)),
                    Err(e) => r.warn(e.to_string()),
                }
                for src in sources.values() {
                    let tag = match src.materialise() {
                        Ok(m) => m.tag,
                        Err(e) => {
                            r.fail(e.to_string());
                            continue;
                        }
                    };
                    let on = &spec.name;
                    match images::freshness(&engine.docker, src, &tag).await {
                        Ok(Freshness::Built) => r.ok(format!("image {tag} is built on {on}")),
                        Ok(Freshness::Stale) => r.warn(format!("image {} on {on} is out of date (built from other files or another bb): the next launch there builds {tag}", src.repository)),
                        Ok(Freshness::Missing) => r.warn(format!("image {tag} is not built on {on} yet: bb builds it at the first launch there that needs it")),
                        Err(e) => r.fail(format!("{on}: {e}")),
                    }
                }
            }
        }
        });
    }

    // The micro-VM backend is optional: why it cannot run is a warning.
    use crate::backend::smolmachines::probe;
    match probe::usable() {
        Ok(program) => r.ok(format!(
            "smolvm ({}, {}) can boot micro-VMs here",
            probe::version(&program).unwrap_or_default(),
            program.display()
        )),
        Err(why) => r.warn(format!("smolmachines backend unavailable: {why}")),
    }

    if r.failures == 0 {
        println!("\nready");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{} problem(s)", r.failures);
        Ok(ExitCode::FAILURE)
    }
}
