//! Analysis of one pod's stored artifacts: read each back, analyse it (on a blocking thread: it
//! is CPU work), store `summary.json` and flame graph SVGs next to the artifacts, and return the
//! bounded summary that goes into the pod's status entry.

use crate::analyze::{self, AnalyzeOptions, FlameGraph, FlameOptions, TargetSummary};
use crate::api::ProfileKind;
use crate::collect::CollectedArtifact;
use crate::store::{ArtifactStore, layout};
use bytes::Bytes;

/// Artifacts larger than this are stored but not analysed: analysis decodes a whole profile in
/// memory, and an operator must not be taken down by one huge trace.
pub const MAX_ANALYZED_BYTES: u64 = 64 << 20;

/// The kinds that get a flame graph.
const FLAME_KINDS: [ProfileKind; 5] =
    [ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Allocs, ProfileKind::Block, ProfileKind::Mutex];

/// What analysis produced for one pod.
#[derive(Debug, Default)]
pub struct TargetAnalysis {
    pub summary: Option<TargetSummary>,
    /// URIs of `summary.json` and the flame graph SVGs.
    pub reports: Vec<String>,
}

pub async fn analyze_target(store: &dyn ArtifactStore, dir: &str, artifacts: &[CollectedArtifact]) -> TargetAnalysis {
    let mut inputs: Vec<(ProfileKind, Bytes)> = Vec::new();
    let mut notes = Vec::new();
    for a in artifacts {
        if a.object.bytes > MAX_ANALYZED_BYTES {
            notes.push(format!("{} not analysed: {} bytes is above the {} MiB limit", a.kind, a.object.bytes, MAX_ANALYZED_BYTES >> 20));
            continue;
        }
        match store.get_bytes(&a.object.path).await {
            Ok(b) => inputs.push((a.kind, b)),
            Err(e) => notes.push(format!("{} not analysed: {e}", a.kind)),
        }
    }
    let analysed = tokio::task::spawn_blocking(move || analyse(inputs, notes)).await;
    let Ok((summary, json, svgs)) = analysed else {
        return TargetAnalysis::default();
    };
    let mut reports = Vec::new();
    if let Ok(obj) = store.put_bytes(&layout::join(dir, "summary.json"), json).await {
        reports.push(obj.uri);
    }
    for (kind, svg) in svgs {
        if let Ok(obj) = store.put_bytes(&layout::join(dir, &format!("{kind}.svg")), svg).await {
            reports.push(obj.uri);
        }
    }
    TargetAnalysis { summary: Some(summary), reports }
}

/// Pure part: analyses, summary, summary.json and SVGs from the artifacts' bytes.
fn analyse(inputs: Vec<(ProfileKind, Bytes)>, mut notes: Vec<String>) -> (TargetSummary, Bytes, Vec<(ProfileKind, Bytes)>) {
    let mut analyses = Vec::new();
    let mut svgs = Vec::new();
    for (kind, data) in &inputs {
        let opts = AnalyzeOptions { profile_hint: Some(kind.as_str().to_string()), ..AnalyzeOptions::default() };
        match analyze::analyze_bytes(data, &opts) {
            Ok(a) => analyses.push((*kind, a)),
            Err(e) => notes.push(format!("{kind} could not be analysed: {e}")),
        }
        if FLAME_KINDS.contains(kind) {
            let title = Some(format!("{kind} flame graph"));
            match analyze::flame_graph(data, &FlameOptions { title, ..FlameOptions::default() }) {
                Ok(FlameGraph::Svg(svg)) => svgs.push((*kind, Bytes::from(svg))),
                Ok(FlameGraph::Empty { .. }) | Err(_) => {}
            }
        }
    }
    let refs: Vec<(&str, &analyze::Analysis)> = analyses.iter().map(|(k, a)| (k.as_str(), a)).collect();
    let mut summary = analyze::summarize_target(&refs);
    summary.notes.extend(notes);
    summary.notes.truncate(5);
    let json = serde_json::to_vec_pretty(&analyze::summary_json(&refs)).map(Bytes::from).unwrap_or_default();
    (summary, json, svgs)
}
