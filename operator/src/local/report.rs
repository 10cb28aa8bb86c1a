//! `godiag report`: a request's report.html, rendered from its stored artifacts on a laptop
//! with the same code the operator runs when a request finishes.

use crate::cli::ReportArgs;
use anyhow::Context;
use std::process::ExitCode;

/// The storage URL of SOURCE: a URL as given, a path as a `file://` URL.
fn source_url(source: &str) -> anyhow::Result<String> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let dir = std::fs::canonicalize(source).with_context(|| format!("reading {source}"))?;
    Ok(format!("file://{}", dir.display()))
}

pub async fn run_report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let url = source_url(&args.source)?;
    let store = crate::store::open(&url)?;
    let started = std::time::Instant::now();
    match &args.out {
        Some(path) => {
            let page = crate::report::render(store.as_ref(), "").await.with_context(|| format!("reading {url}"))?;
            std::fs::write(path, &page).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "report written to {} ({} KiB, {} ms)",
                path.display(),
                page.len() >> 10,
                started.elapsed().as_millis()
            );
        }
        None => {
            let o = crate::report::store_report(store.as_ref(), "").await.with_context(|| format!("reading {url}"))?;
            eprintln!("report stored at {} ({} KiB, {} ms)", o.uri, o.bytes >> 10, started.elapsed().as_millis());
        }
    }
    Ok(ExitCode::SUCCESS)
}
