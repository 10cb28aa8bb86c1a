//! The end of a request with `spec.baseline`, on real profiles of three replicas of one service
//! (the analysis fixtures `sibling-*`: two healthy ones under unequal load, one misbehaving):
//! what the target's status entry gets, what is stored, and the report a person opens.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use godiag::api::{TargetPhase, TargetRole, TargetStatus};
use godiag::collect::{CollectedArtifact, TargetOutcome};
use godiag::controller::analysis::{Analyzer, analyse_artifact, summarise};
use godiag::controller::cluster_diagnoser::result_of;
use godiag::controller::diagnoser::RequestRecord;
use godiag::controller::finish::finish_request;
use godiag::store::{ArtifactStore, layout};
use godiag_analyze::{ArtifactKind, Resources};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/analyze/tests/fixtures");

/// Stores and analyses one replica's artifacts as the diagnoser does; returns its status entry.
async fn replica(store: &dyn ArtifactStore, pod: &str, fixture: &str, role: TargetRole) -> TargetStatus {
    let dir = layout::target_dir("shop", "slow", pod);
    let mut artifacts = Vec::new();
    for (kind, file) in [
        (ArtifactKind::Cpu, "cpu.pb.gz"),
        (ArtifactKind::Heap, "heap.pb.gz"),
        (ArtifactKind::GoroutineText, "goroutine.txt"),
    ] {
        let bytes = std::fs::read(format!("{FIXTURES}/sibling-{fixture}-{file}")).unwrap();
        let object = store.put_bytes(&layout::artifact_path(&dir, kind), Bytes::from(bytes)).await.unwrap();
        artifacts.push(CollectedArtifact { kind, object, note: None });
    }
    let mut done = Vec::new();
    for a in &artifacts {
        done.push((a.kind, analyse_artifact(&Analyzer::InProcess, store, &dir, a, &Resources::default()).await));
    }
    let analysis = summarise(store, &dir, done, &Resources::default()).await;
    let mut result = result_of(&TargetOutcome { artifacts, ..TargetOutcome::default() });
    result.summary = analysis.summary;
    result.reports = analysis.reports;
    let mut t = TargetStatus {
        pod: pod.into(),
        role,
        owner: Some("ReplicaSet/shop-7d9f".into()),
        container: Some("app".into()),
        phase: TargetPhase::Pending,
        reason: None,
        message: None,
        attempts: 1,
        artifacts: vec![],
        failures: vec![],
        summary: None,
        reports: vec![],
        window_start: None,
    };
    result.apply_to(&mut t);
    t
}

#[tokio::test]
async fn a_target_is_compared_with_its_siblings_and_the_report_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = godiag::store::open(&format!("file://{}", dir.path().display())).unwrap();
    let s = store.as_ref();
    let targets = vec![
        replica(s, "shop-hot", "hot", TargetRole::Target).await,
        replica(s, "shop-light", "light", TargetRole::Sibling).await,
        replica(s, "shop-heavy", "heavy", TargetRole::Sibling).await,
    ];
    let record =
        RequestRecord { namespace: "shop".into(), request: "slow".into(), targets: targets.clone(), baseline: true };
    let finished = finish_request(s, record).await.unwrap();

    // The target's status: the comparison's findings first, a bounded summary, the stored files.
    let outcome = finished.baselines.get("shop-hot").expect("the target was compared");
    assert!(!finished.baselines.contains_key("shop-light"), "siblings are not compared themselves");
    let mut hot = targets[0].clone();
    outcome.apply_to(&mut hot);
    let summary = hot.summary.as_ref().unwrap();
    let first = &summary.findings[0].message;
    assert!(
        first.starts_with("main.(*Index).Rebuild: ") && first.contains("% of CPU here vs 0% in 2 healthy siblings"),
        "{first}"
    );
    let b = summary.baseline.as_ref().unwrap();
    assert_eq!(b.siblings, ["shop-light", "shop-heavy"]);
    assert_eq!(
        b.go_tool.as_deref(),
        Some(
            "go tool pprof -http=: -normalize -diff_base=shop-light/cpu.pb.gz -diff_base=shop-heavy/cpu.pb.gz shop-hot/cpu.pb.gz"
        )
    );
    assert!(b.grew.iter().any(|g| g.name == "main.(*Sessions).Remember"), "{:?}", b.grew);
    assert!(serde_json::to_vec(summary).unwrap().len() < 3000, "the status entry stays small");
    let names: Vec<&str> = outcome.reports.iter().map(|u| u.rsplit('/').next().unwrap()).collect();
    assert_eq!(names, ["comparison.json", "cpu.diff.svg", "heap.diff.svg"]);

    // The report: one self-contained page with every pod, finding and flame graph.
    let uri = finished.report.expect("a report");
    assert!(uri.ends_with("/shop/slow/report.html"), "{uri}");
    let html = std::fs::read_to_string(dir.path().join("shop/slow/report.html")).unwrap();
    for needle in [
        "<h2 id=\"summary-h\">Summary</h2>",
        "main.(*Index).Rebuild: ",
        "300 goroutines in chan receive at main.(*Subscriber).wait here vs 0 in 2 healthy siblings",
        "Pod shop-light",
        "go tool pprof -http=: shop-hot/cpu.pb.gz",
        "href=\"shop-hot/cpu.pb.gz\"",
    ] {
        assert!(html.contains(needle), "the report lacks {needle:?}");
    }
    let frames = html.matches("<iframe class=\"flame\"").count();
    assert_eq!(frames, 3 * 2 + 2, "cpu and heap flame graphs of 3 pods, and 2 differential ones");
    for external in ["<link", "<script src", "src=\"http", "url(http", "@import"] {
        assert!(!html.contains(external), "the report refers to something outside itself: {external}");
    }
    if let Ok(out) = std::env::var("GODIAG_REPORT_OUT") {
        std::fs::copy(dir.path().join("shop/slow/report.html"), out).unwrap();
    }
    eprintln!("report: {} KiB", html.len() >> 10);
}
