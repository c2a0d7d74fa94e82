//! The command line. `bb` with no command opens the workspace; the
//! subcommands serve scripting, CI and a quick look.

mod agents;
pub mod bottles;
mod doctor;
mod init;
mod logs;
mod placement;
mod preflight;
mod work;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::home;
use crate::manifest::{self, Manifest};

#[derive(Debug, Parser)]
#[command(
    name = "bb",
    version,
    about = "Run AI coding agents in sandboxed bottles",
    long_about = "Run AI coding agents (Claude Code, Codex) in sandboxed bottles: each agent gets its own \
container, an egress proxy that allows only what its manifest grants, and no real credentials.\n\n\
Manifests live in the bb home (~/.bot-bottle, shared with bot-bottle; BB_HOME or --home to change it)."
)]
pub struct Cli {
    /// The bb home: manifests, state and logs [default: $BB_HOME, else ~/.bot-bottle]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Run every session as this local shell command instead of in a bottle
    /// (no isolation; for bb's own tests)
    #[arg(long, global = true, hide = true, value_name = "CMD")]
    local_backend: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every agent with its bottle, provider and source (home or repo)
    Agents,
    /// Show one agent's definition: bottle, provider, skills, git identity, prompt
    Info { agent: String },
    /// Show what launching AGENT would make, before anything is made
    Preflight {
        agent: String,
        /// text for people; json is a stable, versioned contract for scripts
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        workspace: bottles::WorkspaceArgs,
    },
    /// Launch AGENT in a new bottle (preflight, y/N), then open the workspace on it
    Start {
        agent: String,
        /// Launch without asking
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        workspace: bottles::WorkspaceArgs,
        /// Where the agent runs: `docker` (a container), or `smolmachines`
        /// (a smolvm micro-VM, where `bb doctor` says it can run)
        #[arg(long, value_enum, default_value_t = StartBackend::Docker)]
        backend: StartBackend,
        /// The Docker engine to run on: a name config.yaml `engines:` gives,
        /// a Docker context, or `default` [default: the bottle's `engine:`,
        /// else config.yaml `default_engine`, else the default engine]
        #[arg(long, value_name = "NAME")]
        engine: Option<String>,
    },
    /// List every bottle, including ones other bb processes started
    Ls {
        /// `json`: a stable contract for scripts (README, "bb ls JSON")
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Stop a bottle (by slug, or by agent when one bottle runs it; --all:
    /// every bottle of this home): remove its containers and networks,
    /// settle its state dir
    Stop {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        #[arg(long)]
        all: bool,
        /// Stop even when the agent's work cannot be saved first
        #[arg(long)]
        force: bool,
    },
    /// Everything an agent changed since launch, committed and not, as a
    /// patch (by slug, or by agent when one bottle of it has work)
    Diff {
        name: String,
        /// The files changed and their size of change, not the patch
        #[arg(long)]
        stat: bool,
        /// `json`: the commits and files, for scripts (README, "bb diff JSON")
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make an agent's work a branch in the repository it was started from;
    /// its checked-out branch, index and files stay as they are
    Take {
        name: String,
        /// The branch to make [default: bb/<agent>-<id>]
        #[arg(long = "as", value_name = "BRANCH")]
        branch: Option<String>,
    },
    /// Apply an agent's changes to the files of the folder it was started
    /// from (a three-way merge; on a conflict nothing changes)
    Apply { name: String },
    /// The work saved from stopped bottles
    Archive {
        #[command(subcommand)]
        what: ArchiveCommand,
    },
    /// A bottle's egress audit log, readable (by slug, or by agent when one
    /// bottle of it has logs); stopped bottles' logs are kept
    Logs {
        name: String,
        /// Keep printing new records as they come
        #[arg(long, short)]
        follow: bool,
    },
    /// Open the workspace focused on a bottle (by slug, or by agent when
    /// one bottle runs it)
    Attach { name: String },
    /// Remove containers, networks and state dirs no bottle owns
    Cleanup {
        /// Say what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Check Docker, images, manifests and secrets
    Doctor,
    /// Write starter bottles and agents into the bb home (never overwrites a file)
    Init,
}

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// List the saved work: how much, whether it was taken, where
    Ls,
    /// Remove saved work (and the logs kept with it), saying what
    Prune {
        /// Slugs or agents whose saved work goes
        names: Vec<String>,
        /// Every stopped bottle's
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Every one whose work was taken or applied
        #[arg(long)]
        taken: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The backends `bb start --backend` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartBackend {
    Docker,
    #[value(alias = "smolvm")]
    Smolmachines,
}

impl StartBackend {
    fn kind(self) -> crate::plan::BackendKind {
        match self {
            StartBackend::Docker => crate::plan::BackendKind::Docker,
            StartBackend::Smolmachines => crate::plan::BackendKind::Smolmachines,
        }
    }
}

/// What every command needs: where things are.
pub struct Ctx {
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub cwd: PathBuf,
}

impl Ctx {
    fn new(flag: Option<PathBuf>) -> Result<Ctx> {
        let user_home = std::env::var_os("HOME").map(PathBuf::from);
        let home = home::bb_home(
            flag.as_deref(),
            std::env::var("BB_HOME").ok().as_deref(),
            user_home.as_deref(),
        )
        .ok_or_else(|| anyhow!("HOME is not set: set HOME, or pass --home DIR (or BB_HOME) to say where bb keeps its manifests"))?;
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
        Ok(Ctx {
            home,
            user_home: user_home.unwrap_or_default(),
            cwd,
        })
    }

    /// Load the manifests, printing warnings to stderr.
    pub fn manifest(&self) -> Manifest {
        let m = manifest::load(&home::layout(&self.home, &self.cwd));
        for w in &m.warnings {
            eprintln!("warning: {w}");
        }
        m
    }

    /// Load the manifests; a missing bb home is an error that says what to do.
    pub fn existing_manifest(&self) -> Result<Manifest> {
        if !self.home.is_dir() {
            return Err(anyhow!(
                "no manifest directory at {}: run `bb init` to write starter bottles and agents there",
                self.home.display()
            ));
        }
        Ok(self.manifest())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // writeln!, not eprintln!: with the terminal gone, saying so
            // must not panic.
            let mut err = std::io::stderr();
            for line in format!("{e:#}").lines() {
                let _ = writeln!(err, "error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Ctx::new(cli.home)?;
    match cli.command {
        None => {
            if !ctx.home.exists() && first_run(&ctx)? != FirstRun::Written {
                return Ok(ExitCode::SUCCESS);
            }
            workspace(&ctx, cli.local_backend, None)
        }
        Some(Command::Agents) => agents::run(&ctx),
        Some(Command::Info { agent }) => agents::info(&ctx, &agent),
        Some(Command::Preflight {
            agent,
            format,
            workspace,
        }) => preflight::run(&ctx, &agent, format, &workspace),
        Some(Command::Start {
            agent,
            yes,
            workspace: ws,
            backend,
            engine,
        }) => {
            let slug = bottles::start(&ctx, &agent, yes, &ws, backend.kind(), engine.as_deref())?;
            if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
                workspace(&ctx, None, Some(slug))
            } else {
                println!("{slug}");
                Ok(ExitCode::SUCCESS)
            }
        }
        Some(Command::Ls { format }) => bottles::ls(&ctx, format),
        Some(Command::Stop { name, all, force }) => {
            bottles::stop(&ctx, name.as_deref(), all, force)
        }
        Some(Command::Diff { name, stat, format }) => work::diff(&ctx, &name, stat, format),
        Some(Command::Take { name, branch }) => work::take(&ctx, &name, branch.as_deref()),
        Some(Command::Apply { name }) => work::apply(&ctx, &name),
        Some(Command::Archive { what }) => match what {
            ArchiveCommand::Ls => work::archive_ls(&ctx),
            ArchiveCommand::Prune { names, all, taken } => {
                work::archive_prune(&ctx, &names, all, taken)
            }
        },
        Some(Command::Logs { name, follow }) => logs::run(&ctx, &name, follow),
        Some(Command::Attach { name }) => {
            let slug = bottles::one_bottle(&ctx, &name)?;
            workspace(&ctx, None, Some(slug))
        }
        Some(Command::Cleanup { dry_run }) => bottles::cleanup(&ctx, dry_run),
        Some(Command::Doctor) => doctor::run(&ctx),
        Some(Command::Init) => init::run(&ctx),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FirstRun {
    Written,
    Declined,
}

/// No bb home yet: offer the starter manifests.
fn first_run(ctx: &Ctx) -> Result<FirstRun> {
    println!(
        "bb keeps bottles and agents in {}, which does not exist yet.",
        ctx.home.display()
    );
    if !std::io::stdin().is_terminal() {
        println!("Run `bb init` to write starter bottles and agents there.");
        return Ok(FirstRun::Declined);
    }
    print!("Write starter bottles (claude, codex) and an example agent for each there? [Y/n] ");
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "" | "y" | "yes"
    ) {
        init::run(ctx)?;
        println!("\nPress Enter to open the workspace.");
        let mut enter = String::new();
        std::io::stdin().read_line(&mut enter)?;
        Ok(FirstRun::Written)
    } else {
        println!("Nothing written. Run `bb init` when you want them.");
        Ok(FirstRun::Declined)
    }
}

/// `bb`: the workspace.
fn workspace(ctx: &Ctx, local_backend: Option<String>, attach: Option<String>) -> Result<ExitCode> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "the workspace needs a terminal; for scripts use `bb agents`, `bb preflight AGENT` or `bb doctor`"
        ));
    }
    let config = crate::tui::config::load(&ctx.home).map_err(|e| anyhow!("{e}"))?;
    let backends: Vec<crate::backend::SharedBackend> = match local_backend {
        Some(cmd) => vec![std::sync::Arc::new(
            crate::backend::local::LocalBackend::new(cmd).with_state(ctx.home.join("state")),
        )],
        None => placement::backends(ctx)?,
    };
    let paths = crate::tui::app::Paths {
        home: ctx.home.clone(),
        user_home: ctx.user_home.clone(),
        cwd: ctx.cwd.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let running = rt.block_on(crate::tui::run::run(paths, config, backends, attach))?;
    // Tasks still waiting on Docker must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    if running > 0 {
        // The terminal may be gone (closed window): never panic saying so.
        let _ = writeln!(
            std::io::stdout(),
            "bb: {running} bottle(s) keep running; `bb` finds them again."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A section of the README, from its `## title` to the next.
#[cfg(test)]
pub(crate) fn readme_section(title: &str) -> String {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap_or_default();
    let Some(at) = readme.find(&format!("\n## {title}")) else {
        panic!("the README has no section `## {title}`");
    };
    let section = &readme[at + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end].to_string()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command `bb --help` lists has its row in the README.
    #[test]
    fn the_readme_lists_every_command() {
        let section = super::readme_section("Commands");
        for c in super::Cli::command().get_subcommands() {
            if c.is_hide_set() {
                continue;
            }
            let name = c.get_name();
            assert!(
                section.contains(&format!("| `bb {name}"))
                    || section.contains(&format!("`, `bb {name}")),
                "README's Commands table lacks `bb {name}`"
            );
        }
    }
}
