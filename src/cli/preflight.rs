use std::process::ExitCode;

use anyhow::Result;

use super::bottles::{plan_for, WorkspaceArgs};
use super::{Ctx, Format};
use crate::preflight;

/// `bb preflight AGENT`: what launching would make. Exit status 0 even when
/// something would block the launch: the summary shows it, and launch
/// refuses it.
pub fn run(ctx: &Ctx, name: &str, format: Format, ws: &WorkspaceArgs) -> Result<ExitCode> {
    let plan = plan_for(ctx, name, ws, crate::plan::BackendKind::Docker)?;
    match format {
        Format::Text => print!("{}", preflight::to_text(&plan, &ctx.user_home)),
        Format::Json => println!("{}", preflight::to_json(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}
