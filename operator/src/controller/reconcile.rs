//! One reconcile pass: resolve targets once, advance them, write status by server-side apply,
//! start collections, publish Events. Level-triggered: everything is derived from the object's
//! status plus the collections running in this process.

use super::Context;
use super::diagnoser::{CancelSignal, CollectedSink, RequestRecord, TargetResult, TargetTask};
use super::error::Error;
use super::finalizer;
use super::progress::advance_targets;
use super::select::{SelectionError, select_targets, selector_string};
use super::siblings::{Baseline, BaselineReason, select_siblings};
use super::status::{self as st, COND_BASELINE_SELECTED, COND_TARGETS_RESOLVED};
use super::target_failure::TargetFailure;
use crate::api::{DiagnosisRequest, DiagnosisRequestStatus, TargetPhase, TargetStatus};
use crate::collect::WindowGate;
use futures::FutureExt;
use godiag_analyze::text::clip;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

pub const FIELD_MANAGER: &str = "godiag";
/// Safety net while collecting: finished collections trigger a reconcile themselves.
const RUNNING_RECHECK: Duration = Duration::from_secs(60);
/// Safety net after a stale object's write was refused: the watch delivers the newer one at once.
const STALE_RECHECK: Duration = Duration::from_secs(2);

pub async fn reconcile(req: Arc<DiagnosisRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    let ns = req.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let name = req.name_any();
    let uid = req.uid().ok_or(Error::MissingMetadata("uid"))?;
    let generation = req.metadata.generation;
    let prev = req.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let requests: Api<DiagnosisRequest> = Api::namespaced(ctx.client.clone(), &ns);

    if req.metadata.deletion_timestamp.is_some() {
        return cleanup(&ctx, &requests, &req, &uid, &ns, &prev).await;
    }
    if prev.phase.is_some_and(|p| p.is_terminal()) {
        ctx.running.forget(&uid);
        return finished(&requests, &req, &prev).await;
    }
    if finalizer::needs_cleanup(&req) && !finalizer::has(&req) {
        // Before anything is attached: deleting the request must wait for godiag to let go.
        finalizer::add(&requests, &req).await?;
        return Ok(Action::await_change());
    }

    let mut status = prev.clone();
    let rv = req.metadata.resource_version.as_deref();
    let mut resolved: Vec<(EventType, String, String)> = Vec::new();
    if status.targets.is_empty() {
        match resolve(&ctx, &req, &ns).await? {
            Ok((mut targets, baseline)) => {
                let mut baseline_event = None;
                let names: Vec<&str> = targets.iter().map(|t| t.pod.as_str()).collect();
                let msg = format!("selected {} pod(s): {}", targets.len(), names.join(", "));
                st::set_condition(
                    &mut status.conditions,
                    st::condition(COND_TARGETS_RESOLVED, true, "Resolved", &msg, generation, &now),
                );
                if let Some(b) = baseline {
                    let selected = b.reason == BaselineReason::SiblingsSelected;
                    st::set_condition(
                        &mut status.conditions,
                        st::condition(
                            COND_BASELINE_SELECTED,
                            selected,
                            b.reason.reason(),
                            &b.message,
                            generation,
                            &now,
                        ),
                    );
                    let type_ = if selected { EventType::Normal } else { EventType::Warning };
                    baseline_event = Some((type_, b.reason.reason().to_owned(), b.message.clone()));
                    targets.extend(b.siblings);
                }
                status.artifact_root = Some(ctx.diagnoser.artifact_root(&ns, &name));
                // Published once the status that records them is written.
                resolved.push((EventType::Normal, COND_TARGETS_RESOLVED.to_owned(), msg));
                resolved.extend(baseline_event);
                for t in targets.iter().filter(|t| t.phase == TargetPhase::Failed) {
                    let reason = t.reason.clone().unwrap_or_else(|| "TargetFailed".into());
                    resolved.push((EventType::Warning, reason, t.message.clone().unwrap_or_default()));
                }
                status.targets = targets;
            }
            Err(e) => {
                let new = st::no_targets(&prev, e.reason(), &e.to_string(), generation, &now);
                if apply_status(&requests, &name, rv, &new).await? == Applied::Stale {
                    return Ok(Action::requeue(STALE_RECHECK));
                }
                publish(&ctx, &req, EventType::Warning, e.reason(), "Resolve", e.to_string()).await;
                ctx.metrics.requests_finished.get_or_create(&crate::metrics::PhaseLabel { phase: "Failed" }).inc();
                return Ok(Action::await_change());
            }
        }
    }

    let (running, mut results) = ctx.running.snapshot(&uid);
    // A finished pod's result is forgotten only once the status this reconcile was given shows
    // it. The object comes from the watch cache, which can be older than this process's own last
    // status write (a pod finishing triggers a reconcile at once): such a reconcile applies the
    // result again instead of taking the pod for lost ("godiag stopped while analysing").
    let seen: Vec<String> = status
        .targets
        .iter()
        .filter(|t| t.phase.is_terminal() && results.contains_key(&t.pod))
        .map(|t| t.pod.clone())
        .collect();
    for pod in &seen {
        results.remove(pod);
    }
    ctx.running.recorded(&uid, seen);
    // A Delve session no task of this process holds: godiag restarted while it was open. End it
    // now (halt only if the program runs, detach without killing) rather than leave dlv attached
    // until its container's deadline; the pod is then reported DelveInterrupted.
    for t in status
        .targets
        .iter()
        .filter(|t| t.phase == TargetPhase::SessionOpen && !running.contains(&t.pod) && !results.contains_key(&t.pod))
    {
        match ctx.diagnoser.end_session(&ns, &t.pod).await {
            Ok(how) => tracing::info!(pod = %t.pod, ended = %how, "restarted mid-session: delve session ended"),
            Err(e) => tracing::info!(pod = %t.pod, error = %e, "restarted mid-session: no delve session left to end"),
        }
    }
    let collected = ctx.running.collected(&uid);
    let plan = advance_targets(&status.targets, &running, &collected, &results);
    let mut new = st::with_targets(&status, plan.targets.clone(), generation, &now);
    let phase = new.phase.unwrap_or(crate::api::Phase::Running);

    if phase.is_terminal() {
        let record = RequestRecord {
            namespace: ns.clone(),
            request: name.clone(),
            targets: new.targets.clone(),
            baseline: req.spec.baseline.is_some(),
        };
        let finished = ctx.diagnoser.finish(record).await?;
        let mut targets = plan.targets;
        for t in &mut targets {
            if let Some(b) = finished.baselines.get(&t.pod) {
                b.apply_to(t);
            }
        }
        new = st::with_targets(&status, targets, generation, &now);
        new.report = finished.report;
    }
    if new != prev && apply_status(&requests, &name, rv, &new).await? == Applied::Stale {
        // Nothing was started nor published: the newer object decides.
        return Ok(Action::requeue(STALE_RECHECK));
    }
    for (type_, reason, note) in resolved {
        publish(&ctx, &req, type_, &reason, "Resolve", note).await;
    }

    for t in &new.targets {
        let was = prev.targets.iter().find(|p| p.pod == t.pod).map(|p| p.phase);
        let just_ended = t.phase.is_terminal() && was.is_some_and(|w| !w.is_terminal());
        if t.phase == TargetPhase::Failed && just_ended {
            let note = format!("pod {}: {}", t.pod, t.message.as_deref().unwrap_or("failed"));
            publish(&ctx, &req, EventType::Warning, t.reason.as_deref().unwrap_or("TargetFailed"), "Collect", note)
                .await;
        }
        let retried: Vec<String> = t
            .artifacts
            .iter()
            .filter_map(|a| {
                a.note
                    .as_deref()
                    .filter(|n| n.starts_with(crate::store::spool::RETRIED_NOTE))
                    .map(|n| format!("{}: {n}", godiag_analyze::ArtifactKind::from(a.kind)))
            })
            .collect();
        if just_ended && !retried.is_empty() {
            let note = format!("pod {}: {}", t.pod, retried.join("; "));
            publish(&ctx, &req, EventType::Warning, st::EVENT_STORAGE_RETRIED, "Store", note).await;
        }
    }
    // The pods started together share one window (their CPU profiles and traces begin at the
    // same moment, so that they can be compared).
    let window = if plan.start.len() > 1 { WindowGate::new(plan.start.iter().cloned()) } else { WindowGate::none() };
    for pod in plan.start {
        start_collection(&ctx, &req, &uid, &new.targets, &pod, window.clone());
    }
    if phase.is_terminal() {
        let kind = if phase == crate::api::Phase::Succeeded { EventType::Normal } else { EventType::Warning };
        publish(&ctx, &req, kind, phase.as_str(), "Complete", new.summary.clone().unwrap_or_default()).await;
        ctx.metrics.requests_finished.get_or_create(&crate::metrics::PhaseLabel { phase: phase.as_str() }).inc();
        ctx.running.forget(&uid);
        return finished(&requests, &req, &new).await;
    }
    Ok(Action::requeue(RUNNING_RECHECK))
}

/// Lists the candidate pods and selects the targets. The outer error is an API failure (retried);
/// the inner one means no pod can be diagnosed (a terminal answer for the user).
async fn resolve(
    ctx: &Context,
    req: &DiagnosisRequest,
    ns: &str,
) -> Result<Result<(Vec<TargetStatus>, Option<Baseline>), SelectionError>, Error> {
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let spec = &req.spec.targets;
    let pods: Vec<Pod> = if let Some(names) = &spec.pods {
        let mut found = Vec::new();
        for n in names {
            if let Some(p) = pods_api.get_opt(n).await? {
                found.push(p);
            }
        }
        found
    } else {
        let selector = selector_string(spec);
        let lp = match &spec.selector {
            Some(sel) => {
                let s = kube::core::Selector::try_from(sel.clone())
                    .map_err(|e| Error::InvalidSelector(format!("{selector}: {e}")))?;
                ListParams::default().labels_from(&s)
            }
            None => ListParams::default(),
        };
        pods_api.list(&lp).await?.items
    };
    let mut targets = match select_targets(spec, ns, &pods) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let Some(b) = &req.spec.baseline else { return Ok(Ok((targets, None))) };
    // Siblings share the targets' owner; they need not match the targets' selector.
    let lp = match &b.selector {
        Some(sel) => ListParams::default().labels_from(
            &kube::core::Selector::try_from(sel.clone())
                .map_err(|e| Error::InvalidSelector(format!("baseline.selector: {e}")))?,
        ),
        None => ListParams::default(),
    };
    let candidates = pods_api.list(&lp).await?.items;
    let baseline = select_siblings(&mut targets, &pods, &candidates, b, spec.container.as_deref());
    Ok(Ok((targets, Some(baseline))))
}

fn start_collection(
    ctx: &Arc<Context>,
    req: &DiagnosisRequest,
    uid: &str,
    targets: &[TargetStatus],
    pod: &str,
    window: WindowGate,
) {
    let Some(target) = targets.iter().find(|t| t.pod == pod) else {
        window.release(pod);
        return;
    };
    let mut task = TargetTask {
        namespace: req.namespace().unwrap_or_default(),
        request: req.name_any(),
        request_uid: uid.to_string(),
        pod: pod.to_string(),
        container: target.container.clone(),
        pprof: req.spec.effective_pprof(),
        // A sibling is only profiled: it is compared, not debugged.
        delve: req.spec.delve.clone().filter(|_| target.role.is_target()),
        last_crash: req.spec.last_crash && target.role.is_target(),
        collected: CollectedSink::default(),
        cancel: CancelSignal::default(),
        window,
    };
    let cancel = ctx.running.start(uid, pod);
    task.cancel = CancelSignal(cancel.clone());
    // A Delve session ends itself when the request is deleted (it halts if needed and
    // detaches); everything else is simply dropped.
    let ends_itself = task.delve.as_ref().is_some_and(|d| d.mode == crate::api::DelveMode::Session);
    let (ctx, uid, pod, obj) = (ctx.clone(), uid.to_string(), pod.to_string(), ObjectRef::from_obj(req));
    tokio::spawn(async move {
        let permit = tokio::select! {
            p = ctx.limit.clone().acquire_owned() => p.ok(),
            () = cancel.cancelled() => {
                task.window.release(&pod);
                return;
            }
        };
        // When collection ends: record what was stored, and give the collection slot to the next
        // pod (analysis is bounded on its own, by GODIAG_ANALYSIS_CONCURRENCY).
        let permit = std::sync::Mutex::new(permit);
        task.collected = {
            let (ctx, uid, pod, obj) = (ctx.clone(), uid.clone(), pod.clone(), obj.clone());
            CollectedSink::new(move |c| {
                drop(permit.lock().map(|mut p| p.take()));
                ctx.running.set_collected(&uid, &pod, c);
                let _ = ctx.trigger.send(obj.clone());
            })
        };
        let result = tokio::select! {
            r = AssertUnwindSafe(ctx.diagnoser.diagnose(task)).catch_unwind() => r,
            // The request was deleted: dropping the collection closes its port-forward and
            // aborts its uploads; there is no status left to write.
            () = cancel.cancelled(), if !ends_itself => {
                tracing::info!(pod = %pod, request = %obj, "request deleted: collection cancelled");
                return;
            }
        };
        let result = result.unwrap_or_else(|_| TargetResult::failed(&TargetFailure::InternalError));
        ctx.running.finish(&uid, &pod, result);
        // The controller may be gone during shutdown; the next start re-plans from status.
        let _ = ctx.trigger.send(obj);
    });
}

/// A request being deleted that holds the cleanup finalizer: its sessions end (the tasks of this
/// process end their own when cancelled; sessions no task holds, after a restart, are ended
/// here), then the finalizer goes and the API server deletes the object.
async fn cleanup(
    ctx: &Context,
    requests: &Api<DiagnosisRequest>,
    req: &DiagnosisRequest,
    uid: &str,
    ns: &str,
    status: &DiagnosisRequestStatus,
) -> Result<Action, Error> {
    if !finalizer::has(req) {
        return Ok(Action::await_change());
    }
    let (running, finished) = ctx.running.cancel(uid);
    if !running.is_empty() {
        // Cancelled: each ends its session and triggers a reconcile when done.
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    for t in status.targets.iter().filter(|t| t.phase == TargetPhase::SessionOpen && !finished.contains_key(&t.pod)) {
        match ctx.diagnoser.end_session(ns, &t.pod).await {
            Ok(how) => tracing::info!(pod = %t.pod, ended = %how, "request deleted: delve session ended"),
            // dlv gone already (its deadline, a user's exit) or the pod deleted: nothing holds the program.
            Err(e) => tracing::info!(pod = %t.pod, error = %e, "request deleted: no delve session left to end"),
        }
    }
    ctx.running.forget(uid);
    finalizer::remove(requests, req).await?;
    Ok(Action::await_change())
}

/// A terminal request: never collected again; deleted when its TTL has passed.
async fn finished(
    requests: &Api<DiagnosisRequest>,
    req: &DiagnosisRequest,
    status: &DiagnosisRequestStatus,
) -> Result<Action, Error> {
    if finalizer::has(req) {
        // Every session has ended: nothing outside the object is left to clean.
        finalizer::remove(requests, req).await?;
    }
    let (Some(ttl), Some(done)) = (req.spec.ttl_seconds_after_finished, status.completion_time.as_ref()) else {
        return Ok(Action::await_change());
    };
    let expires = done.0.as_second().saturating_add(ttl);
    let left = expires.saturating_sub(jiff::Timestamp::now().as_second());
    if left > 0 {
        return Ok(Action::requeue(Duration::from_secs(u64::try_from(left).unwrap_or(0))));
    }
    match requests.delete(&req.name_any(), &DeleteParams::background()).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a status write landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Applied {
    Written,
    /// The object this reconcile read was older than the stored one (the watch cache lags
    /// godiag's own writes): nothing was written, and the newer object reconciles next.
    Stale,
}

/// Writes the status by server-side apply, on condition that the object is still at
/// `resource_version` (the version this reconcile read): a reconcile of an outdated object from
/// the watch cache must never overwrite what a newer one wrote, e.g. take a pod that just
/// finished for one whose collection was lost and start it again.
pub async fn apply_status(
    requests: &Api<DiagnosisRequest>,
    name: &str,
    resource_version: Option<&str>,
    status: &DiagnosisRequestStatus,
) -> Result<Applied, Error> {
    let mut patch = serde_json::json!({
        "apiVersion": DiagnosisRequest::api_version(&()),
        "kind": DiagnosisRequest::kind(&()),
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    match requests.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await {
        Ok(_) => Ok(Applied::Written),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            tracing::debug!(request = name, "stale object: a newer status is stored; reconciling that one");
            Ok(Applied::Stale)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn publish(
    ctx: &Context,
    req: &DiagnosisRequest,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    publish_to(&ctx.recorder, &req.object_ref(&()), type_, reason, action, &note).await;
}

/// Publishes an Event about any object (requests here, triggers from the receiver): the note
/// clipped and cleaned like every text godiag shows; a failure is only logged.
pub async fn publish_to(
    recorder: &kube::runtime::events::Recorder,
    regarding: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let ev =
        Event { type_, reason: reason.into(), note: Some(clip(note, 1000)), action: action.into(), secondary: None };
    if let Err(e) = recorder.publish(&ev, regarding).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}
