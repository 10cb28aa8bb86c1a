//! Go crash output as a crashed container's previous log holds it, from real programs
//! (`fixtures/gen/crash`): every one is read (no "invalid wire type" from a protobuf decoder),
//! the log lines before the crash are skipped, and the finding names the panic, the program's
//! function and line, and the goroutine that crashed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use godiag_analyze::goroutine::crash::CrashKind;
use godiag_analyze::{Resources, Severity};
use support::*;

fn crash_finding(file: &str) -> godiag_analyze::Finding {
    let r = goroutines(file);
    assert!(r.crash.is_some(), "{file}: no crash read");
    let f = r.findings.first().unwrap_or_else(|| panic!("{file}: no findings"));
    assert_eq!(f.rule, Rule::Crash, "{file}: the crash comes first: {:?}", r.findings);
    f.clone()
}

#[test]
fn a_nil_map_write_names_the_method_file_line_and_goroutine() {
    let f = crash_finding("crash-nilmap.log");
    assert_eq!(f.severity, Severity::High);
    assert!(
        f.message.starts_with("panic: assignment to entry in nil map at main.(*Cache).Put (main.go:25), goroutine "),
        "{}",
        f.message
    );
    let r = goroutines("crash-nilmap.log");
    assert_eq!(r.total, 1, "GOTRACEBACK=single, the default, prints only the goroutine that panicked");
}

#[test]
fn a_nil_pointer_names_the_signal() {
    let f = crash_finding("crash-nilptr.log");
    assert_eq!(
        f.message,
        "panic: runtime error: invalid memory address or nil pointer dereference at main.handle (main.go:31), goroutine 1"
    );
    assert!(f.evidence[0].starts_with("signal SIGSEGV: segmentation violation code=0x1 addr=0x0"), "{:?}", f.evidence);
}

#[test]
fn a_deadlock_is_a_fatal_error_at_the_wait() {
    let f = crash_finding("crash-deadlock.log");
    assert_eq!(f.message, "fatal error: all goroutines are asleep - deadlock! at main.main (main.go:65), goroutine 1");
    let c = goroutines("crash-deadlock.log").crash.unwrap();
    assert_eq!((c.kind, c.state.as_str()), (CrashKind::FatalError, "sync.WaitGroup.Wait"));
}

#[test]
fn a_sigquit_dump_is_read_whole_with_its_registers_left_out() {
    let r = goroutines("crash-sigquit.log");
    let f = crash_finding("crash-sigquit.log");
    assert_eq!(f.severity, Severity::Warning, "a SIGQUIT is usually someone asking for the goroutines");
    assert_eq!(f.message, "SIGQUIT: quit: the runtime printed every goroutine and exited");
    assert!(r.total >= 5, "{} goroutines", r.total);
    assert!(r.by_state.keys().all(|s| !s.contains("0x")), "{:?}", r.by_state);
}

#[test]
fn a_repanic_reports_the_last_panic_and_the_recovered_one() {
    let f = crash_finding("crash-repanic.log");
    assert_eq!(
        f.message,
        "panic: while handling first failure: cleanup failed at main.main.func2 (main.go:73), goroutine 1"
    );
    assert!(f.evidence.contains(&"while recovering from: panic: first failure".to_string()), "{:?}", f.evidence);
}

#[test]
fn gotraceback_system_headers_are_goroutines_too() {
    let f = crash_finding("crash-gotraceback-system.log");
    assert!(
        f.message.starts_with("panic: assignment to entry in nil map at main.(*Cache).Put (main.go:25)"),
        "{}",
        f.message
    );
    let r = goroutines("crash-gotraceback-system.log");
    assert!(r.total > 5, "system goroutines are listed as well: {}", r.total);
}

#[test]
fn a_test_timeout_names_the_running_test() {
    let f = crash_finding("crash-test-timeout.log");
    assert_eq!(f.message, "panic: test timed out after 1s, running TestSlow (1s)");
}

#[test]
fn the_restart_count_joins_the_sentence() {
    let opts =
        AnalyzeOptions { resources: Resources { restarts: Some(6), ..Default::default() }, ..Default::default() };
    let a = analyze("crash-nilmap.log", &opts);
    assert!(a.findings()[0].message.ends_with("; restarted 6 times"), "{:?}", a.findings());
}

#[test]
fn a_log_without_a_go_crash_is_not_a_goroutine_dump() {
    let log = b"2026/12/02 07:00:00 starting\n2026/12/02 07:00:01 panic: not really, just a word\nbye\n";
    let err = analyze_bytes(log, &AnalyzeOptions::default()).unwrap_err();
    assert!(!err.to_string().contains("wire type"), "{err}");
}
