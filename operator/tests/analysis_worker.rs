//! The operator's analysis worker, as the operator runs it: the real `godiag analyze-worker`
//! process fed from the store. Whatever the artifact does to the worker, the operator gets an
//! analysis or a failure with a precise reason, and the flame graph lands in the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use godiag::store::ArtifactStore;
use godiag::worker::{AnalysisFailure, AnalysisWorker, WorkerLimits};
use godiag_analyze::{Analysis, ArtifactKind, Resources};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/analyze/tests/fixtures");

fn worker(max_memory: u64, timeout: Duration) -> AnalysisWorker {
    AnalysisWorker::new(PathBuf::from(env!("CARGO_BIN_EXE_godiag")), WorkerLimits { max_memory, timeout }, 2)
}

async fn stored(store: &dyn ArtifactStore, path: &str, data: Vec<u8>) {
    store.put_bytes(path, Bytes::from(data)).await.unwrap();
}

#[tokio::test]
async fn a_profile_is_analysed_and_its_flame_graph_stored() {
    let store = godiag::store::open("memory://").unwrap();
    stored(store.as_ref(), "ns/r/p/cpu.pb.gz", std::fs::read(format!("{FIXTURES}/cpu.pb.gz")).unwrap()).await;
    let limit = Resources { cpu_limit_cores: Some(0.35), ..Resources::default() };
    let out = worker(256 << 20, Duration::from_secs(60))
        .analyse(store.as_ref(), ArtifactKind::Cpu, "ns/r/p/cpu.pb.gz", "ns/r/p/cpu.svg", &limit)
        .await
        .unwrap();
    let Analysis::Pprof(r) = &out.analysis else { panic!("{:?}", out.analysis) };
    assert_eq!(r.sample_type, "cpu");
    // The container's CPU limit reaches the worker: 0.34 cores used of 0.35.
    assert!(r.findings.iter().any(|f| f.rule == godiag_analyze::Rule::CpuThrottling), "{:?}", r.findings);
    let svg = store.get_bytes("ns/r/p/cpu.svg").await.unwrap();
    assert!(svg.starts_with(b"<?xml") && svg.ends_with(b"</svg>"), "a whole SVG is stored");
    assert_eq!(out.svg.unwrap().bytes, svg.len() as u64);
    assert!(out.peak_rss_bytes > 0 && out.peak_rss_bytes < 64 << 20, "{} bytes", out.peak_rss_bytes);
}

#[tokio::test]
async fn broken_and_hostile_artifacts_are_failures_with_reasons() {
    let store = godiag::store::open("memory://").unwrap();
    let s = store.as_ref();
    stored(s, "heap.pb.gz", b"\x1f\x8b\x08garbage".to_vec()).await;
    let err = worker(256 << 20, Duration::from_secs(60))
        .analyse(s, ArtifactKind::Heap, "heap.pb.gz", "h.svg", &Resources::default())
        .await;
    let Err(AnalysisFailure::Refused { reason, message, .. }) = &err else { panic!("{err:?}") };
    assert_eq!(reason, "BadGzip", "{message}");

    // 60 MiB of zeros in a ~60 KB gzip, under a 96 MiB address-space cap (about 50 MiB of it is
    // the debug binary itself): the worker runs out of memory, the operator is told how much it
    // was allowed.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&vec![0u8; 60 << 20]).unwrap();
    stored(s, "bomb.pb.gz", e.finish().unwrap()).await;
    let err = worker(96 << 20, Duration::from_secs(60))
        .analyse(s, ArtifactKind::Heap, "bomb.pb.gz", "b.svg", &Resources::default())
        .await;
    assert_eq!(err.unwrap_err().to_string(), "heap analysis skipped: needs more than 96 MiB");

    let err = worker(256 << 20, Duration::from_millis(1))
        .analyse(s, ArtifactKind::Heap, "heap.pb.gz", "h.svg", &Resources::default())
        .await;
    assert_eq!(err.unwrap_err().reason(), "AnalysisTimedOut");

    let missing = worker(256 << 20, Duration::from_secs(60))
        .analyse(s, ArtifactKind::Cpu, "nope", "n.svg", &Resources::default())
        .await;
    assert_eq!(missing.unwrap_err().reason(), "AnalysisUnavailable");
}

#[tokio::test]
async fn a_worker_that_dies_is_a_crash_not_an_operator_failure() {
    let store = godiag::store::open("memory://").unwrap();
    stored(store.as_ref(), "cpu.pb.gz", std::fs::read(format!("{FIXTURES}/cpu.pb.gz")).unwrap()).await;
    // `false` exits 1 without a word, like a worker killed before it could answer.
    let w = AnalysisWorker::new(
        PathBuf::from("/bin/false"),
        WorkerLimits { max_memory: 256 << 20, timeout: Duration::from_secs(10) },
        1,
    );
    let err =
        w.analyse(store.as_ref(), ArtifactKind::Cpu, "cpu.pb.gz", "c.svg", &Resources::default()).await.unwrap_err();
    assert_eq!(err.reason(), "AnalysisCrashed");
    assert_eq!(err.to_string(), "cpu analysis crashed (exit status: 1)");
}
