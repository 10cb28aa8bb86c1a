//! `godiag delve snapshot ADDR`: the operator's Delve snapshot against a headless dlv a user
//! started, with the same artifacts (`delve-snapshot.json`, `delve-goroutines.txt`) and the same
//! analysis of the goroutines.

use crate::cli::DelveSnapshotArgs;
use crate::collect::Connector;
use crate::collect::TcpConnector;
use crate::delve::rpc::DelveClient;
use crate::delve::snapshot::{self, SnapshotPlan};
use crate::delve::types::LoadConfig;
use crate::delve::{render, summary};
use crate::store::{self, layout};
use anyhow::Context;
use bytes::Bytes;
use godiag_analyze::{AnalyzeOptions, ArtifactKind};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run_snapshot(args: &DelveSnapshotArgs) -> anyhow::Result<ExitCode> {
    let addr: std::net::SocketAddr = args
        .addr
        .parse()
        .with_context(|| format!("{}: expected HOST:PORT of a headless dlv, e.g. 127.0.0.1:2345", args.addr))?;
    let out = store::open(&args.out)?;
    let name = args
        .name
        .as_deref()
        .map(layout::segment)
        .unwrap_or_else(|| layout::segment(&format!("delve_{}_{}", addr.ip(), addr.port())));
    let conn = TcpConnector::from(addr);
    let io = conn.connect().await.with_context(|| format!("connecting to dlv at {addr}"))?;
    let mut client = DelveClient::new(io, Duration::from_secs(10));
    let defaults = crate::api::LoadLimits::default();
    let plan = SnapshotPlan {
        max_goroutines: args.max_goroutines.max(1),
        stack_depth: args.stack_depth.clamp(1, 256),
        locals: args.locals,
        load: LoadConfig {
            follow_pointers: true,
            max_variable_recurse: i64::from(defaults.max_variable_recurse),
            max_string_len: i64::from(defaults.max_string_len),
            max_array_values: i64::from(defaults.max_array_values),
            max_struct_fields: i64::from(defaults.max_struct_fields),
        },
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
