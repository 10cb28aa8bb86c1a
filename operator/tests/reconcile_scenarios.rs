//! Reconcile scenarios against a fake API server: what a user sees in status and Events.

mod fake_api;

use fake_api::*;
use godiag::api::{ArtifactKind, Phase, TargetPhase, TargetRole};
use godiag::controller::diagnoser::TargetResult;
use godiag::controller::reconcile::reconcile;
use godiag::controller::status::{COND_BASELINE_SELECTED, COND_COMPLETE, COND_TARGETS_RESOLVED};
use godiag::controller::target_failure::TargetFailure;
use kube::runtime::controller::Action;
use serde_json::json;
use std::sync::Arc;

fn selector_request() -> godiag::api::DiagnosisRequest {
    request(
        json!({"targets": {"selector": {"matchLabels": {"app": "goapp"}}}, "pprof": {"profiles": ["cpu", "heap"], "duration": "10s"}}),
    )
}

#[tokio::test]
async fn new_request_runs_then_succeeds() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Cpu, ArtifactKind::Heap]));
    script.results.lock().unwrap().insert("b".into(), collected("b", &[ArtifactKind::Cpu, ArtifactKind::Heap]));
    let mut h = harness(vec![pod("a", "Running"), pod("b", "Running")], script);

    let req = selector_request();
    let action = reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    assert_ne!(action, Action::await_change(), "a running request is rechecked");
    let running = h.api.last_status();
    assert_eq!(running.phase, Some(Phase::Running));
    assert_eq!(running.progress.as_deref(), Some("0/2"));
    assert_eq!(running.artifact_root.as_deref(), Some("memory:///shop/slow/"));
    assert!(running.targets.iter().all(|t| t.phase == TargetPhase::Collecting && t.attempts == 1));
    let resolved = running.conditions.iter().find(|c| c.type_ == COND_TARGETS_RESOLVED).unwrap();
    assert_eq!((resolved.status.as_str(), resolved.message.as_str()), ("True", "selected 2 pod(s): a, b"));
    assert!(h.api.recorded.lock().unwrap().pod_lists[0].contains("labelSelector=app%3Dgoapp"));

    h.finished_collections(2).await;
    let jobs = h.diagnoser.jobs.lock().unwrap().clone();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.pprof.as_ref().is_some_and(|p| p.duration == "10s")
        && j.delve.is_none()
        && j.container.as_deref() == Some("app")));
    assert!(jobs[0].window.same_as(&jobs[1].window), "the pods of a request start their windows together");

    let action = reconcile(Arc::new(h.api.as_written(req.clone(), running)), h.ctx.clone()).await.expect("second pass");
    assert_eq!(action, Action::await_change());
    let done = h.api.last_status();
    assert_eq!(done.phase, Some(Phase::Succeeded));
    assert_eq!(done.progress.as_deref(), Some("2/2"));
    assert_eq!(done.summary.as_deref(), Some("2/2 pods collected"));
    assert_eq!(done.targets[0].artifacts.len(), 2);
    let complete = done.conditions.iter().find(|c| c.type_ == COND_COMPLETE).unwrap();
    assert_eq!((complete.status.as_str(), complete.reason.as_str()), ("True", "Succeeded"));
    assert!(done.completion_time.is_some());
    assert_eq!(h.diagnoser.manifests.lock().unwrap().len(), 1, "manifest.json written once at the end");
    assert_eq!(h.api.event_reasons(), ["TargetsResolved", "Succeeded"]);

    // A terminal request is never collected again, even when reconciled again.
    let patches = h.api.recorded.lock().unwrap().status_patches.len();
    reconcile(Arc::new(h.api.as_written(req, done)), h.ctx.clone()).await.expect("third pass");
    assert_eq!(h.api.recorded.lock().unwrap().status_patches.len(), patches);
    assert_eq!(h.diagnoser.jobs.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn selector_matching_nothing_fails_with_reason() {
    let h = harness(vec![], ScriptedDiagnoser::default());
    let action = reconcile(Arc::new(selector_request()), h.ctx.clone()).await.expect("pass");
    assert_eq!(action, Action::await_change());
    let st = h.api.last_status();
    assert_eq!(st.phase, Some(Phase::Failed));
    let resolved = st.conditions.iter().find(|c| c.type_ == COND_TARGETS_RESOLVED).unwrap();
    assert_eq!(resolved.status, "False");
    assert_eq!(resolved.reason, "NoMatchingPods");
    assert_eq!(resolved.message, "selector app=goapp matched no pods in namespace shop");
    let events = h.api.events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].0.as_str(), events[0].1.as_str()), ("Warning", "NoMatchingPods"));
    assert!(h.diagnoser.jobs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn pod_deleted_mid_collection_gives_partially_succeeded() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Cpu]));
    script
        .results
        .lock()
        .unwrap()
        .insert("b".into(), TargetResult::failed(&TargetFailure::PodDeleted { pod: "b".into(), gone: true }));
    let mut h = harness(vec![pod("a", "Running"), pod("b", "Running")], script);
    let req = selector_request();
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let running = h.api.last_status();
    h.finished_collections(2).await;
    reconcile(Arc::new(h.api.as_written(req, running)), h.ctx.clone()).await.expect("second pass");
    let st = h.api.last_status();
    assert_eq!(st.phase, Some(Phase::PartiallySucceeded));
    assert_eq!(st.summary.as_deref(), Some("1/2 pods collected; b: PodDeleted"));
    let b = st.targets.iter().find(|t| t.pod == "b").unwrap();
    assert_eq!(b.message.as_deref(), Some("pod b was deleted during collection; nothing was stored for it"));
    let events = h.api.events();
    assert!(events.iter().any(|e| e.0 == "Warning" && e.1 == "PodDeleted" && e.2.contains("pod b")), "{events:?}");
    assert!(events.iter().any(|e| e.0 == "Warning" && e.1 == "PartiallySucceeded"), "{events:?}");
}

#[tokio::test]
async fn operator_restart_mid_collection_collects_again_then_reports_loss() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Cpu]));
    let mut h = harness(vec![pod("a", "Running")], script);
    let req = selector_request();
    // Status as the previous operator process left it: collecting, first attempt, no artifacts.
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let half_done = h.api.last_status();
    h.finished_collections(1).await;

    // A fresh process (empty job table) sees the half-done status.
    let fresh = harness(vec![pod("a", "Running")], ScriptedDiagnoser::default());
    fresh.diagnoser.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Cpu]));
    let mut fresh = fresh;
    reconcile(Arc::new(fresh.api.as_written(req.clone(), half_done.clone())), fresh.ctx.clone())
        .await
        .expect("after restart");
    let restarted = fresh.api.last_status();
    assert_eq!(restarted.targets[0].reason.as_deref(), Some("CollectionRestarted"));
    assert_eq!(restarted.targets[0].attempts, 2);
    fresh.finished_collections(1).await;
    reconcile(Arc::new(fresh.api.as_written(req.clone(), restarted.clone())), fresh.ctx.clone()).await.expect("finish");
    assert_eq!(fresh.api.last_status().phase, Some(Phase::Succeeded));

    // Restarted again during the second attempt: nothing more is tried, the loss is reported.
    let third = harness(vec![pod("a", "Running")], ScriptedDiagnoser::default());
    reconcile(Arc::new(third.api.as_written(req, restarted)), third.ctx.clone()).await.expect("second restart");
    let st = third.api.last_status();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.targets[0].reason.as_deref(), Some("OperatorRestarted"));
    assert!(third.diagnoser.jobs.lock().unwrap().is_empty());
    h.triggers.close();
}

#[tokio::test]
async fn storage_write_failure_is_retried_not_reported_as_done() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Heap]));
    *script.fail_manifest.lock().unwrap() = true;
    let mut h = harness(vec![pod("a", "Running")], script);
    let req = selector_request();
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let running = h.api.last_status();
    h.finished_collections(1).await;

    let err = reconcile(Arc::new(h.api.as_written(req.clone(), running.clone())), h.ctx.clone())
        .await
        .expect_err("manifest write fails");
    assert_eq!(err.reason(), "StorageWriteFailed");
    assert!(err.to_string().contains("s3://bucket/shop/slow/manifest.json"), "{err}");
    assert_eq!(h.api.last_status().phase, Some(Phase::Running), "not marked finished while the manifest is missing");

    // Storage recovers: the result kept in memory is written on the retry.
    *h.diagnoser.fail_manifest.lock().unwrap() = false;
    reconcile(Arc::new(h.api.as_written(req, running)), h.ctx.clone()).await.expect("retry");
    assert_eq!(h.api.last_status().phase, Some(Phase::Succeeded));
    assert_eq!(h.diagnoser.manifests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn finished_request_is_deleted_after_its_ttl() {
    let h = harness(vec![], ScriptedDiagnoser::default());
    let mut req = selector_request();
    req.spec.ttl_seconds_after_finished = Some(0);
    let mut st = godiag::api::DiagnosisRequestStatus { phase: Some(Phase::Succeeded), ..Default::default() };
    st.completion_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
    reconcile(Arc::new(h.api.as_written(req, st)), h.ctx.clone()).await.expect("pass");
    assert_eq!(h.api.recorded.lock().unwrap().deletes, ["slow"]);
}

/// The watch cache can hand a reconcile an object older than godiag's own last status write
/// (a pod finishing triggers a reconcile at once). Such a reconcile must apply the finished pod's
/// result again, never take the pod for lost and collect it a second time.
#[tokio::test]
async fn a_stale_object_after_a_pod_finished_keeps_its_result() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Cpu]));
    script.pending.lock().unwrap().insert("b".into());
    let mut h = harness(vec![pod("a", "Running"), pod("b", "Running")], script);
    let req = selector_request();
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let running = h.api.last_status();
    h.finished_collections(1).await;
    reconcile(Arc::new(h.api.as_written(req.clone(), running.clone())), h.ctx.clone()).await.expect("second pass");
    let a_done = h.api.last_status();
    assert_eq!(a_done.targets[0].phase, TargetPhase::Succeeded);
    // The cache still holds the first pass's status: a is Collecting there.
    reconcile(Arc::new(h.api.as_written(req, running)), h.ctx.clone()).await.expect("stale pass");
    let after = h.api.last_status();
    assert_eq!(after.targets[0].phase, TargetPhase::Succeeded, "{:?}", after.targets[0]);
    assert_eq!(after.targets[0].reason, None, "{:?}", after.targets[0].message);
    assert_eq!(h.diagnoser.jobs.lock().unwrap().len(), 2, "a is not collected a second time");
    assert_eq!(*h.api.conflicts.lock().unwrap(), 1, "the stale pass wrote nothing");
}

/// Seen with 1,000 quick requests: a request already Succeeded, and the watch cache still hands
/// a reconcile its Collecting status. That pass must not take the pod for one whose collection
/// was lost (no task runs for it any more), collect it again and overwrite the result — which
/// ended, after a second such pass, as "godiag restarted 2 times … OperatorRestarted" though
/// godiag never restarted.
#[tokio::test]
async fn a_stale_object_after_the_request_finished_changes_nothing() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("a".into(), collected("a", &[ArtifactKind::Heap]));
    let mut h = harness(vec![pod("a", "Running")], script);
    let req = selector_request();
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let collecting = h.api.last_status();
    h.finished_collections(1).await;
    reconcile(Arc::new(h.api.as_written(req.clone(), collecting.clone())), h.ctx.clone()).await.expect("done");
    assert_eq!(h.api.last_status().phase, Some(Phase::Succeeded));
    let events = h.api.event_reasons().len();

    for _ in 0..2 {
        let stale = h.api.as_written(req.clone(), collecting.clone());
        reconcile(Arc::new(stale), h.ctx.clone()).await.expect("stale pass");
    }
    let after = h.api.last_status();
    assert_eq!(after.phase, Some(Phase::Succeeded), "{after:#?}");
    assert_eq!(after.targets[0].reason, None, "{:?}", after.targets[0].message);
    assert_eq!(h.diagnoser.jobs.lock().unwrap().len(), 1, "a is collected once");
    assert_eq!(h.api.event_reasons().len(), events, "no Event from a stale pass: {:?}", h.api.event_reasons());
}

/// The first pass's own write is not in the watch cache yet when a second pass reads the
/// request: it has no targets there. The targets are not resolved (and announced) twice.
#[tokio::test]
async fn a_stale_object_without_targets_is_not_resolved_again() {
    let script = ScriptedDiagnoser::default();
    script.pending.lock().unwrap().insert("a".into());
    let h = harness(vec![pod("a", "Running")], script);
    let req = selector_request();
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    reconcile(Arc::new(req), h.ctx.clone()).await.expect("stale pass");
    let resolved = h.api.event_reasons().iter().filter(|r| *r == COND_TARGETS_RESOLVED).count();
    assert_eq!(resolved, 1, "{:?}", h.api.event_reasons());
    assert_eq!(h.diagnoser.jobs.lock().unwrap().len(), 1);
    assert_eq!(h.api.last_status().targets[0].phase, TargetPhase::Collecting);
}

/// A replica of ReplicaSet `rs`.
fn replica(name: &str, rs: &str) -> serde_json::Value {
    let mut p = pod(name, "Running");
    p["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": format!("uid-{rs}"), "controller": true,
    }]);
    p
}

#[tokio::test]
async fn a_baseline_collects_siblings_in_the_same_window_and_their_failure_fails_nothing() {
    let script = ScriptedDiagnoser::default();
    for p in ["bad", "s1"] {
        script.results.lock().unwrap().insert(p.into(), collected(p, &[ArtifactKind::Cpu]));
    }
    script
        .results
        .lock()
        .unwrap()
        .insert("s2".into(), TargetResult::failed(&TargetFailure::PodDeleted { pod: "s2".into(), gone: true }));
    let pods = vec![replica("bad", "web-1"), replica("s1", "web-1"), replica("s2", "web-1"), replica("other", "api-1")];
    let mut h = harness(pods, script);
    let req = request(json!({
        "targets": {"pods": ["bad"]},
        "baseline": {"siblings": 2},
        "pprof": {"profiles": ["cpu"], "duration": "10s"},
        "delve": {"mode": "Snapshot"},
    }));
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let running = h.api.last_status();
    let roles: Vec<(&str, TargetRole, Option<&str>)> =
        running.targets.iter().map(|t| (t.pod.as_str(), t.role, t.owner.as_deref())).collect();
    assert_eq!(
        roles,
        [
            ("bad", TargetRole::Target, Some("ReplicaSet/web-1")),
            ("s1", TargetRole::Sibling, Some("ReplicaSet/web-1")),
            ("s2", TargetRole::Sibling, Some("ReplicaSet/web-1")),
        ],
        "another owner's pod is no sibling"
    );
    let selected = running.conditions.iter().find(|c| c.type_ == COND_BASELINE_SELECTED).unwrap();
    assert_eq!((selected.status.as_str(), selected.reason.as_str()), ("True", "SiblingsSelected"));

    h.finished_collections(3).await;
    let jobs = h.diagnoser.jobs.lock().unwrap().clone();
    assert!(jobs.windows(2).all(|w| w[0].window.same_as(&w[1].window)), "target and siblings share one window");
    let sibling_jobs: Vec<_> = jobs.iter().filter(|j| j.pod != "bad").collect();
    assert!(
        sibling_jobs.iter().all(|j| j.delve.is_none() && j.pprof.is_some()),
        "a sibling is profiled, never debugged"
    );
    assert!(jobs.iter().any(|j| j.pod == "bad" && j.delve.is_some()));

    reconcile(Arc::new(h.api.as_written(req, running)), h.ctx.clone()).await.expect("second pass");
    let done = h.api.last_status();
    assert_eq!(done.phase, Some(Phase::Succeeded), "a failed sibling only thins the baseline");
    assert_eq!(done.summary.as_deref(), Some("1/1 pods collected (and 1/2 siblings)"));
    assert_eq!(done.report.as_deref(), Some("memory:///shop/slow/report.html"));
    assert_eq!(h.api.event_reasons(), ["TargetsResolved", "SiblingsSelected", "PodDeleted", "Succeeded"]);
}

#[tokio::test]
async fn a_baseline_without_siblings_runs_anyway_and_says_why() {
    let script = ScriptedDiagnoser::default();
    script.results.lock().unwrap().insert("solo".into(), collected("solo", &[ArtifactKind::Cpu]));
    let mut h = harness(vec![pod("solo", "Running")], script);
    let req = request(json!({"targets": {"pods": ["solo"]}, "baseline": {}, "pprof": {"profiles": ["cpu"]}}));
    reconcile(Arc::new(req.clone()), h.ctx.clone()).await.expect("first pass");
    let running = h.api.last_status();
    assert_eq!(running.targets.len(), 1);
    let selected = running.conditions.iter().find(|c| c.type_ == COND_BASELINE_SELECTED).unwrap();
    assert_eq!((selected.status.as_str(), selected.reason.as_str()), ("False", "NoOwner"));
    h.finished_collections(1).await;
    reconcile(Arc::new(h.api.as_written(req, running)), h.ctx.clone()).await.expect("second pass");
    assert_eq!(h.api.last_status().phase, Some(Phase::Succeeded));
    assert_eq!(h.api.event_reasons(), ["TargetsResolved", "NoOwner", "Succeeded"]);
}
