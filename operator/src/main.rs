//! The godiag binary: parse the command line and dispatch.

use clap::Parser;
use godiag::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Analyze(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            godiag::analyze::cli::run_analyze(args, &mut out)
        }
        _ => {
            eprintln!("not implemented in this branch");
            std::process::exit(2);
        }
    }
}
