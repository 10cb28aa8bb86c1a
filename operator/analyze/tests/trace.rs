//! Go execution traces: the figures of a real trace, and versions the scanner does not read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[test]
fn trace_numbers_are_sane() {
    let expect: serde_json::Value = serde_json::from_slice(&fixture("trace.expect.json")).unwrap();
    let Analysis::Trace(t) = analyze("trace.out", &AnalyzeOptions::default()) else { panic!() };
    assert_eq!(t.version, "go1.26");
    assert!(t.goroutines_created >= expect["goroutinesCreatedMin"].as_u64().unwrap(), "{t:?}");
    assert!(t.gc_count >= expect["gcCountMin"].as_u64().unwrap(), "{t:?}");
    assert!(t.duration_ns > 10_000_000 && t.duration_ns < 60_000_000_000, "{t:?}");
    assert!(t.stw_count >= t.gc_count, "each GC stops the world at least once");
    assert!(t.stw_max_ns <= t.stw_total_ns && t.stw_total_ns < t.duration_ns);
    assert!(t.syscall_count >= 20 && t.syscall_ns > 0, "the program made file writes");
    assert!(!t.proc_utilization.is_empty());
    assert!(t.proc_utilization.iter().all(|p| (0.0..=1.0).contains(&p.utilization) && p.busy_ns <= t.duration_ns));
    assert!(t.proc_utilization.iter().any(|p| p.utilization > 0.05));
    assert!(t.note.is_none(), "{:?}", t.note);
}

#[test]
fn unsupported_trace_version_is_named() {
    let mut old = b"go 1.21 trace\0\0\0".to_vec();
    old.extend_from_slice(&[0u8; 64]);
    let err = analyze_bytes(&old, &AnalyzeOptions::default()).unwrap_err();
    assert_eq!(err.reason(), "UnsupportedTraceVersion");
    assert!(err.to_string().starts_with("unsupported trace version 21"), "{err}");
}
