//! `godiag analyze-worker`: the child side. Limits itself before it reads a byte, analyses one
//! artifact from stdin, and writes a [`WorkerReport`] line and the SVG to stdout. Synchronous
//! and single-threaded on purpose: no async runtime, no thread arenas in the address space.

use super::protocol::{WorkerError, WorkerReport};
use crate::cli::AnalyzeWorkerArgs;
use godiag_analyze::{AnalyzeOptions, ArtifactKind, FlameGraph, FlameOptions, Resources, analyze_with_flame};
use nix::sys::resource::{Resource, setrlimit};
use std::io::{Read, Write};
use std::process::ExitCode;

/// Largest artifact the worker reads (the parent sends at most this much).
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Caps address space and CPU time, and asks the kernel to pick this process first when the
/// container runs out of memory (raising one's own `oom_score_adj` needs no privilege).
fn limit_self(args: &AnalyzeWorkerArgs) -> std::io::Result<()> {
    setrlimit(Resource::RLIMIT_AS, args.max_memory, args.max_memory).map_err(std::io::Error::from)?;
    setrlimit(Resource::RLIMIT_CPU, args.max_cpu_seconds, args.max_cpu_seconds.saturating_add(1))
        .map_err(std::io::Error::from)?;
    // Best effort: /proc may be read-only in odd sandboxes; the limits above still hold.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    Ok(())
}

/// Peak resident memory of this process (`VmHWM`), 0 when /proc cannot say.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .map_or(0, |kib: u64| kib * 1024)
}

/// The analysis of one artifact and its flame graph SVG, as the worker answers it (the
/// controller's in-process analysis for tests runs this same function).
pub fn analyse_artifact(kind: ArtifactKind, resources: Resources, data: &[u8]) -> (WorkerReport, Option<String>) {
    let opts = AnalyzeOptions { kind: Some(kind), resources, ..AnalyzeOptions::default() };
    let mut report =
        WorkerReport { analysis: None, error: None, svg_bytes: 0, digest: None, flame_note: None, peak_rss_bytes: 0 };
    let flame = kind
        .has_flame_graph()
        .then(|| FlameOptions { title: Some(format!("{kind} flame graph")), ..FlameOptions::default() });
    // One decode serves the analysis, the digest and the flame graph.
    let graph = match analyze_with_flame(data, Some(kind), &opts, flame.as_ref()) {
        Ok((a, digest, graph)) => {
            report.analysis = Some(a);
            report.digest = digest;
            graph
        }
        Err(e) => {
            report.error = Some(WorkerError { reason: e.reason().into(), message: e.to_string() });
            return (report, None);
        }
    };
    let mut svg = None;
    match graph {
        Some(Ok(FlameGraph::Svg(s))) => svg = Some(s),
        Some(Ok(FlameGraph::Empty { reason })) => report.flame_note = Some(reason),
        Some(Err(e)) => report.flame_note = Some(format!("no flame graph: {e}")),
        None => {}
    }
    (report, svg)
}

pub fn run_worker(args: &AnalyzeWorkerArgs) -> ExitCode {
    if let Err(e) = limit_self(args) {
        eprintln!("error: cannot limit the analysis worker: {e}");
        return ExitCode::FAILURE;
    }
    let mut data = Vec::new();
    let read = std::io::stdin().lock().take(MAX_INPUT_BYTES + 1).read_to_end(&mut data);
    let refused = |reason: &str, message: String| {
        let error = Some(WorkerError { reason: reason.into(), message });
        (WorkerReport { analysis: None, error, svg_bytes: 0, digest: None, flame_note: None, peak_rss_bytes: 0 }, None)
    };
    let (mut report, svg) = match read {
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => {
            refused("OutOfMemory", format!("reading the artifact: {e}"))
        }
        Err(e) => {
            eprintln!("error: reading the artifact from stdin: {e}");
            return ExitCode::FAILURE;
        }
        Ok(_) if data.len() as u64 > MAX_INPUT_BYTES => {
            refused("TooLarge", format!("input too large: more than {} MiB", MAX_INPUT_BYTES >> 20))
        }
        Ok(_) => analyse_artifact(args.kind, args.resources.resources(), &data),
    };
    drop(data);
    report.svg_bytes = svg.as_ref().map_or(0, |s| s.len() as u64);
    report.peak_rss_bytes = peak_rss_bytes();
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &report)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| svg.map_or(Ok(()), |s| out.write_all(s.as_bytes())))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the analysis: {e}");
            ExitCode::FAILURE
        }
    }
}
