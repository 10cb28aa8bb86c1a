//! The `godiag` binary: parse the command line, install the TLS provider, dispatch.

use clap::Parser;
use godiag::cli::{Cli, Command};
use std::io::IsTerminal;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Both rustls providers can end up in the tree (kube, object_store); pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Collect(args) => godiag::collect::cli::run_collect(args).await,
        _ => Err(anyhow::anyhow!("not implemented in this branch")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
