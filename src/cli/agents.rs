use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::Ctx;
use crate::plan::git_identity;
use crate::preflight::display_path;

/// `bb agents`: a table of agents, then any broken files.
pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let m = ctx.existing_manifest()?;
    if m.agents.is_empty() && m.errors.is_empty() {
        println!("No agents in {}/agents yet.", ctx.home.display());
        return Ok(ExitCode::SUCCESS);
    }
    let name_w = m.agents.keys().map(|k| k.len()).max().unwrap_or(0).max(5);
    let bottle_w = m
        .agents
        .values()
        .map(|a| a.bottle.len())
        .max()
        .unwrap_or(0)
        .max(6);
    if !m.agents.is_empty() {
        println!(
            "{:<name_w$}  {:<bottle_w$}  {:<8}  SOURCE",
            "AGENT", "BOTTLE", "PROVIDER"
        );
    }
    for a in m.agents.values() {
        let provider = m
            .bottles
            .get(&a.bottle)
            .map(|b| b.provider.template.name())
            .unwrap_or("?");
        println!(
            "{:<name_w$}  {:<bottle_w$}  {:<8}  {} ({})",
            a.name,
            a.bottle,
            provider,
            a.source.as_str(),
            display_path(&a.path, &ctx.user_home)
        );
    }
    for e in &m.errors {
        eprintln!("error: {e}");
    }
    Ok(if m.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `bb info AGENT`: the agent's definition as the manifest resolves it.
pub fn info(ctx: &Ctx, name: &str) -> Result<ExitCode> {
    let m = ctx.existing_manifest()?;
    let (agent, bottle) = m.agent(name).map_err(|e| anyhow!("{e}"))?;
    let row = |label: &str, value: &str| println!("{label:<13} : {value}");
    row("agent", &agent.name);
    row(
        "source",
        &format!(
            "{} ({})",
            agent.source.as_str(),
            display_path(&agent.path, &ctx.user_home)
        ),
    );
    let mut b = format!(
        "{} ({})",
        bottle.name,
        display_path(&bottle.path, &ctx.user_home)
    );
    if !bottle.extends.is_empty() {
        b.push_str(&format!(", extends {}", bottle.extends.join(" -> ")));
    }
    row("bottle", &b);
    row("provider", bottle.provider.template.name());
    row(
        "skills",
        &if agent.skills.is_empty() {
            "(none)".to_string()
        } else {
            agent.skills.join(", ")
        },
    );
    if let Some(id) = git_identity(agent, bottle).summary() {
        row("git identity", &id);
    }
    row("supervise", if bottle.supervise { "on" } else { "off" });
    if agent.prompt.is_empty() {
        row("prompt", "(none)");
    } else {
        row("prompt", "");
        for line in agent.prompt.lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
