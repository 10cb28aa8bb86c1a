//! The bounded per-pod summary and `summary.json` built from every fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

fn all_fixtures() -> Vec<(ArtifactKind, Analysis)> {
    [
        (ArtifactKind::Cpu, "cpu.pb.gz"),
        (ArtifactKind::Heap, "heap.pb.gz"),
        (ArtifactKind::Allocs, "allocs.pb.gz"),
        (ArtifactKind::GoroutineText, "goroutine.txt"),
        (ArtifactKind::Goroutine, "goroutine.pb.gz"),
        (ArtifactKind::Block, "block-empty.pb.gz"),
        (ArtifactKind::Mutex, "mutex.pb.gz"),
        (ArtifactKind::Trace, "trace.out"),
    ]
    .into_iter()
    .map(|(k, f)| (k, analyze(f, &AnalyzeOptions::default())))
    .collect()
}

#[test]
fn summary_is_bounded_and_readable() {
    let all = all_fixtures();
    let inputs: Vec<(ArtifactKind, &Analysis)> = all.iter().map(|(k, a)| (*k, a)).collect();
    let s = summarize_target(&inputs, &Resources::default());
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.len() < 2048, "{} bytes: {json}", json.len());
    eprintln!("summary: {} bytes: {json}", json.len());
    assert_eq!(s.goroutines.as_ref().unwrap().total, 229);
    assert_eq!(s.goroutines.as_ref().unwrap().by_state.get("chan send"), Some(&200), "text dump wins over the profile");
    assert!(s.top.iter().any(|t| t.profile == ArtifactKind::Cpu));
    assert!(s.findings.iter().any(|f| f.rule == Rule::GoroutineLeak));
    // Five findings at most, most severe first: the info-level "rate never set" finding may be
    // crowded out, the note about the empty profile is not.
    assert!(s.findings.len() <= 5);
    assert!(s.notes.iter().any(|n| n.starts_with("block: empty profile")), "{:?}", s.notes);
    assert!(s.findings.windows(2).all(|w| w[0].severity <= w[1].severity), "most severe first");
    let line = one_line(&s);
    assert!(line.starts_with("cpu: "), "{line}");
    // The fixture's 200 goroutines were parked for 200 ms: count alone is weak evidence.
    let leak = s.findings.iter().find(|f| f.rule == Rule::GoroutineLeak).unwrap();
    assert_eq!(leak.message, "200 goroutines blocked in chan send at main.leakOne (possible leak, weak evidence)");
    assert_eq!(leak.severity, godiag_analyze::Severity::Info);
    let full = summary_json(&inputs, &Resources::default());
    assert_eq!(full["oneLine"], line);
    assert_eq!(full["artifacts"]["trace"]["kind"], "trace");
    // Both goroutine artifacts keep their own analysis: the binary profile and the text dump.
    assert_eq!(full["artifacts"]["goroutine"]["source"], "profile", "{}", full["artifacts"]);
    assert_eq!(full["artifacts"]["goroutineText"]["source"], "text", "{}", full["artifacts"]);
    assert_eq!(full["artifacts"]["goroutineText"]["byState"]["chan send"], 200);
    let keys: Vec<&String> = full["artifacts"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "one analysis per artifact: {keys:?}");
    // Round-trips (it is embedded in the CRD status).
    let back: godiag_analyze::TargetSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn summary_stays_under_2k_with_hostile_names() {
    let mut all = all_fixtures();
    // Many repetitions with the largest inputs: still bounded.
    for (_, a) in &mut all {
        if let Analysis::Pprof(r) = a {
            for f in &mut r.functions {
                f.name = format!("github.com/some/very/long/module/path/{}", f.name.repeat(8));
            }
        }
    }
    let mut inputs: Vec<(ArtifactKind, &Analysis)> = Vec::new();
    for _ in 0..5 {
        inputs.extend(all.iter().map(|(k, a)| (*k, a)));
    }
    let s = summarize_target(&inputs, &Resources::default());
    assert!(serde_json::to_string(&s).unwrap().len() < 2048);
    assert!(one_line(&s).len() <= 240);
}

/// What `make demo` said before this analysis named the program's code (issue 11): `cpu:
/// crypto/internal/fips140/sha256.blockSHANI 99% flat`, and the profilers' own buffers
/// (`runtime/trace.(*traceMultiplexer).startLocked`, `runtime/pprof.StartCPUProfile`) as the
/// biggest heap users. The same profiles now read as the user's code, with the container's limit.
#[test]
fn the_demo_summary_names_the_programs_code_and_its_limit() {
    let opts = AnalyzeOptions {
        resources: godiag_analyze::Resources { cpu_limit_cores: Some(0.5), ..Default::default() },
        ..Default::default()
    };
    let cpu = analyze("demo-cpu.pb.gz", &opts);
    let heap = analyze("heap-during-collection.pb.gz", &opts);
    let s = summarize_target(&[(ArtifactKind::Cpu, &cpu), (ArtifactKind::Heap, &heap)], &Resources::default());
    let line = one_line(&s);
    assert!(line.starts_with("cpu: main.hashLoop → sha256.blockSHANI 99%"), "{line}");
    assert!(line.contains("of its 0.5-core CPU limit; the container is throttled"), "{line}");
    assert!(
        s.top.iter().all(|t| !t.name.starts_with("runtime/pprof") && !t.name.starts_with("runtime/trace")),
        "{:?}",
        s.top
    );
    assert!(s.top.iter().all(|t| t.name != "runtime.mallocgc"), "{:?}", s.top);
    let heap_top = s.top.iter().find(|t| t.profile == ArtifactKind::Heap).unwrap();
    assert_eq!(heap_top.name, "main.allocLoop");
    assert!(s.notes.iter().any(|n| n.starts_with("heap: left out 86%")), "{:?}", s.notes);
    let f = s.findings.iter().find(|f| f.rule == Rule::AllocationHotSpot).unwrap();
    assert_eq!(f.message, "main.allocLoop accounts for 51% of in-use bytes");
}
