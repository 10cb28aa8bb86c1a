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

/// Every interval and nanosecond of one category as `go tool trace -pprof=KIND` counts them:
/// (count, total ns) over its samples.
fn go_tool_trace(kind: &str, file: &str) -> (u64, u64) {
    let out = std::process::Command::new("go")
        .args(["tool", "trace", &format!("-pprof={kind}"), file])
        .output()
        .expect("go tool trace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = godiag_analyze::pprof::decode::decode(&out.stdout).expect("go tool trace writes a pprof profile");
    let (mut count, mut total) = (0u64, 0u64);
    p.for_each_stack(|_, v| {
        count += v[0] as u64;
        total += v[1] as u64;
    });
    (count, total)
}

#[test]
fn waits_match_go_tool_trace_interval_for_interval() {
    if !go_available() {
        eprintln!("skipped: no go toolchain");
        return;
    }
    for file in ["trace.out", "trace-busy.out", "trace-throttled.out"] {
        let Analysis::Trace(t) = analyze(file, &AnalyzeOptions::default()) else { panic!() };
        let b = &t.blocking;
        for (kind, ours) in [("sched", &b.scheduler), ("syscall", &b.syscall), ("sync", &b.sync), ("net", &b.network)] {
            let (count, total) = go_tool_trace(kind, &fixture_path(file));
            let (our_count, our_total) =
                ours.as_ref().map_or((0, 0), |w| (w.count + w.left_out_count, w.total_ns + w.left_out_ns));
            assert_eq!(our_count, count, "{file} {kind}: intervals");
            // Go converts each timestamp to nanoseconds before subtracting (1ns apart per
            // interval at most), and its parser orders events by sequence numbers where we use
            // timestamps: a few waits on a busy machine may end a few microseconds apart.
            assert!(
                our_total.abs_diff(total) <= count + total / 10_000,
                "{file} {kind}: {our_total}ns, go tool trace {total}ns"
            );
        }
    }
}

#[test]
fn a_program_short_of_cpu_gets_scheduler_latency_with_its_cause_and_its_own_code() {
    let Analysis::Trace(t) = analyze("trace-busy.out", &AnalyzeOptions::default()) else { panic!() };
    let s = t.blocking.scheduler.as_ref().expect("scheduler latency");
    assert!(s.p99_ns >= 5_000_000, "two burning goroutines on GOMAXPROCS=2 make the others wait: {s:?}");
    assert!(s.p50_ns <= s.p99_ns && s.p99_ns <= s.max_ns);
    assert!(s.left_out_count > 0, "the tracer's own goroutine is counted apart");
    assert!(s.top.iter().all(|w| !w.frames.iter().any(|f| f.starts_with("runtime/trace."))), "{:?}", s.top);
    let f = t.findings.iter().find(|f| f.rule == Rule::SchedulerLatency).expect("scheduler-latency finding");
    assert!(f.message.starts_with("goroutines waited up to "), "{}", f.message);
    assert!(f.evidence[0].starts_with("all 2 Ps were busy"), "{:?}", f.evidence);
    assert!(f.evidence.iter().any(|e| e.contains("main.")), "names the program's code: {:?}", f.evidence);
    let a = t.annotations.as_ref().expect("runtime/trace annotations");
    let task = &a.tasks[0];
    assert_eq!(task.latency.name, "request");
    assert!(task.latency.count >= 100 && task.latency.p99_ns <= task.latency.max_ns, "{task:?}");
    assert!(task.slowest.and_then(|b| b.largest()).is_some());
    let names: Vec<&str> = a.regions.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"lookup") && names.contains(&"render"), "{names:?}");
    let log = a.logs.iter().find(|l| l.key == "cache").expect("cache log");
    assert_eq!(log.category, "request", "logs are grouped by their task's name");
    assert_eq!(log.count, task.latency.count, "one log per request");
    let assist = t.blocking.gc_assist.as_ref().expect("the allocating goroutine assists the GC");
    assert!(assist.total_ns <= t.running_ns, "assists are running time");
    assert!(t.gc_cpu_percent.is_some_and(|p| p > 0.0 && p <= 100.0), "{:?}", t.gc_cpu_percent);
    let g = t.goroutines.as_ref().unwrap();
    assert!(g.max >= 14 && g.per_100ms.len() >= 12, "12 request goroutines and 2 burners over 1.2s: {g:?}");
}

#[test]
fn the_cpu_profile_of_the_same_window_confirms_a_program_short_of_ps() {
    let opts = AnalyzeOptions::default();
    let (cpu, trace) = (analyze("cpu-busy.pb.gz", &opts), analyze("trace-busy.out", &opts));
    let s = summarize_target(&[(ArtifactKind::Cpu, &cpu), (ArtifactKind::Trace, &trace)], &Resources::default());
    let f = s.findings.iter().find(|f| f.rule == Rule::SchedulerLatency).expect("scheduler-latency finding");
    assert!(
        f.evidence[0].starts_with("the CPU profile of the same window agrees: the program used 1."),
        "two burning goroutines really got their two cores: {:?}",
        f.evidence
    );
    let t = s.trace.as_ref().unwrap();
    assert!(t.sched_latency_tail_us.is_some_and(|p| p >= 5_000) && t.sched_latency_max_us >= t.sched_latency_tail_us);
    assert!(t.gc_cpu_percent.is_some() && t.goroutines_max.is_some(), "{t:?}");
}

#[test]
fn under_a_cpu_quota_the_cpu_profile_shows_the_wait_is_throttling() {
    let opts = AnalyzeOptions {
        resources: Resources { cpu_limit_cores: Some(0.5), ..Resources::default() },
        ..AnalyzeOptions::default()
    };
    let (cpu, trace) = (analyze("cpu-throttled.pb.gz", &opts), analyze("trace-throttled.out", &opts));
    let s = summarize_target(&[(ArtifactKind::Cpu, &cpu), (ArtifactKind::Trace, &trace)], &opts.resources);
    let f = s.findings.iter().find(|f| f.rule == Rule::SchedulerLatency).expect("scheduler-latency finding");
    assert!(
        f.evidence[0].contains("cores while the Ps were busy ")
            && f.evidence[0].contains("frozen by the kernel, which is CPU throttling (its limit is 0.5 cores)"),
        "{:?}",
        f.evidence
    );
    assert!(s.findings.iter().any(|f| f.rule == Rule::CpuThrottling), "{:?}", s.findings);
}
