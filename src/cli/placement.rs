//! Where bottles run: the engines and backends a home offers, the one a
//! plan goes to, and the bottles every one of them lists.

use anyhow::{anyhow, Result};

use super::Ctx;
use crate::backend::docker::DockerBackend;
use crate::backend::engines::{self, EngineSpec};
use crate::backend::{ActiveBottle, SharedBackend};
use crate::plan::{BackendKind, BottlePlan};

/// The engines bottles may run on, the one they go to by default first;
/// an engine config.yaml names that cannot be used is said in one line.
pub(super) fn engines(ctx: &Ctx) -> Result<Vec<EngineSpec>> {
    let config = crate::tui::config::load(&ctx.home).map_err(|e| anyhow!("{e}"))?;
    let (specs, errors) = engines::all(
        &config.engines,
        config.default_engine.as_deref(),
        &engines::process_env,
        &ctx.user_home,
    );
    for e in &errors {
        eprintln!("warning: {e}");
    }
    if specs.is_empty() {
        return Err(anyhow!(
            "no Docker engine can be used: fix DOCKER_HOST, the Docker context or config.yaml `engines:` (above)"
        ));
    }
    Ok(specs)
}

/// Every backend bb offers people: Docker on each engine, then micro-VMs.
pub(super) fn backends(ctx: &Ctx) -> Result<Vec<SharedBackend>> {
    Ok(crate::backend::user_backends(
        &ctx.home,
        &ctx.user_home,
        &engines(ctx)?,
    ))
}

/// The backend of `kind` on `engine` (for Docker; the others have none).
pub(super) fn backend_for<'a>(
    backends: &'a [SharedBackend],
    kind: BackendKind,
    engine: &str,
) -> Option<&'a SharedBackend> {
    backends.iter().find(|b| {
        b.kind() == kind && b.engine().map_or(String::new(), |e| e.name.clone()) == engine
    })
}

/// The backend a plan goes to: its kind, on the engine it names (a name
/// config.yaml gives, or a Docker context), else on the default one.
pub(super) fn placed(
    ctx: &Ctx,
    backends: &[SharedBackend],
    plan: &BottlePlan,
) -> Result<SharedBackend> {
    if plan.backend != BackendKind::Docker {
        if let Some(e) = &plan.engine {
            return Err(anyhow!(
                "engine {e} is for Docker bottles; {} runs its own way (drop --engine or the bottle's engine:)",
                plan.backend.name()
            ));
        }
        return backends
            .iter()
            .find(|b| b.kind() == plan.backend)
            .cloned()
            .ok_or_else(|| anyhow!("bb has no {} backend", plan.backend.name()));
    }
    let Some(name) = &plan.engine else {
        return backends
            .iter()
            .find(|b| b.kind() == BackendKind::Docker)
            .cloned()
            .ok_or_else(|| anyhow!("no Docker engine is configured"));
    };
    if let Some(b) = backend_for(backends, BackendKind::Docker, name) {
        return Ok(b.clone());
    }
    // A Docker context config.yaml does not name.
    let known: Vec<EngineSpec> = backends
        .iter()
        .filter_map(|b| b.engine().cloned())
        .collect();
    let spec = engines::find(name, &known, &engines::process_env, &ctx.user_home)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(std::sync::Arc::new(DockerBackend::new(
        ctx.home.clone(),
        ctx.user_home.clone(),
        spec,
    )))
}

/// Where a backend runs bottles, for messages: `docker on default
/// (unix:///var/run/docker.sock)`.
pub(super) fn place(b: &SharedBackend) -> String {
    match b.engine() {
        Some(e) => format!("{} on {} ({})", b.kind().name(), e.name, e.host),
        None => b.kind().name().to_string(),
    }
}

/// The bottles of every backend. An engine (or backend) that cannot
/// answer is said in one line and skipped; none answering is an error.
/// How long a listing waits for one engine.
const LIST_PATIENCE: std::time::Duration = std::time::Duration::from_secs(8);

pub(super) async fn all_bottles(backends: &[SharedBackend]) -> Result<Vec<ActiveBottle>> {
    let mut out = Vec::new();
    let mut answered = 0;
    let mut first_error = None;
    // All at once, each with the patience the workspace has: an engine
    // that hangs costs seconds, not the request timeout.
    let lists = backends.iter().map(|b| async move {
        match tokio::time::timeout(LIST_PATIENCE, b.list()).await {
            Ok(listed) => listed,
            Err(_) => Err(crate::backend::BackendError::Failed(format!(
                "no answer in {} s",
                LIST_PATIENCE.as_secs()
            ))),
        }
    });
    for (b, listed) in backends
        .iter()
        .zip(futures_util::future::join_all(lists).await)
    {
        match listed {
            Ok(found) => {
                answered += 1;
                out.extend(found);
            }
            Err(e) => {
                eprintln!(
                    "warning: {} does not answer, so its bottles are not listed: {e}",
                    place(b)
                );
                first_error.get_or_insert(e);
            }
        }
    }
    if answered == 0 {
        if let Some(e) = first_error {
            return Err(anyhow!("{e}"));
        }
    }
    out.sort_by(|a, b| (&a.started_at, &a.slug).cmp(&(&b.started_at, &b.slug)));
    Ok(out)
}

pub(super) async fn listed(backends: &[SharedBackend]) -> Result<Vec<(String, String)>> {
    Ok(all_bottles(backends)
        .await?
        .into_iter()
        .map(|b| (b.slug, b.agent))
        .collect())
}
