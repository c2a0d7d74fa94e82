//! bb-sidecar: the daemons of a bottle's sidecar bundle, and the init that
//! runs them as the bundle container's PID 1.

use bb_sidecar::{console, egress, gate, init, operator, supervise};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;

#[derive(Debug, Parser)]
#[command(
    name = "bb-sidecar",
    version,
    about = "The daemons of a bb bottle's sidecar bundle",
    long_about = "The daemons of a bb bottle's sidecar bundle. bb starts this binary inside each bottle's \
sidecar container; it is not meant to be run by hand."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// PID 1 of the bundle: start the daemons, forward signals, reap
    Init {
        /// Daemons to run, comma-separated (egress, git-gate, supervise)
        #[arg(long, value_delimiter = ',', default_value = "")]
        daemons: Vec<String>,
        /// Seconds between SIGTERM and SIGKILL when stopping
        #[arg(long, default_value_t = 10)]
        grace: u64,
    },
    /// The git gate: the agent's remotes, scanned and forwarded upstream
    GitGate {
        #[arg(long, default_value = "/etc/bb/git-gate.json")]
        config: std::path::PathBuf,
    },
    /// The gate's pre-receive hook (git runs it)
    #[command(hide = true)]
    GitGateHook,
    /// The MCP server the agent asks for changes through
    Supervise {
        #[arg(long, default_value = "0.0.0.0:9100")]
        listen: String,
        /// The proposal queue shared with bb
        #[arg(long, default_value = "/var/lib/bb/proposals")]
        queue: std::path::PathBuf,
        #[arg(long, default_value = "/etc/bb/egress.json")]
        egress_config: std::path::PathBuf,
        /// Seconds a call waits for the operator's decision
        #[arg(long, default_value_t = 600)]
        wait: u64,
    },
    /// The agent's console holder (the agent container's main process)
    /// and the relay a session attaches through
    #[command(subcommand)]
    Console(console::cli::Command),
    /// bb's way to the bottle's state (run by bb through the engine): one
    /// request in, one answer out; `watch` tells each change as it comes
    #[command(hide = true)]
    Operator {
        /// A request (bb_contract::operator), or `watch`
        request: String,
    },
    /// The egress proxy: allowlist, TLS interception, credential injection, DLP
    Egress {
        /// The config bb rendered for this bottle
        #[arg(long, default_value = "/etc/bb/egress.json")]
        config: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemons (not init, not the gate's hook, whose stdin is git's)
    // take their secrets from init on stdin.
    if matches!(
        cli.command,
        Command::Egress { .. } | Command::GitGate { .. } | Command::Supervise { .. }
    ) {
        bb_sidecar::secrets::load();
    }
    match cli.command {
        Command::Console(command) => console::cli::run(command),
        Command::Operator { request } if request == "watch" => {
            match operator::watch(&operator::state_dir()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bb-sidecar operator: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Operator { request } => {
            let answer = operator::answer(&operator::state_dir(), &request);
            println!("{}", serde_json::to_string(&answer).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Init { daemons, grace } => {
            init::run(&daemons, std::time::Duration::from_secs(grace))
        }
        Command::GitGate { config } => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => match rt.block_on(gate::run(&config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bb-sidecar git-gate: {e:#}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("bb-sidecar git-gate: {e}");
                ExitCode::FAILURE
            }
        },
        Command::GitGateHook => {
            let mut input = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input);
            ExitCode::from(gate::pre_receive(&input) as u8)
        }
        Command::Supervise {
            listen,
            queue,
            egress_config,
            wait,
        } => {
            let sup = supervise::Supervise {
                queue,
                egress_config,
                slug: std::env::var("BB_SLUG").unwrap_or_default(),
                agent: std::env::var("BB_AGENT").unwrap_or_default(),
                wait: std::time::Duration::from_secs(wait),
            };
            match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => match rt.block_on(supervise::run(&listen, sup)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("bb-sidecar supervise: {e:#}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("bb-sidecar supervise: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Egress { config } => {
            // Body scans are CPU-bound: more threads than cores only add
            // per-thread allocator caches (memory), not speed.
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .max_blocking_threads(cores * 2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("bb-sidecar egress: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(egress::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bb-sidecar egress: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
