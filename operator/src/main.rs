//! The `godiag` binary: parse the command line, install the TLS provider, dispatch.

use clap::Parser;
use godiag::cli::{Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Both rustls providers can end up in the tree (kube, object_store); pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    match &cli.command {
        Command::Collect(args) => godiag::collect::cli::run_collect(args).await,
        _ => {
            eprintln!("not implemented in this branch");
            Ok(ExitCode::from(2))
        }
    }
}
