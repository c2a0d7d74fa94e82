use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::{Ctx, Format};
use crate::plan::{self, BackendKind};
use crate::preflight;
use crate::system::SystemHost;

/// `bb preflight AGENT`: what launching would make. Exit status 0 even when
/// something would block the launch: the summary shows it, and launch
/// refuses it.
pub fn run(ctx: &Ctx, name: &str, format: Format) -> Result<ExitCode> {
    let m = ctx.existing_manifest()?;
    let (agent, bottle) = m.agent(name).map_err(|e| anyhow!("{e}"))?;
    let host = SystemHost {
        cwd: ctx.cwd.clone(),
        home: ctx.user_home.clone(),
    };
    let plan = plan::resolve(
        agent,
        bottle,
        &host,
        BackendKind::Docker,
        &plan::random_suffix(),
    );
    match format {
        Format::Text => print!("{}", preflight::to_text(&plan, &ctx.user_home)),
        Format::Json => println!("{}", preflight::to_json(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}
