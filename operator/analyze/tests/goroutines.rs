//! Goroutine dumps (the debug=2 text and the binary goroutine and goroutineleak profiles).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[test]
fn goroutine_dump_groups_and_leak_suspects() {
    let r = goroutines("goroutine.txt");
    assert_eq!(r.source, GoroutineSource::Text);
    assert_eq!(r.total, 229);
    assert_eq!(r.by_state.get("chan send"), Some(&200));
    assert_eq!(r.by_state.get("select"), Some(&20));
    assert_eq!(r.by_state.get("sync.Mutex.Lock"), Some(&5));
    assert_eq!(r.by_state.get("sync.WaitGroup.Wait"), Some(&3));
    let g = &r.groups[0];
    assert_eq!((g.count, g.state.as_str()), (200, "chan send"));
    assert_eq!(g.stack, vec!["main.leakOne".to_string()]);
    assert_eq!(g.created_by.as_deref(), Some("main.startLeaks"));
    let leaks: Vec<_> = r.findings.iter().filter(|f| f.rule == Rule::GoroutineLeak).collect();
    assert_eq!(leaks.len(), 1, "only the 200-goroutine group crosses the default threshold: {leaks:?}");
    assert!(leaks[0].message.contains("200 goroutines blocked in chan send at main.leakOne"), "{}", leaks[0].message);
    let mutex = r.groups.iter().find(|g| g.state == "sync.Mutex.Lock").unwrap();
    assert_eq!(mutex.stack.last().map(String::as_str), Some("main.lockForever"));
}

#[test]
fn goroutine_dump_wait_minutes() {
    let r = goroutines("goroutine-waited.txt");
    assert_eq!(r.groups[0].max_wait_minutes, 1);
    let select = r.groups.iter().find(|g| g.state == "select").unwrap();
    assert_eq!((select.count, select.max_wait_minutes), (20, 1));
    // Lower thresholds make the waited select group a suspect too.
    let mut opts = AnalyzeOptions::default();
    opts.thresholds.leak_min_minutes = 1;
    let Analysis::Goroutines(r) = analyze_bytes(&fixture("goroutine-waited.txt"), &opts).unwrap() else { panic!() };
    assert!(r.findings.iter().any(|f| { f.message.contains("20 goroutines blocked in select at main.leakSelect") }));
}

#[test]
fn runtime_leak_marker_and_goroutineleak_profile() {
    let r = goroutines("goroutine-leaked.txt");
    assert_eq!(r.leaked, 220, "200 chan send + 20 select are provably leaked");
    assert_eq!(r.by_state.get("chan send"), Some(&200), "(leaked) is not part of the state");
    assert_eq!(r.findings[0].severity, godiag_analyze::Severity::High);
    assert!(r.findings[0].message.contains("200 goroutines leaked"), "{}", r.findings[0].message);

    let p = goroutines("goroutineleak.pb.gz");
    assert_eq!(p.source, GoroutineSource::Goroutineleak);
    assert_eq!(p.total, 220);
    assert!(p.findings.iter().all(|f| f.severity == godiag_analyze::Severity::High));
    assert!(p.groups[0].stack.contains(&"main.leakOne".to_string()));
}

#[test]
fn binary_goroutine_profile() {
    let r = goroutines("goroutine.pb.gz");
    assert_eq!(r.source, GoroutineSource::Profile);
    assert_eq!(r.total, 229);
    assert!(r.by_state.is_empty());
    assert_eq!(r.groups[0].count, 200);
    assert!(r.groups[0].stack.contains(&"main.leakOne".to_string()));
    assert!(r.findings.is_empty(), "no states, no leak guess");
}

#[test]
fn idle_keep_alive_connections_are_not_a_leak() {
    // A plain net/http client and server after 120 concurrent requests: 240 pooled connection
    // goroutines plus 120 server connections waiting for their next request.
    let r = goroutines("goroutine-idle-http.txt");
    assert!(r.total >= 360, "{}", r.total);
    assert!(r.findings.iter().all(|f| f.rule != Rule::GoroutineLeak), "normal pooling: {:?}", r.findings);
}

#[test]
fn a_leak_suspect_says_how_strong_its_evidence_is() {
    // goroutine-waited.txt: the same 200 goroutines after they waited over a minute.
    let mut opts = AnalyzeOptions::default();
    opts.thresholds.leak_min_minutes = 1;
    let Analysis::Goroutines(r) = analyze("goroutine-waited.txt", &opts) else { panic!() };
    let f = r.findings.iter().find(|f| f.message.contains("main.leakOne")).expect("leak finding");
    assert_eq!(f.message, "200 goroutines blocked in chan send at main.leakOne for up to 1 minute (leak suspect)");
    assert_eq!(f.severity, godiag_analyze::Severity::Warning);
    assert!(f.evidence.iter().any(|e| e == "all created by main.startLeaks"), "{:?}", f.evidence);
    let weak = goroutines("goroutine.txt");
    let w = weak.findings.iter().find(|f| f.message.contains("main.leakOne")).expect("weak finding");
    assert!(w.message.ends_with("(possible leak, weak evidence)"), "{}", w.message);
    assert!(w.evidence[1].starts_with("none has waited a minute yet"), "{:?}", w.evidence);
}
