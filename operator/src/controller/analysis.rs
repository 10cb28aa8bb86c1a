//! Analysis of one pod's stored artifacts: read each back, analyse it (on a blocking thread: it
//! is CPU work), store `summary.json` and flame graph SVGs next to the artifacts, and return the
//! bounded summary that goes into the pod's status entry.

use crate::api::TargetSummary;
use crate::collect::CollectedArtifact;
use crate::store::{ArtifactStore, layout};
use bytes::Bytes;
use godiag_analyze::text::clip;
use godiag_analyze::{self as analyze, AnalyzeOptions, ArtifactKind, FlameGraph, FlameOptions};

/// Artifacts larger than this are stored but not analysed: analysis decodes a whole profile in
/// memory, and an operator must not be taken down by one huge trace.
pub const MAX_ANALYZED_BYTES: u64 = 64 << 20;
/// Longest note about an artifact that could not be analysed (the error may quote the input).
const MAX_NOTE: usize = 160;

/// What analysis produced for one pod.
#[derive(Debug, Default)]
pub struct TargetAnalysis {
    pub summary: Option<TargetSummary>,
    /// URIs of `summary.json` and the flame graph SVGs.
    pub reports: Vec<String>,
}

pub async fn analyze_target(store: &dyn ArtifactStore, dir: &str, artifacts: &[CollectedArtifact]) -> TargetAnalysis {
    let mut inputs: Vec<(ArtifactKind, Bytes)> = Vec::new();
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
            Err(e) => notes.push(clip(&format!("{} not analysed: {e}", a.kind), MAX_NOTE)),
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
    inputs: Vec<(ArtifactKind, Bytes)>,
    mut notes: Vec<String>,
) -> (TargetSummary, Bytes, Vec<(ArtifactKind, Bytes)>) {
    let mut analyses = Vec::new();
    let mut svgs = Vec::new();
    for (kind, data) in &inputs {
        let opts = AnalyzeOptions { kind: Some(*kind), ..AnalyzeOptions::default() };
        match analyze::analyze_bytes(data, &opts) {
            Ok(a) => analyses.push((*kind, a)),
            Err(e) => notes.push(clip(&format!("{kind} could not be analysed: {e}"), MAX_NOTE)),
        }
        if kind.has_flame_graph() {
            let title = Some(format!("{kind} flame graph"));
            match analyze::flame_graph(data, &FlameOptions { title, ..FlameOptions::default() }) {
                Ok(FlameGraph::Svg(svg)) => svgs.push((*kind, Bytes::from(svg))),
                Ok(FlameGraph::Empty { .. }) | Err(_) => {}
            }
        }
    }
    let refs: Vec<(ArtifactKind, &analyze::Analysis)> = analyses.iter().map(|(k, a)| (*k, a)).collect();
    let mut summary = analyze::summarize_target(&refs);
    summary.notes.extend(notes);
    summary.notes.truncate(5);
    let json = serde_json::to_vec_pretty(&analyze::summary_json(&refs)).map(Bytes::from).unwrap_or_default();
    (summary.into(), json, svgs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ArtifactKind as StatusKind;
    use crate::store::StoredObject;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/analyze/tests/fixtures");

    async fn stored(store: &dyn ArtifactStore, kind: ArtifactKind, file: &str) -> CollectedArtifact {
        let bytes = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
        let path = layout::artifact_path("shop/slow/pod-a", kind);
        let object: StoredObject = store.put_bytes(&path, Bytes::from(bytes)).await.unwrap();
        CollectedArtifact { kind, object, note: None }
    }

    #[tokio::test]
    async fn stored_artifacts_become_a_bounded_summary_and_reports() {
        let store = crate::store::open("memory://").unwrap();
        let s = store.as_ref();
        let artifacts = vec![
            stored(s, ArtifactKind::Cpu, "cpu.pb.gz").await,
            stored(s, ArtifactKind::Goroutine, "goroutine.pb.gz").await,
            stored(s, ArtifactKind::GoroutineText, "goroutine.txt").await,
            stored(s, ArtifactKind::Block, "block-empty.pb.gz").await,
            stored(s, ArtifactKind::Trace, "trace.out").await,
        ];
        let a = analyze_target(s, "shop/slow/pod-a", &artifacts).await;
        let summary = a.summary.expect("a summary");
        assert!(summary.top.iter().any(|t| t.profile == StatusKind::Cpu), "{summary:?}");
        assert!(summary.goroutines.is_some());
        assert!(summary.trace.is_some());
        assert!(serde_json::to_vec(&summary).unwrap().len() < 2048, "status summary stays under 2 KiB");
        let names: Vec<&str> = a.reports.iter().map(|u| u.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["summary.json", "cpu.svg"], "no flame graph for an empty block profile");
        let json: serde_json::Value =
            serde_json::from_slice(&s.get_bytes("shop/slow/pod-a/summary.json").await.unwrap()).unwrap();
        assert!(json["artifacts"]["cpu"]["functions"].is_array(), "{json}");
        assert_eq!(json["artifacts"]["goroutine"]["source"], "profile", "{json}");
        assert_eq!(json["artifacts"]["goroutineText"]["source"], "text", "{json}");
    }

    #[tokio::test]
    async fn corrupt_artifact_is_a_note_not_a_failure() {
        let store = crate::store::open("memory://").unwrap();
        let s = store.as_ref();
        let path = layout::artifact_path("shop/slow/pod-a", ArtifactKind::Heap);
        let object = s.put_bytes(&path, Bytes::from_static(b"\x1f\x8b\x08garbage")).await.unwrap();
        let cpu = stored(s, ArtifactKind::Cpu, "cpu.pb.gz").await;
        let heap = CollectedArtifact { kind: ArtifactKind::Heap, object, note: None };
        let summary = analyze_target(s, "shop/slow/pod-a", &[heap, cpu]).await.summary.expect("summary");
        assert!(summary.notes.iter().any(|n| n.starts_with("heap could not be analysed")), "{:?}", summary.notes);
        assert!(summary.top.iter().any(|t| t.profile == StatusKind::Cpu));
    }
}
