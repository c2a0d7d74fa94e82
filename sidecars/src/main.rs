//! bb-sidecar: the daemons of a bottle's sidecar bundle (egress proxy, git
//! gate, supervise MCP server, and the init that runs them). They land one
//! by one; until then the binary only reports its version.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bb-sidecar",
    version,
    about = "The daemons of a bb bottle's sidecar bundle",
    long_about = "The daemons of a bb bottle's sidecar bundle. bb starts this binary inside each bottle's \
sidecar container; it is not meant to be run by hand."
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("bb-sidecar: no daemon in this build yet; bb starts bottles without it for now");
    std::process::exit(2);
}
