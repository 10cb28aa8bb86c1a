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
            notes.push(format!(
                "{} not analysed: {} bytes is above the {} MiB limit",
                a.kind,
                a.object.bytes,
                MAX_ANALYZED_BYTES >> 20
            ));
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
fn analyse(
    inputs: Vec<(ProfileKind, Bytes)>,
    mut notes: Vec<String>,
) -> (TargetSummary, Bytes, Vec<(ProfileKind, Bytes)>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ArtifactFormat, StoredObject};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    async fn stored(
        store: &dyn ArtifactStore,
        kind: ProfileKind,
        format: ArtifactFormat,
        file: &str,
    ) -> CollectedArtifact {
        let bytes = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
        let path = layout::artifact_path("shop/slow/pod-a", kind, format);
        let object: StoredObject = store.put_bytes(&path, Bytes::from(bytes)).await.unwrap();
        CollectedArtifact { kind, format, object, note: None }
    }

    #[tokio::test]
    async fn stored_artifacts_become_a_bounded_summary_and_reports() {
        let store = crate::store::open("memory://").unwrap();
        let s = store.as_ref();
        let artifacts = vec![
            stored(s, ProfileKind::Cpu, ArtifactFormat::Pprof, "cpu.pb.gz").await,
            stored(s, ProfileKind::Goroutine, ArtifactFormat::GoroutineText, "goroutine.txt").await,
            stored(s, ProfileKind::Block, ArtifactFormat::Pprof, "block-empty.pb.gz").await,
            stored(s, ProfileKind::Trace, ArtifactFormat::Trace, "trace.out").await,
        ];
        let a = analyze_target(s, "shop/slow/pod-a", &artifacts).await;
        let summary = a.summary.expect("a summary");
        assert!(summary.top.iter().any(|t| t.profile == "cpu"), "{summary:?}");
        assert!(summary.goroutines.is_some());
        assert!(summary.trace.is_some());
        assert!(serde_json::to_vec(&summary).unwrap().len() < 2048, "status summary stays under 2 KiB");
        let names: Vec<&str> = a.reports.iter().map(|u| u.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["summary.json", "cpu.svg"], "no flame graph for an empty block profile");
        let json: serde_json::Value =
            serde_json::from_slice(&s.get_bytes("shop/slow/pod-a/summary.json").await.unwrap()).unwrap();
        assert!(json["artifacts"]["cpu"]["functions"].is_array(), "{json}");
    }

    #[tokio::test]
    async fn corrupt_artifact_is_a_note_not_a_failure() {
        let store = crate::store::open("memory://").unwrap();
        let s = store.as_ref();
        let path = layout::artifact_path("shop/slow/pod-a", ProfileKind::Heap, ArtifactFormat::Pprof);
        let object = s.put_bytes(&path, Bytes::from_static(b"\x1f\x8b\x08garbage")).await.unwrap();
        let cpu = stored(s, ProfileKind::Cpu, ArtifactFormat::Pprof, "cpu.pb.gz").await;
        let heap = CollectedArtifact { kind: ProfileKind::Heap, format: ArtifactFormat::Pprof, object, note: None };
        let summary = analyze_target(s, "shop/slow/pod-a", &[heap, cpu]).await.summary.expect("summary");
        assert!(summary.notes.iter().any(|n| n.starts_with("heap could not be analysed")), "{:?}", summary.notes);
        assert!(summary.top.iter().any(|t| t.profile == "cpu"));
    }
}
