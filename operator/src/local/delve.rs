//! `godiag delve snapshot ADDR`: the operator's Delve snapshot against a headless dlv a user
//! started, with the same artifacts (`delve-snapshot.json`, `delve-goroutines.txt`) and the same
//! analysis of the goroutines.

use crate::cli::{DelveSnapshotArgs, DelveTraceArgs};
use crate::collect::Connector;
use crate::collect::TcpConnector;
use crate::delve::cluster::load_config;
use crate::delve::rpc::DelveClient;
use crate::delve::snapshot::{self, SnapshotPlan};
use crate::delve::{render, summary};
use crate::store::{self, layout};
use anyhow::Context;
use bytes::Bytes;
use godiag_analyze::{AnalyzeOptions, ArtifactKind};
use std::process::ExitCode;
use std::time::Duration;

/// The dlv to talk to, where to store, and the directory name (default `delve_HOST_PORT`).
fn destination(
    addr: &str,
    out: &str,
    name: Option<&str>,
) -> anyhow::Result<(std::net::SocketAddr, std::sync::Arc<dyn store::ArtifactStore>, String)> {
    let addr: std::net::SocketAddr =
        addr.parse().with_context(|| format!("{addr}: expected HOST:PORT of a headless dlv, e.g. 127.0.0.1:2345"))?;
    let out = store::open(out)?;
    let name =
        name.map(layout::segment).unwrap_or_else(|| layout::segment(&format!("delve_{}_{}", addr.ip(), addr.port())));
    Ok((addr, out, name))
}

pub async fn run_snapshot(args: &DelveSnapshotArgs) -> anyhow::Result<ExitCode> {
    let (addr, out, name) = destination(&args.addr, &args.out, args.name.as_deref())?;
    let conn = TcpConnector::from(addr);
    let io = conn.connect().await.with_context(|| format!("connecting to dlv at {addr}"))?;
    let mut client = DelveClient::new(io, Duration::from_secs(10));
    let plan = SnapshotPlan {
        max_goroutines: args.max_goroutines.max(1),
        stack_depth: args.stack_depth.clamp(1, 256),
        locals: args.locals,
        load: load_config(&crate::api::LoadLimits::default()),
        max_pause: args.max_pause,
        max_bytes: snapshot::MAX_SNAPSHOT_BYTES,
    };
    let snap = snapshot::take(&mut client, &plan).await.with_context(|| format!("snapshot through dlv at {addr}"))?;
    drop(client);
    let json = serde_json::to_vec(&snap)?;
    let text = render::dump(&snap);
    let mut stored = Vec::new();
    for (kind, bytes) in
        [(ArtifactKind::DelveSnapshot, json), (ArtifactKind::DelveGoroutines, text.clone().into_bytes())]
    {
        let obj = out.put_bytes(&layout::artifact_path(&name, kind), Bytes::from(bytes)).await?;
        stored.push(obj.uri);
    }
    let s = summary::summarize(&snap, "-", "-");
    println!(
        "read {} goroutines ({}); the program was stopped {} ms while godiag read it, then detached{}",
        s.goroutines_read,
        s.versions,
        s.paused_ms,
        s.partial.as_deref().map(|p| format!(" (partial: {p})")).unwrap_or_default()
    );
    let analysis = godiag_analyze::goroutine::analyze_text(text.as_bytes(), &AnalyzeOptions::default())?;
    print!("{}", godiag_analyze::render::text(&godiag_analyze::Analysis::Goroutines(analysis)));
    for l in &s.locals {
        println!("  {l}");
    }
    for uri in stored {
        println!("stored {uri}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `godiag delve trace ADDR --at LOC`: the operator's trace against a headless dlv a user
/// started, with the same artifacts (`delve-trace.json`, `delve-trace.txt`) and summary.
pub async fn run_trace(args: &DelveTraceArgs) -> anyhow::Result<ExitCode> {
    use crate::api::delve::{MAX_STOP_BUDGET_MS, MAX_TRACE_HITS, MAX_TRACE_WINDOW_SECS};
    use crate::delve::trace::{self, TracePlan, TracepointPlan};
    let (addr, out, name) = destination(&args.addr, &args.out, args.name.as_deref())?;
    let plan = TracePlan {
        tracepoints: args
            .at
            .iter()
            .enumerate()
            .map(|(i, at)| TracepointPlan {
                name: format!("tp{}", i + 1),
                location: at.clone(),
                condition: args.condition.clone(),
                capture: args.capture.clone(),
                arguments: args.arguments,
                locals: false,
                stack_depth: args.stack_depth.clamp(0, 50),
                max_hits: args.hits_per_tracepoint.map(|h| h.max(1)),
            })
            .collect(),
        window: args.window.min(Duration::from_secs(MAX_TRACE_WINDOW_SECS)),
        max_hits: args.max_hits.clamp(1, MAX_TRACE_HITS as usize),
        stop_budget: args.stop_budget.min(Duration::from_millis(MAX_STOP_BUDGET_MS)),
        load: load_config(&crate::api::LoadLimits::default()),
        max_bytes: trace::MAX_TRACE_BYTES,
    };
    let conn = TcpConnector::from(addr);
    let io = conn.connect().await.with_context(|| format!("connecting to dlv at {addr}"))?;
    let mut client = DelveClient::new(io, Duration::from_secs(10));
    // Ctrl-C ends the trace the safe way (halt only while running, clear, detach).
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let rec =
        trace::run::trace(&mut client, &plan, &cancel).await.with_context(|| format!("trace through dlv at {addr}"))?;
    drop(client);
    let text = trace::render::text(&rec);
    let mut stored = Vec::new();
    for (kind, bytes) in
        [(ArtifactKind::DelveTrace, serde_json::to_vec(&rec)?), (ArtifactKind::DelveTraceText, text.into_bytes())]
    {
        let obj = out.put_bytes(&layout::artifact_path(&name, kind), Bytes::from(bytes)).await?;
        stored.push(obj.uri);
    }
    let s = trace::summary::summarize(&rec);
    println!(
        "{} hits in {:.1}s, ended by {}: {}; the program was stopped {:.1} ms in all at hits (longest {:.1} ms), and {:.1} ms for the end (clear, detach)",
        s.hits,
        s.window_ms as f64 / 1000.0,
        s.ended_by,
        s.ended,
        s.stopped_ms,
        s.longest_stop_ms,
        s.end_ms
    );
    for t in &s.tracepoints {
        println!("{}: {} ({} hits)", t.name, t.location, t.hits);
        for v in &t.values {
            println!("  {} ({} distinct): {}", v.expression, v.distinct, v.top.join(", "));
        }
    }
    for uri in stored {
        println!("stored {uri}");
    }
    Ok(ExitCode::SUCCESS)
}
