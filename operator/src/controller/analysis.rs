//! Analysis of one pod's stored artifacts, one artifact at a time (the collector hands each over
//! as soon as it is stored, so snapshots are analysed while the window still runs): each goes to
//! the analysis worker process (or, in tests, to a blocking thread), its flame graph SVG is
//! stored next to it, and the bounded summary for the pod's status entry and `summary.json` are
//! built from the analyses. An artifact that cannot be analysed is a note; it stays stored.

use crate::api::TargetSummary;
use crate::collect::CollectedArtifact;
use crate::store::{ArtifactStore, layout};
use crate::worker::{AnalysisFailure, AnalysisWorker};
use bytes::Bytes;
use godiag_analyze::compare::Digest;
use godiag_analyze::text::clip;
use godiag_analyze::{self as analyze, Analysis, ArtifactKind, Resources};

/// Artifacts larger than this are stored but not analysed.
pub const MAX_ANALYZED_BYTES: u64 = crate::worker::child::MAX_INPUT_BYTES;
/// Longest note about an artifact that could not be analysed (the error may quote the input).
const MAX_NOTE: usize = 160;

/// Where analysis runs.
#[derive(Clone)]
pub enum Analyzer {
    /// In a child process with its own memory, CPU and time limits (the operator).
    Worker(AnalysisWorker),
    /// On a blocking thread of this process (tests of the controller).
    InProcess,
}

/// What analysis produced for one pod.
#[derive(Debug, Default)]
pub struct TargetAnalysis {
    pub summary: Option<TargetSummary>,
    /// URIs of `summary.json` and the flame graph SVGs.
    pub reports: Vec<String>,
    /// Artifacts that could not be analysed, with the reason (for metrics).
    pub failures: Vec<AnalysisFailure>,
}

/// One artifact's analysis, the URI of its stored flame graph, and its digest for a sibling
/// comparison.
#[derive(Debug)]
pub struct Analysed {
    pub analysis: Analysis,
    pub svg: Option<String>,
    pub digest: Option<Digest>,
}

/// What became of one stored artifact.
#[derive(Debug)]
pub enum ArtifactAnalysis {
    Analysed(Box<Analysed>),
    /// Not analysed, on purpose (too large): the note says why.
    Skipped(String),
    Failed(AnalysisFailure),
}

/// Delve's raw JSON and the trace's text are kept for people and tools; the snapshot's rendered
/// dump is what is analysed.
pub fn is_analysed(kind: ArtifactKind) -> bool {
    !matches!(kind.format(), analyze::ArtifactFormat::DelveJson | analyze::ArtifactFormat::Text)
}

/// One artifact through the analyzer; its flame graph is stored next to it.
pub async fn analyse_artifact(
    analyzer: &Analyzer,
    store: &dyn ArtifactStore,
    dir: &str,
    a: &CollectedArtifact,
    resources: &Resources,
) -> ArtifactAnalysis {
    if a.object.bytes > MAX_ANALYZED_BYTES {
        return ArtifactAnalysis::Skipped(format!(
            "{} not analysed: {} bytes is above the {} MiB limit",
            a.kind,
            a.object.bytes,
            MAX_ANALYZED_BYTES >> 20
        ));
    }
    let svg_path = layout::join(dir, &format!("{}.svg", a.kind));
    let result = match analyzer {
        Analyzer::Worker(w) => w
            .analyse(store, a.kind, &a.object.path, &svg_path, resources)
            .await
            .map(|out| Analysed { analysis: out.analysis, svg: out.svg.map(|s| s.uri), digest: out.digest }),
        Analyzer::InProcess => in_process(store, a.kind, &a.object.path, &svg_path, *resources).await,
    };
    match result {
        Ok(a) => ArtifactAnalysis::Analysed(Box::new(a)),
        Err(f) => {
            tracing::info!(kind = %a.kind, reason = f.reason(), error = %f, "artifact not analysed");
            ArtifactAnalysis::Failed(f)
        }
    }
}

/// The bounded summary for the pod's status entry and its stored `summary.json`, from what
/// became of each artifact (in the order given).
pub async fn summarise(
    store: &dyn ArtifactStore,
    dir: &str,
    done: Vec<(ArtifactKind, ArtifactAnalysis)>,
    resources: &Resources,
) -> TargetAnalysis {
    let mut analyses: Vec<(ArtifactKind, Analysis)> = Vec::new();
    let mut svgs = Vec::new();
    let mut digests = Vec::new();
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    for (kind, result) in done {
        match result {
            ArtifactAnalysis::Analysed(a) => {
                analyses.push((kind, a.analysis));
                svgs.extend(a.svg);
                digests.extend(a.digest);
            }
            ArtifactAnalysis::Skipped(note) => notes.push(note),
            ArtifactAnalysis::Failed(f) => {
                notes.push(clip(&f.to_string(), MAX_NOTE));
                failures.push(f);
            }
        }
    }
    let refs: Vec<(ArtifactKind, &Analysis)> = analyses.iter().map(|(k, a)| (*k, a)).collect();
    let mut summary = analyze::summarize_target(&refs, resources);
    summary.notes.extend(notes);
    summary.notes.truncate(5);
    let json = serde_json::to_vec_pretty(&analyze::summary_json(&refs, resources)).map(Bytes::from).unwrap_or_default();
    let mut reports = Vec::new();
    if let Ok(obj) = store.put_bytes(&layout::join(dir, layout::SUMMARY), json).await {
        reports.push(obj.uri);
    }
    // What a comparison with siblings (`spec.baseline`) reads, instead of parsing the profiles again.
    if !digests.is_empty() {
        let json = serde_json::to_vec(&digests).map(Bytes::from).unwrap_or_default();
        if let Err(e) = store.put_bytes(&layout::join(dir, layout::DIGESTS), json).await {
            tracing::info!(error = %e, "cannot store the digests: this pod cannot be compared with its siblings");
        }
    }
    reports.extend(svgs);
    TargetAnalysis { summary: Some(summary.into()), reports, failures }
}

/// The same analysis on a blocking thread of this process.
async fn in_process(
    store: &dyn ArtifactStore,
    kind: ArtifactKind,
    path: &str,
    svg_path: &str,
    resources: Resources,
) -> Result<Analysed, AnalysisFailure> {
    let unavailable = |message: String| AnalysisFailure::Unavailable { kind: kind.to_string(), message };
    let data = store.get_bytes(path).await.map_err(|e| unavailable(e.to_string()))?;
    let work = move || crate::worker::child::analyse_artifact(kind, resources, &data);
    let (report, svg) = tokio::task::spawn_blocking(work).await.map_err(|e| AnalysisFailure::Crashed {
        kind: kind.to_string(),
        status: "panicked".into(),
        detail: format!(": {e}"),
    })?;
    let digest = report.digest;
    let analysis = match (report.analysis, report.error) {
        (Some(a), _) => a,
        (None, Some(e)) => {
            return Err(AnalysisFailure::Refused { kind: kind.to_string(), reason: e.reason, message: e.message });
        }
        (None, None) => return Err(unavailable("the analysis gave neither a result nor an error".into())),
    };
    let svg = svg.map(Bytes::from);
    let uri = match svg {
        Some(svg) => store.put_bytes(svg_path, svg).await.ok().map(|o| o.uri),
        None => None,
    };
    Ok(Analysed { analysis, svg: uri, digest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ArtifactKind as StatusKind;
    use crate::store::StoredObject;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/analyze/tests/fixtures");

    /// Every artifact analysed in order, then the pod's summary (as the diagnoser does).
    async fn analyze_target(
        analyzer: &Analyzer,
        store: &dyn ArtifactStore,
        dir: &str,
        artifacts: &[CollectedArtifact],
        resources: Resources,
    ) -> TargetAnalysis {
        let mut done = Vec::new();
        for a in artifacts.iter().filter(|a| is_analysed(a.kind)) {
            done.push((a.kind, analyse_artifact(analyzer, store, dir, a, &resources).await));
        }
        summarise(store, dir, done, &resources).await
    }

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
        let a = analyze_target(&Analyzer::InProcess, s, "shop/slow/pod-a", &artifacts, Resources::default()).await;
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
        let summary = analyze_target(&Analyzer::InProcess, s, "shop/slow/pod-a", &[heap, cpu], Resources::default())
            .await
            .summary
            .expect("summary");
        assert!(summary.notes.iter().any(|n| n.starts_with("heap could not be analysed")), "{:?}", summary.notes);
        assert!(summary.top.iter().any(|t| t.profile == StatusKind::Cpu));
    }
}
