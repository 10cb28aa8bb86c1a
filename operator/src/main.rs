use clap::Parser;
use godiag::cli::{Cli, Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    godiag::telemetry::init(cli.log_format, &cli.log)?;
    match cli.command {
        Command::Run(_args) => todo_run(),
        Command::Crdgen => {
            print!("{}", godiag::api::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect(_) | Command::Analyze(_) => {
            eprintln!("not implemented in this branch");
            Ok(ExitCode::FAILURE)
        }
    }
}
fn todo_run() -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
