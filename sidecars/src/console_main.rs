//! bb-console: the agent container's main process, holding the agent's
//! console, and the relay a session attaches through. Only the console:
//! the bundle's daemons stay out of the agent's container (and out of
//! each launch's copy).

use std::process::ExitCode;

use bb_sidecar::console;
use clap::{Parser, Subcommand};

mod alloc;

#[derive(Debug, Parser)]
#[command(
    name = "bb-console",
    version,
    about = "The console holder of a bb agent container",
    long_about = "The console holder of a bb agent container. bb starts this binary as the agent \
container's main process; it is not meant to be run by hand."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// As `bb-sidecar console …`, so either binary answers a session.
#[derive(Debug, Subcommand)]
enum Command {
    /// The agent's console holder and the relay a session attaches through
    #[command(subcommand)]
    Console(console::cli::Command),
}

fn main() -> ExitCode {
    let Command::Console(command) = Cli::parse().command;
    console::cli::run(command)
}
