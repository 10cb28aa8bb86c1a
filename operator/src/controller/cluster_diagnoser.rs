//! The real [`Diagnoser`]: reads the pod through the API server, checks it
//! ([`prepare_target`]), opens the pprof server by port-forward or pod IP, runs the collection
//! pipeline into object storage, analyses what was stored, and writes the request's
//! `manifest.json`.

use super::analysis::{Analyzer, ArtifactAnalysis, analyse_artifact, is_analysed, summarise};
use super::diagnoser::{Diagnoser, DiagnoserError, Finished, RequestRecord, TargetResult, TargetTask};
use super::last_crash;
use super::pod_check::{PodAccess, PortPolicy, check_pod, prepare_target, running_container};
use super::target_failure::TargetFailure;
use crate::api::status::{FAILURE_MESSAGE_MAX, TARGET_MESSAGE_MAX};
use crate::api::{ArtifactStatus, DelveMode, DelveSpec, KindFailureStatus, PprofSpec, TargetPhase};
use crate::collect::portforward::PortForwardConnector;
use crate::collect::{ByteCaps, CollectedArtifact, Connector, TargetOutcome, TcpConnector, collect_target};
use crate::delve::cluster::{DelveOutcome, DelveRunner, DelveTarget, Probe};
use crate::metrics::{KindLabel, Metrics, ReasonLabel};
use crate::store::{ArtifactStore, layout};
use futures::future::BoxFuture;
use godiag_analyze::text::clip;
use godiag_analyze::{ArtifactKind, units};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use std::sync::Arc;
use std::time::Instant;

/// The debugger image when neither the request nor the operator's configuration names one.
pub const DEFAULT_DELVE_IMAGE: &str = "localhost/dlv:1.27.2";

#[derive(Clone)]
pub struct ClusterDiagnoser {
    client: Client,
    store: Arc<dyn ArtifactStore>,
    metrics: Arc<Metrics>,
    /// The operator's byte caps, applied to every request's plan.
    caps: ByteCaps,
    analyzer: Analyzer,
    /// Which ports a request may make godiag connect to.
    pub port_policy: PortPolicy,
    /// Takes Delve snapshots.
    pub delve: DelveRunner,
}

impl ClusterDiagnoser {
    pub fn new(
        client: Client,
        store: Arc<dyn ArtifactStore>,
        metrics: Arc<Metrics>,
        caps: ByteCaps,
        analyzer: Analyzer,
    ) -> Self {
        let delve = DelveRunner {
            client: client.clone(),
            store: store.clone(),
            image: DEFAULT_DELVE_IMAGE.into(),
            attach_timeout: std::time::Duration::from_secs(60),
        };
        ClusterDiagnoser { client, store, metrics, caps, analyzer, port_policy: PortPolicy::default(), delve }
    }

    async fn diagnose_pod(&self, task: TargetTask) -> TargetResult {
        let started = Instant::now();
        let result = self.collect_and_analyse(&task).await;
        // A pod that failed before its window never holds the request's other pods.
        task.window.release(&task.pod);
        let result = match result {
            Ok(r) => r,
            Err(failure) => {
                self.metrics.target_failures.get_or_create(&ReasonLabel { reason: failure.reason().as_str() }).inc();
                TargetResult::failed(&failure)
            }
        };
        self.metrics.target_seconds.observe(started.elapsed().as_secs_f64());
        result
    }

    /// A pod-level failure is the error; per-artifact failures are part of the result.
    async fn collect_and_analyse(&self, task: &TargetTask) -> Result<TargetResult, TargetFailure> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &task.namespace);
        let pod = pods
            .get_opt(&task.pod)
            .await
            .map_err(|e| TargetFailure::KubeApiError { pod: task.pod.clone(), error: e.to_string() })?
            // It existed when the request selected it: it was deleted since.
            .ok_or_else(|| TargetFailure::PodDeleted { pod: task.pod.clone(), gone: true })?;
        let dir = layout::target_dir(&task.namespace, &task.request, &task.pod);
        let mut outcome = TargetOutcome::default();
        // Artifacts analysed while the collection still ran, by stored path.
        let mut early: Vec<(String, ArtifactAnalysis)> = Vec::new();
        // The previous container's crash first: it costs the pod nothing. Asked for alone, the
        // container may be waiting in CrashLoopBackOff.
        let mut crash = None;
        if task.last_crash {
            let container = if task.pprof.is_none() && task.delve.is_none() {
                check_pod(&pod, &task.pod, task.container.as_deref())?
            } else {
                running_container(&pod, task)?
            };
            crash = Some(last_crash::collect(&pods, &pod, &task.pod, &container, self.store.as_ref(), &dir).await);
        }
        let (container, probe) = match &task.pprof {
            Some(pprof) => {
                let mut target = prepare_target(&pod, task, pprof, self.port_policy)?;
                target.plan.caps = self.caps;
                let connector: Box<dyn Connector> = match target.access {
                    PodAccess::PortForward => Box::new(PortForwardConnector::new(pods.clone(), &task.pod, target.port)),
                    PodAccess::PodIp(ip) => Box::new(TcpConnector::new(ip, target.port)),
                };
                // Each artifact is analysed as soon as it is stored: the snapshots and the trace
                // while the CPU window still runs, so the request ends soon after its window.
                let resources = super::resources::container_resources(&pod, &target.container);
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<CollectedArtifact>();
                let analyse_as_stored = async {
                    let mut done = Vec::new();
                    while let Some(a) = rx.recv().await {
                        if is_analysed(a.kind) {
                            let r = analyse_artifact(&self.analyzer, self.store.as_ref(), &dir, &a, &resources).await;
                            done.push((a.object.path.clone(), r));
                        }
                    }
                    done
                };
                let collect = collect_target(
                    connector.as_ref(),
                    &target.plan,
                    self.store.as_ref(),
                    &dir,
                    &task.window,
                    &task.pod,
                    Some(tx),
                );
                (outcome, early) = tokio::join!(collect, analyse_as_stored);
                (target.container, Some(Probe { port: target.port, path: pprof.path.clone() }))
            }
            None if task.delve.is_none() => (check_pod(&pod, &task.pod, task.container.as_deref())?, None),
            None => {
                let container = running_container(&pod, task)?;
                // The program's declared pprof port, if any, tells whether it answers after Delve.
                let default = PprofSpec::default();
                let probe = prepare_target(&pod, task, &default, PortPolicy::Declared)
                    .ok()
                    .map(|t| Probe { port: t.port, path: default.path.clone() });
                (container, probe)
            }
        };
        match crash {
            Some(Ok(a)) => outcome.artifacts.insert(0, a),
            Some(Err(f)) => outcome.failures.insert(0, f),
            None => {}
        }
        let resources = super::resources::container_resources(&pod, &container);
        for a in &outcome.artifacts {
            let label = KindLabel { kind: a.kind.as_str() };
            self.metrics.artifacts.get_or_create(&label).inc();
            self.metrics.artifact_bytes.get_or_create(&label).inc_by(a.object.bytes);
        }
        // Something failed: if the pod went away meanwhile, that is the story to tell, with what
        // was stored before it went (with nothing stored, `diagnose_pod` counts the failure).
        let (deleted, now) =
            if outcome.failures.is_empty() { (None, None) } else { deleted_meanwhile(&pods, &task.pod).await };
        // Or if the container died meanwhile (OOMKilled, a crash): the failures are its doing.
        let restarted = now.as_ref().and_then(|now| super::pod_check::restarted_meanwhile(&pod, now, &container));
        if let Some(failure) = &deleted
            && outcome.artifacts.is_empty()
        {
            return Err(failure.clone());
        }
        // pprof first: a process stopped by a debugger cannot serve it. A snapshot's artifacts are
        // analysed with pprof's; a session (minutes of it) comes after pprof's analysis.
        let session = task.delve.as_ref().is_some_and(|d| d.mode == DelveMode::Session);
        let pod_gone = deleted.is_some();
        let delve = match (&task.delve, &deleted) {
            (Some(spec), None) if !session => {
                Some(self.run_delve(task, spec, &pods, pod, &container, &dir, probe.clone()).await)
            }
            _ => None,
        };
        // One reason counted per target: the deletion, else the first failed artifact's.
        let counted = deleted
            .as_ref()
            .map(|f| f.reason().as_str())
            .or_else(|| outcome.failures.first().map(|f| f.error.reason()))
            .or_else(|| delve.as_ref().and_then(|d| d.failure.as_ref()).map(|f| f.reason().as_str()));
        if let Some(reason) = counted {
            self.metrics.target_failures.get_or_create(&ReasonLabel { reason }).inc();
        }
        let mut result = result_of(&outcome);
        let unavailable = outcome.unavailable.clone();
        if let Some(d) = &delve {
            add_delve(&mut result, d);
        }
        if let Some(ended) = &restarted {
            result.message = clip(
                &format!(
                    "container {container} restarted during collection ({ended}), which cut it short; {}",
                    result.message
                ),
                TARGET_MESSAGE_MAX,
            );
        }
        if let Some(failure) = deleted {
            result.reason = Some(failure.reason().as_str().into());
            result.message = clip(
                &format!("pod {} was deleted during collection; {}", task.pod, result.message),
                TARGET_MESSAGE_MAX,
            );
        }
        let mut stored = outcome.artifacts;
        stored.extend(delve.iter().flat_map(|d| d.artifacts.iter().cloned()));
        if !stored.is_empty() {
            // The status lists what was stored before analysis starts (phase Analyzing).
            task.collected.send(result.clone());
            let mut done = Vec::new();
            for a in stored.iter().filter(|a| is_analysed(a.kind)) {
                let r = match early.iter().position(|(path, _)| *path == a.object.path) {
                    Some(i) => early.swap_remove(i).1,
                    None => analyse_artifact(&self.analyzer, self.store.as_ref(), &dir, a, &resources).await,
                };
                done.push((a.kind, r));
            }
            let analysis = summarise(self.store.as_ref(), &dir, done, &resources).await;
            for f in &analysis.failures {
                self.metrics.analysis_failures.get_or_create(&ReasonLabel { reason: f.reason() }).inc();
            }
            result.summary = analysis.summary;
            result.reports = analysis.reports;
        }
        let delve = match &task.delve {
            Some(spec) if session && !pod_gone => {
                let pod = pods.get_opt(&task.pod).await.ok().flatten();
                match pod {
                    Some(pod) => {
                        let d = self.run_delve(task, spec, &pods, pod, &container, &dir, probe).await;
                        if let Some(f) = &d.failure {
                            self.metrics
                                .target_failures
                                .get_or_create(&ReasonLabel { reason: f.reason().as_str() })
                                .inc();
                        }
                        add_delve(&mut result, &d);
                        Some(d)
                    }
                    None => return Err(TargetFailure::PodDeleted { pod: task.pod.clone(), gone: true }),
                }
            }
            _ => delve,
        };
        if let Some(d) = delve.and_then(|d| d.summary) {
            result.summary.get_or_insert_with(Default::default).delve = Some(d);
        }
        if !unavailable.is_empty() {
            result.message = clip(
                &format!("{}; {}", result.message, crate::collect::unavailable_note(&unavailable)),
                TARGET_MESSAGE_MAX,
            );
        }
        Ok(result)
    }

    /// The Delve part, on the pod as it is now (pprof took a while, and the list of debugger
    /// containers must be current).
    #[allow(clippy::too_many_arguments)]
    async fn run_delve(
        &self,
        task: &TargetTask,
        spec: &DelveSpec,
        pods: &Api<Pod>,
        pod: Pod,
        container: &str,
        dir: &str,
        probe: Option<Probe>,
    ) -> DelveOutcome {
        let pod = pods.get_opt(&task.pod).await.ok().flatten().unwrap_or(pod);
        let target = DelveTarget {
            namespace: &task.namespace,
            pod: &pod,
            pod_name: &task.pod,
            container,
            request_uid: &task.request_uid,
            dir,
            probe,
            progress: &task.collected,
            cancel: &task.cancel.0,
        };
        self.delve.run(&target, spec).await
    }
}

/// `PodDeleted` when the pod is gone or being deleted now; and the pod as it is now.
async fn deleted_meanwhile(pods: &Api<Pod>, pod: &str) -> (Option<TargetFailure>, Option<Pod>) {
    match pods.get_opt(pod).await {
        Ok(None) => (Some(TargetFailure::PodDeleted { pod: pod.to_string(), gone: true }), None),
        Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => {
            (Some(TargetFailure::PodDeleted { pod: pod.to_string(), gone: false }), Some(p))
        }
        Ok(Some(p)) => (None, Some(p)),
        Err(_) => (None, None),
    }
}

/// A pod's result from what the pipeline stored and what failed.
pub fn result_of(outcome: &TargetOutcome) -> TargetResult {
    let mut result = TargetResult {
        phase: TargetPhase::Succeeded,
        reason: None,
        message: String::new(),
        artifacts: outcome.artifacts.iter().map(artifact_status).collect(),
        failures: outcome
            .failures
            .iter()
            .map(|f| KindFailureStatus {
                kind: f.kind.into(),
                reason: f.error.reason().into(),
                message: clip(&f.error.to_string(), FAILURE_MESSAGE_MAX),
            })
            .collect(),
        summary: None,
        reports: vec![],
        window_start: outcome.window_start,
    };
    settle(&mut result);
    result
}

/// Adds the Delve snapshot's artifacts and failure to a pod's result.
pub fn add_delve(result: &mut TargetResult, delve: &DelveOutcome) {
    result.artifacts.extend(delve.artifacts.iter().map(artifact_status));
    if let Some(f) = &delve.failure {
        result.failures.push(KindFailureStatus {
            kind: if delve.trace {
                crate::api::ArtifactKind::DelveTrace
            } else {
                crate::api::ArtifactKind::DelveSnapshot
            },
            reason: f.reason().as_str().into(),
            message: clip(&f.to_string(), FAILURE_MESSAGE_MAX),
        });
    }
    settle(result);
    if let Some(tr) = delve.summary.as_ref().and_then(|d| d.trace.as_ref()) {
        let resumed = match delve.summary.as_ref().and_then(|d| d.resumed) {
            Some(true) => ", and runs again",
            Some(false) => ", and was found still stopped",
            None => "",
        };
        result.message = clip(
            &format!(
                "{}; Delve traced {} hits in {:.1}s (ended by {}); the program was stopped {:.1} ms in all at hits{resumed}",
                result.message,
                tr.hits,
                tr.window_ms as f64 / 1000.0,
                tr.ended_by,
                tr.stopped_ms
            ),
            TARGET_MESSAGE_MAX,
        );
    } else if let Some(d) = &delve.summary
        && d.goroutines_read > 0
    {
        let resumed = match d.resumed {
            Some(true) => ", and runs again",
            Some(false) => ", and was found still stopped",
            None => "",
        };
        result.message = clip(
            &format!(
                "{}; Delve read {} goroutines while the program was stopped {} ms{resumed}",
                result.message, d.goroutines_read, d.paused_ms
            ),
            TARGET_MESSAGE_MAX,
        );
    }
}

fn artifact_status(a: &CollectedArtifact) -> ArtifactStatus {
    ArtifactStatus {
        kind: a.kind.into(),
        format: a.kind.format().into(),
        uri: a.object.uri.clone(),
        bytes: i64::try_from(a.object.bytes).unwrap_or(i64::MAX),
        sha256: a.object.sha256.clone(),
        note: a.note.clone(),
    }
}

/// Phase, reason and message from the artifacts and failures.
fn settle(r: &mut TargetResult) {
    let total = r.artifacts.iter().fold(0i64, |sum, a| sum.saturating_add(a.bytes));
    let mut parts = Vec::new();
    if !r.artifacts.is_empty() || r.failures.is_empty() {
        parts.push(format!("stored {} artifact(s), {}", r.artifacts.len(), units::bytes(total)));
    }
    for f in &r.failures {
        parts.push(format!("{} failed: {}", ArtifactKind::from(f.kind), f.message));
    }
    r.phase = if r.failures.is_empty() { TargetPhase::Succeeded } else { TargetPhase::Failed };
    r.reason = r.failures.first().map(|f| f.reason.clone());
    r.message = clip(&parts.join("; "), TARGET_MESSAGE_MAX);
}

impl Diagnoser for ClusterDiagnoser {
    fn diagnose(&self, task: TargetTask) -> BoxFuture<'static, TargetResult> {
        let this = self.clone();
        Box::pin(async move { this.diagnose_pod(task).await })
    }

    fn finish(&self, record: RequestRecord) -> BoxFuture<'static, Result<Finished, DiagnoserError>> {
        let this = self.clone();
        Box::pin(async move { super::finish::finish_request(this.store.as_ref(), record).await })
    }

    fn artifact_root(&self, namespace: &str, request: &str) -> String {
        format!("{}/", self.store.uri(&layout::request_dir(namespace, request)))
    }

    fn end_session(&self, namespace: &str, pod: &str) -> BoxFuture<'static, Result<String, String>> {
        let (this, pod) = (self.clone(), pod.to_string());
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        Box::pin(async move { this.delve.end_session(&pods, &pod).await.map(|e| format!("{e:?}")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TargetStatus;
    use crate::collect::{CollectError, KindFailure};
    use crate::controller::finish::manifest_entry;
    use crate::store::StoredObject;

    fn artifact(kind: ArtifactKind, bytes: u64, note: Option<&str>) -> CollectedArtifact {
        CollectedArtifact {
            kind,
            object: StoredObject {
                path: format!("shop/r/p/{kind}"),
                uri: format!("s3://b/shop/r/p/{kind}"),
                bytes,
                sha256: "ab".repeat(32),
                note: None,
            },
            note: note.map(Into::into),
        }
    }

    #[test]
    fn every_kind_stored_is_a_succeeded_pod_with_sizes_and_notes() {
        let outcome = TargetOutcome {
            window_start: None,
            artifacts: vec![
                artifact(ArtifactKind::Cpu, 3 << 20, None),
                artifact(ArtifactKind::Block, 120, Some("empty: the program never called runtime.SetBlockProfileRate")),
            ],
            failures: vec![],
            unavailable: vec![],
        };
        let r = result_of(&outcome);
        assert_eq!(r.phase, TargetPhase::Succeeded);
        assert_eq!(r.reason, None);
        assert_eq!(r.message, "stored 2 artifact(s), 3MB");
        assert_eq!(r.artifacts[0].uri, "s3://b/shop/r/p/cpu");
        assert_eq!(r.artifacts[1].note.as_deref(), Some("empty: the program never called runtime.SetBlockProfileRate"));
    }

    #[test]
    fn a_delve_refusal_is_the_pods_reason_and_a_snapshot_says_what_the_program_paid() {
        use crate::delve::DelveFailure;
        let mut r = result_of(&TargetOutcome::default());
        let refused =
            DelveOutcome { failure: Some(DelveFailure::NotEnabled { namespace: "shop".into() }), ..Default::default() };
        add_delve(&mut r, &refused);
        assert_eq!((r.phase, r.reason.as_deref()), (TargetPhase::Failed, Some("DelveNotEnabled")));
        assert!(r.message.starts_with("delveSnapshot failed: namespace shop has not opted in"), "{}", r.message);
        assert_eq!(r.failures[0].kind, crate::api::ArtifactKind::DelveSnapshot);

        let mut r = result_of(&TargetOutcome {
            window_start: None,
            artifacts: vec![artifact(ArtifactKind::Heap, 2048, None)],
            failures: vec![],
            unavailable: vec![],
        });
        let taken = DelveOutcome {
            trace: false,
            artifacts: vec![
                artifact(ArtifactKind::DelveSnapshot, 4096, None),
                artifact(ArtifactKind::DelveGoroutines, 1024, None),
            ],
            summary: Some(crate::api::DelveSummary {
                goroutines_read: 219,
                paused_ms: 1127,
                resumed: Some(true),
                ..Default::default()
            }),
            failure: None,
        };
        add_delve(&mut r, &taken);
        assert_eq!(r.phase, TargetPhase::Succeeded);
        assert_eq!(
            r.message,
            "stored 3 artifact(s), 7kB; Delve read 219 goroutines while the program was stopped 1127 ms, and runs again"
        );
    }

    #[test]
    fn a_failed_kind_fails_the_pod_and_says_why() {
        let outcome = TargetOutcome {
            window_start: None,
            artifacts: vec![artifact(ArtifactKind::Heap, 2048, None)],
            failures: vec![KindFailure {
                kind: ArtifactKind::Cpu,
                error: CollectError::CpuProfilerBusy { attempts: 5, waited: std::time::Duration::from_secs(31) },
            }],
            unavailable: vec![],
        };
        let r = result_of(&outcome);
        assert_eq!(r.phase, TargetPhase::Failed);
        assert_eq!(r.reason.as_deref(), Some("CpuProfilerBusy"));
        assert!(r.message.starts_with("stored 1 artifact(s), 2kB; cpu failed: "), "{}", r.message);
        assert_eq!(r.failures[0].reason, "CpuProfilerBusy");
    }

    #[test]
    fn manifest_entry_keeps_paths_and_pod_level_failures() {
        let record = RequestRecord { namespace: "shop".into(), request: "r".into(), targets: vec![], baseline: false };
        let mut t = TargetStatus {
            pod: "p".into(),
            role: Default::default(),
            owner: None,
            container: None,
            phase: TargetPhase::Failed,
            reason: Some("PodDeleted".into()),
            message: Some("pod p was deleted".into()),
            attempts: 1,
            artifacts: vec![],
            failures: vec![],
            summary: None,
            reports: vec![],
            window_start: None,
        };
        assert_eq!(manifest_entry(&record, &t).error.as_deref(), Some("PodDeleted: pod p was deleted"));
        t.phase = TargetPhase::Succeeded;
        t.artifacts = result_of(&TargetOutcome {
            window_start: None,
            artifacts: vec![artifact(ArtifactKind::Goroutine, 9, None)],
            failures: vec![],
            unavailable: vec![],
        })
        .artifacts;
        let e = manifest_entry(&record, &t);
        assert_eq!(e.error, None);
        assert_eq!(e.artifacts[0].object.path, "shop/r/p/goroutine.pb.gz");
        t.artifacts = result_of(&TargetOutcome {
            window_start: None,
            artifacts: vec![artifact(ArtifactKind::GoroutineText, 9, None)],
            failures: vec![],
            unavailable: vec![],
        })
        .artifacts;
        let e = manifest_entry(&record, &t);
        assert_eq!(e.artifacts[0].object.path, "shop/r/p/goroutine.txt", "the text dump keeps its own file");
        assert_eq!(e.artifacts[0].format, godiag_analyze::ArtifactFormat::GoroutineText);
    }

    /// The largest trace summary: 5 tracepoints, each with 6 captures of 1000 distinct values
    /// at the longest a value renders.
    fn worst_trace() -> crate::api::DelveSummary {
        use crate::delve::trace::{Captured, Hit, Stop, TraceRecord, TracepointRecord, bounds::EndReason};
        let long = "v".repeat(crate::delve::trace::MAX_VALUE_CHARS);
        let tracepoints: Vec<TracepointRecord> = (0..5)
            .map(|i| TracepointRecord {
                name: format!("t{i}{}", "x".repeat(29)),
                location: "l".repeat(256),
                resolved: "r".repeat(600),
                condition: None,
                capture: (0..6).map(|c| format!("{c}{}", "e".repeat(255))).collect(),
                hits: 0,
            })
            .collect();
        let hits = (0..1000)
            .map(|h| Hit {
                tracepoint: tracepoints[h % 5].name.clone(),
                at_ms: 0,
                goroutine: 1,
                captured: tracepoints[h % 5]
                    .capture
                    .iter()
                    .map(|e| Captured { expression: e.clone(), value: format!("{h}{long}") })
                    .collect(),
                arguments: vec![],
                locals: vec![],
                stack: vec![],
                stop: 0,
            })
            .collect();
        let rec = TraceRecord {
            version: Default::default(),
            tracepoints,
            hits,
            stops: vec![Stop { at_ms: 0, stopped_ms: 1.0, cause: String::new(), end: false }],
            started: String::new(),
            setup_ms: 0,
            window_ms: 0,
            round_trip_ms: 0.0,
            stopped_ms: 0.0,
            longest_stop_ms: 0.0,
            end_ms: 0.0,
            ended_by: EndReason::MaxHits,
            ended: "e".repeat(2000),
            breaking_hit: Some(999),
            dropped_hits: 0,
            detached: true,
        };
        crate::api::DelveSummary {
            trace: Some(crate::delve::trace::summary::summarize(&rec)),
            ..crate::api::DelveSummary::default()
        }
    }

    /// The largest status the code can write: 20 pods (the CRD's `maxPods` cap) with names at
    /// Kubernetes' length limits, every artifact kind both stored and failed with the hostile
    /// 300 KB header of a broken pod in its error, and a full summary. etcd refuses objects
    /// over ~1.5 MiB; the status must stay far under.
    #[test]
    fn the_worst_status_stays_far_under_the_etcd_limit() {
        use crate::api::{DiagnosisRequestStatus, TargetSummary};
        let (ns, req) = ("n".repeat(63), "r".repeat(253));
        let hostile = "x\u{1b}[2J".repeat(300_000 / 5);
        let targets: Vec<TargetStatus> = (0..20)
            .map(|i| {
                let pod = format!("{}{i:02}", "p".repeat(251));
                let dir = layout::target_dir(&ns, &req, &pod);
                let outcome = TargetOutcome {
                    window_start: None,
                    artifacts: ArtifactKind::ALL
                        .iter()
                        .map(|&kind| CollectedArtifact {
                            kind,
                            object: StoredObject {
                                path: layout::artifact_path(&dir, kind),
                                uri: format!(
                                    "s3://{}/{}/{}",
                                    "b".repeat(63),
                                    "prefix/".repeat(20),
                                    layout::artifact_path(&dir, kind)
                                ),
                                bytes: u64::MAX,
                                sha256: "ab".repeat(32),
                                note: None,
                            },
                            note: Some(quirks_note().into()),
                        })
                        .collect(),
                    failures: ArtifactKind::ALL
                        .iter()
                        .map(|&kind| KindFailure {
                            kind,
                            error: CollectError::UnexpectedBody {
                                target: pod.clone(),
                                path: hostile.clone(),
                                expected: "a gzip-compressed pprof profile",
                                content_type: hostile.clone(),
                                snippet: hostile.clone(),
                            },
                        })
                        .collect(),
                    unavailable: vec![],
                };
                let mut result = result_of(&outcome);
                result.summary = Some(TargetSummary {
                    notes: vec!["s".repeat(2000)],
                    delve: Some(worst_trace()),
                    ..TargetSummary::default()
                });
                result.reports = (0..6).map(|_| format!("s3://{}/{}", "b".repeat(63), "r".repeat(600))).collect();
                let mut t = TargetStatus {
                    pod,
                    role: Default::default(),
                    owner: None,
                    container: Some("c".repeat(63)),
                    phase: TargetPhase::Pending,
                    reason: None,
                    message: None,
                    attempts: 2,
                    artifacts: vec![],
                    failures: vec![],
                    summary: None,
                    reports: vec![],
                    window_start: None,
                };
                result.apply_to(&mut t);
                t
            })
            .collect();
        let status = DiagnosisRequestStatus { targets, ..DiagnosisRequestStatus::default() };
        let json = serde_json::to_string(&status).unwrap();
        // 15 artifact kinds, each both stored and failed, and the largest trace summary, on 20
        // pods: ~780 KiB, half of etcd's limit (a real pod has at most one of a snapshot and a
        // trace).
        assert!(json.len() < 800 << 10, "worst status is {} bytes", json.len());
        assert!(!json.contains('\u{1b}'), "no terminal escapes reach the status");
        eprintln!("worst status: {} KiB", json.len() >> 10);
    }

    fn quirks_note() -> &'static str {
        crate::collect::quirks::empty_profile_note(ArtifactKind::Block).unwrap()
    }
}
