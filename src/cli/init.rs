use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Ctx;
use crate::firstrun::{write_starters, Outcome};
use crate::preflight::display_path;

pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let outcomes = write_starters(&ctx.home)
        .with_context(|| format!("cannot write starter manifests into {}", ctx.home.display()))?;
    for o in &outcomes {
        match o {
            Outcome::Written(p) => println!("wrote {}", display_path(p, &ctx.user_home)),
            Outcome::Kept(p) => println!(
                "kept  {} (already there; not touched)",
                display_path(p, &ctx.user_home)
            ),
        }
    }
    println!(
        "\nNext: export BOT_BOTTLE_CLAUDE_OAUTH_TOKEN (from `claude setup-token`) for Claude, or run\n\
         `codex login --device-auth` for Codex, then `bb preflight claude-helper` to review a launch."
    );
    Ok(ExitCode::SUCCESS)
}
