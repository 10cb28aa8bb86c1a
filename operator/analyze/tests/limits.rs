//! Findings that compare what the program used with its container's requests and limits, on
//! real runtime output: CPU against the CPU limit, the live heap against the memory limit and
//! a trace's GOMAXPROCS against what the CPU limit lets the container run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use godiag_analyze::{Finding, Resources};
use support::*;

fn findings_with(file: &str, resources: Resources) -> Vec<Finding> {
    analyze(file, &AnalyzeOptions { resources, ..Default::default() }).findings().to_vec()
}

fn find(v: &[Finding], rule: Rule) -> Option<&Finding> {
    v.iter().find(|f| f.rule == rule)
}

#[test]
fn cpu_used_up_to_the_limit_is_throttling_in_cores() {
    // The fixture burned 700ms of CPU in 2.03s: 0.34 cores.
    let near = findings_with("cpu.pb.gz", Resources { cpu_limit_cores: Some(0.35), ..Default::default() });
    let f = find(&near, Rule::CpuThrottling).expect("throttling finding");
    assert_eq!(f.message, "used 0.34 cores over 2s: 98% of its 0.35-core CPU limit; the container is throttled");
    assert!(f.evidence.iter().any(|e| e.starts_with("largest consumer: main.fib")), "{:?}", f.evidence);
    let roomy = findings_with("cpu.pb.gz", Resources { cpu_limit_cores: Some(2.0), ..Default::default() });
    assert!(find(&roomy, Rule::CpuThrottling).is_none(), "0.34 of 2 cores is not throttling: {roomy:?}");
    assert!(find(&findings_with("cpu.pb.gz", Resources::default()), Rule::CpuThrottling).is_none());
}

#[test]
fn a_live_heap_near_the_memory_limit_says_how_near_and_what_to_set() {
    let r = pprof_report("heap-during-collection.pb.gz", &AnalyzeOptions::default());
    let live = r.sample_types.iter().find(|t| t.name == "inuse_space").unwrap().total as u64;
    let limit = live * 10 / 8; // the live heap is 80% of this limit
    let v = findings_with(
        "heap-during-collection.pb.gz",
        Resources { memory_limit_bytes: Some(limit), ..Default::default() },
    );
    let f = find(&v, Rule::HeapNearLimit).expect("heap finding");
    assert_eq!(f.severity, godiag_analyze::Severity::High);
    assert!(f.message.starts_with("live heap 7.1MiB of a 8.87MiB memory limit (80%)"), "{}", f.message);
    assert!(f.evidence.iter().any(|e| e.contains("GOMEMLIMIT")), "{:?}", f.evidence);
    let roomy = findings_with(
        "heap-during-collection.pb.gz",
        Resources { memory_limit_bytes: Some(live * 10), ..Default::default() },
    );
    assert!(find(&roomy, Rule::HeapNearLimit).is_none(), "10% of the limit: {roomy:?}");
}

#[test]
fn gomaxprocs_above_the_cpu_limit_explains_throttling_and_the_fix() {
    let limit = |c: f64| Resources { cpu_limit_cores: Some(c), ..Default::default() };
    let f = findings_with("trace-gomaxprocs8.out", limit(2.0));
    let g = find(&f, Rule::GomaxprocsAboveLimit).expect("GOMAXPROCS finding");
    assert_eq!(g.message, "GOMAXPROCS is 8 but the CPU limit is 2 cores: bursts are throttled");
    assert!(g.evidence[1].contains("GOMAXPROCS=2"), "{:?}", g.evidence);
    // Go 1.25+ itself runs GOMAXPROCS=2 under a limit of half a core: not worth a finding.
    assert!(find(&findings_with("trace.out", limit(0.5)), Rule::GomaxprocsAboveLimit).is_none());
    assert!(find(&findings_with("trace-gomaxprocs8.out", limit(8.0)), Rule::GomaxprocsAboveLimit).is_none());
}
