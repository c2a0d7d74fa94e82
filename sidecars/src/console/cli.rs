//! The console's command line, the same in `bb-console` (what agent
//! containers hold) and `bb-sidecar` (which held it before, and still
//! does in bottles an older bb started).

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the agent in a PTY and hold it for sessions that come and go
    Serve {
        #[arg(long, default_value = super::SOCKET)]
        socket: PathBuf,
        /// Do nothing when a holder already answers on the socket (a
        /// session that finds the agent held attaches to it)
        #[arg(long)]
        unless_held: bool,
        /// The agent's command line
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Relay stdin and stdout to the holder
    Attach {
        #[arg(long, default_value = super::SOCKET)]
        socket: PathBuf,
        /// stdin is a terminal (a micro-VM's `exec -it`): relay its keys
        /// and its window size, rather than frames
        #[arg(long)]
        tty: bool,
    },
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Serve {
            socket,
            unless_held,
            command,
        } => {
            if unless_held && super::held(&socket) {
                return ExitCode::SUCCESS;
            }
            match super::serve(&socket, &command) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => {
                    eprintln!("bb console: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Attach { socket, tty } => match if tty {
            super::attach_tty(&socket)
        } else {
            super::attach(&socket)
        } {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "bb console: cannot reach the agent's console at {}: {e}",
                    socket.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}
