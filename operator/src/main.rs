//! The `godiag` binary: parse the command line, install the TLS provider, set up logs, dispatch.

use clap::Parser;
use godiag::cli::{Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Both rustls providers can end up in the tree (kube, object_store); pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = godiag::telemetry::init(cli.log_format, &cli.log) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match &cli.command {
        Command::Run(args) => godiag::operator::run(args.clone()).await.map(|()| ExitCode::SUCCESS),
        Command::Crdgen => {
            godiag::api::crds_yaml().map(|y| print!("{y}")).map(|()| ExitCode::SUCCESS).map_err(Into::into)
        }
        Command::Collect(args) => godiag::local::collect::run_collect(args).await,
        Command::Analyze(args) => {
            godiag::local::analyze::run_analyze(args, &mut std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
