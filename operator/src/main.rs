//! The `godiag` binary: parse the command line, install the TLS provider, set up logs, dispatch.
//! Only the commands that do network I/O get an async runtime: `analyze` and the operator's
//! analysis worker stay single-threaded, so their memory is the analysis and nothing else.

use clap::Parser;
use godiag::cli::{Cli, Command};
use std::process::ExitCode;

/// jemalloc, built to hand freed pages back to the kernel at once (`.cargo/config.toml`): with
/// glibc's malloc the operator stayed at 84 MiB resident after 1,000 requests were deleted (38
/// MiB before), its arenas keeping the free pages. Returning them at once (and unmapping, not
/// retaining, address space) also keeps the analysis worker's peak memory and address space
/// what it allocates, which its RLIMIT_AS needs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::AnalyzeWorker(args) = &cli.command {
        return godiag::worker::child::run_worker(args);
    }
    // Both rustls providers can end up in the tree (kube, object_store); pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = godiag::telemetry::init(cli.log_format, &cli.log) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let result = match &cli.command {
        Command::Run(args) => runtime()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(godiag::operator::run((**args).clone())))
            .map(|()| ExitCode::SUCCESS),
        Command::Crdgen => {
            godiag::api::crds_yaml().map(|y| print!("{y}")).map(|()| ExitCode::SUCCESS).map_err(Into::into)
        }
        Command::Collect(args) => {
            runtime().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(godiag::local::collect::run_collect(args)))
        }
        Command::Analyze(args) => {
            godiag::local::analyze::run_analyze(args, &mut std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            runtime().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(godiag::local::report::run_report(args)))
        }
        Command::Delve(godiag::cli::DelveCommand::Snapshot(args)) => {
            runtime().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(godiag::local::delve::run_snapshot(args)))
        }
        Command::Delve(godiag::cli::DelveCommand::Trace(args)) => {
            runtime().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(godiag::local::delve::run_trace(args)))
        }
        Command::AnalyzeWorker(args) => Ok(godiag::worker::child::run_worker(args)),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
