//! The validation rules the API server enforces (CEL in the CRD), evaluated client-side with kube's
//! `validate_cel`. What a user sees as `kubectl apply` errors.

use godiag::api::DiagnosisRequest;
use serde_json::json;

fn request(spec: serde_json::Value) -> DiagnosisRequest {
    serde_json::from_value(json!({
        "apiVersion": "godiag.dev/v1alpha1",
        "kind": "DiagnosisRequest",
        "metadata": {"name": "r", "namespace": "shop"},
        "spec": spec,
    }))
    .expect("valid shape")
}

fn errors(r: &DiagnosisRequest) -> String {
    match r.validate_cel() {
        Ok(()) => String::new(),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn selector_request_with_defaults_is_valid() {
    let r = request(json!({"targets": {"selector": {"matchLabels": {"app": "checkout"}}}}));
    assert_eq!(errors(&r), "");
}

#[test]
fn targets_need_exactly_one_of_selector_and_pods() {
    let both = request(json!({"targets": {"selector": {"matchLabels": {"app": "x"}}, "pods": ["a"]}}));
    assert!(errors(&both).contains("set exactly one of targets.selector or targets.pods"), "{}", errors(&both));
    let neither = request(json!({"targets": {}}));
    assert!(errors(&neither).contains("set exactly one of targets.selector or targets.pods"));
    let pods = request(json!({"targets": {"pods": ["checkout-abc"]}}));
    assert_eq!(errors(&pods), "");
}

#[test]
fn port_and_port_name_are_exclusive() {
    let r = request(json!({"targets": {"pods": ["a"]}, "pprof": {"port": 6060, "portName": "pprof"}}));
    assert!(errors(&r).contains("set at most one of pprof.port or pprof.portName"), "{}", errors(&r));
}

#[test]
fn cpu_duration_is_bounded_1s_to_10m() {
    for (d, ok) in [("1s", true), ("10m", true), ("30s", true), ("500ms", false), ("11m", false), ("1h", false)] {
        let r = request(json!({"targets": {"pods": ["a"]}, "pprof": {"duration": d}}));
        assert_eq!(errors(&r).is_empty(), ok, "duration {d}: {}", errors(&r));
        if !ok {
            assert!(errors(&r).contains("duration must be between 1s and 10m"));
        }
    }
}

#[test]
fn trace_duration_is_bounded_1s_to_60s() {
    for (d, ok) in [("1s", true), ("60s", true), ("1m", true), ("61s", false), ("2m", false)] {
        let r = request(json!({"targets": {"pods": ["a"]}, "pprof": {"traceDuration": d}}));
        assert_eq!(errors(&r).is_empty(), ok, "traceDuration {d}: {}", errors(&r));
    }
}

#[test]
fn profiles_must_not_repeat() {
    let r = request(json!({"targets": {"pods": ["a"]}, "pprof": {"profiles": ["cpu", "heap", "cpu"]}}));
    assert!(errors(&r).contains("profiles must not repeat a kind"), "{}", errors(&r));
}

#[test]
fn spec_is_immutable() {
    let old = request(json!({"targets": {"pods": ["a"]}}));
    let new = request(json!({"targets": {"pods": ["b"]}}));
    let err = format!("{:?}", new.validate_cel_update(&old).expect_err("spec change must be refused"));
    assert!(err.contains("spec is immutable"), "{err}");
    assert!(old.validate_cel_update(&old).is_ok());
}

#[test]
fn unknown_profile_kind_is_refused_by_the_schema_enum() {
    let r: Result<DiagnosisRequest, _> = serde_json::from_value(json!({
        "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest",
        "metadata": {"name": "r"},
        "spec": {"targets": {"pods": ["a"]}, "pprof": {"profiles": ["gc"]}},
    }));
    assert!(r.is_err());
    let crd = serde_json::to_string(&godiag::api::crds()).expect("json");
    assert!(crd.contains(r#""enum":["cpu","heap","allocs","goroutine","block","mutex","threadcreate","trace"]"#));
}

#[test]
fn a_baseline_needs_pprof() {
    let pods = json!({"pods": ["checkout-abc"]});
    let default_pprof = request(json!({"targets": pods, "baseline": {}}));
    assert_eq!(errors(&default_pprof), "", "no pprof, delve nor lastCrash: the default pprof");
    let with_pprof = request(json!({"targets": pods, "baseline": {"siblings": 2}, "pprof": {}, "delve": {}}));
    assert_eq!(errors(&with_pprof), "");
    for spec in [
        json!({"targets": pods, "baseline": {}, "delve": {}}),
        json!({"targets": pods, "baseline": {}, "lastCrash": true}),
    ] {
        let r = request(spec);
        assert!(errors(&r).contains("baseline compares pprof collections"), "{}", errors(&r));
    }
}

#[test]
fn mode_trace_needs_tracepoints_and_tracepoints_need_mode_trace() {
    let none = request(json!({"targets": {"pods": ["a"]}, "delve": {"mode": "Trace"}}));
    assert!(errors(&none).contains("mode Trace needs at least one entry in tracepoints"), "{}", errors(&none));
    let stray = request(json!({"targets": {"pods": ["a"]}, "delve": {"tracepoints": [{"location": "main.handle"}]}}));
    assert!(errors(&stray).contains("tracepoints are only used with mode: Trace"), "{}", errors(&stray));
    let ok = request(json!({"targets": {"pods": ["a"]}, "delve": {"mode": "Trace", "tracepoints": [
        {"name": "handle", "location": "main.handle", "capture": ["r.URL.Path"]},
        {"location": "server.go:42"}
    ]}}));
    assert_eq!(errors(&ok), "");
}

#[test]
fn tracepoint_names_are_unique() {
    let r = request(json!({"targets": {"pods": ["a"]}, "delve": {"mode": "Trace", "tracepoints": [
        {"name": "h", "location": "main.a"}, {"name": "h", "location": "main.b"}
    ]}}));
    assert!(errors(&r).contains("tracepoint names must be unique"), "{}", errors(&r));
}

#[test]
fn the_trace_window_and_stop_budget_are_bounded() {
    for (window, budget, ok) in [
        ("60s", "5s", true),
        ("1s", "10ms", true),
        ("61s", "500ms", false),
        ("30s", "6s", false),
        ("30s", "5ms", false),
    ] {
        let r = request(json!({"targets": {"pods": ["a"]}, "delve": {"mode": "Trace",
            "tracepoints": [{"location": "main.handle"}], "trace": {"window": window, "stopBudget": budget}}}));
        assert_eq!(errors(&r).is_empty(), ok, "window {window}, stopBudget {budget}: {}", errors(&r));
    }
}
