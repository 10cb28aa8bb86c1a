//! The real [`Collector`]: checks the pod through the API server, opens the pprof server by
//! port-forward or pod IP, runs the shared collection pipeline into object storage, and writes the
//! request's `manifest.json`.

use super::analysis::analyze_target;
use super::collector::{Collector, CollectorError, RequestRecord, TargetJob, TargetResult};
use super::select::{check_pod, resolve_port};
use crate::api::{Access, ArtifactStatus, KindFailureStatus, TargetPhase, TargetStatus};
use crate::collect::portforward::PortForwardConnector;
use crate::collect::{CollectPlan, Connector, TargetOutcome, TcpConnector, collect_target};
use crate::metrics::{KindLabel, Metrics, ReasonLabel};
use crate::store::manifest::{ArtifactEntry, FailureEntry, TargetEntry};
use crate::store::{ArtifactFormat, ArtifactStore, Manifest, StoredObject, layout};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct KubeCollector {
    client: Client,
    store: Arc<dyn ArtifactStore>,
    metrics: Arc<Metrics>,
}

impl KubeCollector {
    pub fn new(client: Client, store: Arc<dyn ArtifactStore>, metrics: Arc<Metrics>) -> Self {
        KubeCollector { client, store, metrics }
    }

    async fn collect_pod(&self, job: TargetJob) -> TargetResult {
        let started = Instant::now();
        let result = self.collect_pod_inner(&job).await;
        self.metrics.target_seconds.observe(started.elapsed().as_secs_f64());
        result
    }

    async fn collect_pod_inner(&self, job: &TargetJob) -> TargetResult {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &job.namespace);
        let pod = match pods.get_opt(&job.pod).await {
            Ok(Some(p)) => p,
            Ok(None) => return self.failed("PodNotFound", format!("pod {} no longer exists", job.pod)),
            Err(e) => return self.failed("KubeApiError", format!("cannot read pod {}: {e}", job.pod)),
        };
        let container = match check_pod(&pod, &job.pod, job.container.as_deref()) {
            Ok(c) => c,
            Err((reason, message)) => return self.failed(reason, message),
        };
        if let Some(why) = container_not_running(&pod, &container) {
            return self.failed("ContainerNotRunning", format!("container {container} of pod {} is {why}", job.pod));
        }
        let port = match resolve_port(&pod, &container, &job.pprof) {
            Ok(p) => p,
            Err(e) => return self.failed("PortNotFound", format!("pod {}: {e}", job.pod)),
        };
        let connector: Box<dyn Connector> = match job.pprof.access {
            Access::PortForward => Box::new(PortForwardConnector::new(pods.clone(), &job.pod, port)),
            Access::PodIp => match pod.status.as_ref().and_then(|s| s.pod_ip.clone()) {
                Some(ip) => Box::new(TcpConnector::new(ip, port)),
                None => {
                    return self.failed("NoPodIP", format!("pod {} has no IP yet; use access: PortForward", job.pod));
                }
            },
        };
        let plan = match plan_for(job) {
            Ok(p) => p,
            Err(e) => return self.failed("InvalidDuration", e),
        };
        let dir = layout::target_dir(&job.namespace, &job.request, &job.pod);
        let outcome = collect_target(connector.as_ref(), &plan, self.store.as_ref(), &dir).await;
        for a in &outcome.artifacts {
            self.metrics.artifacts.get_or_create(&KindLabel { kind: a.kind.as_str() }).inc();
            self.metrics.artifact_bytes.get_or_create(&KindLabel { kind: a.kind.as_str() }).inc_by(a.object.bytes);
        }
        let mut result = result_of(&outcome);
        if !outcome.artifacts.is_empty() {
            let analysis = analyze_target(self.store.as_ref(), &dir, &outcome.artifacts).await;
            result.summary = analysis.summary;
            result.reports = analysis.reports;
        }
        if outcome.artifacts.is_empty() && !outcome.failures.is_empty() {
            // Nothing came back: if the pod went away meanwhile, that is the story to tell.
            match pods.get_opt(&job.pod).await {
                Ok(None) => {
                    result = TargetResult::failed(
                        "PodDeleted",
                        format!("pod {} was deleted during collection; nothing was stored for it", job.pod),
                    )
                }
                Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => {
                    result = TargetResult::failed(
                        "PodDeleted",
                        format!("pod {} was being deleted during collection; nothing was stored for it", job.pod),
                    )
                }
                _ => {}
            }
        }
        if let Some(reason) = outcome.failures.first().map(|f| f.error.reason()) {
            self.metrics.target_failures.get_or_create(&ReasonLabel { reason }).inc();
        }
        result
    }

    fn failed(&self, reason: &'static str, message: String) -> TargetResult {
        self.metrics.target_failures.get_or_create(&ReasonLabel { reason }).inc();
        TargetResult::failed(reason, message)
    }

    async fn write_manifest_inner(&self, record: RequestRecord) -> Result<String, CollectorError> {
        let path = layout::manifest_path(&record.namespace, &record.request);
        let uri = self.store.uri(&path);
        let now = jiff::Timestamp::now();
        let mut manifest = Manifest::new(Some(record.namespace.clone()), Some(record.request.clone()), now);
        manifest.targets = record.targets.iter().map(|t| manifest_entry(&record, t)).collect();
        manifest
            .write(self.store.as_ref(), &path)
            .await
            .map(|_| uri.clone())
            .map_err(|e| CollectorError::ManifestWrite { uri, message: e.to_string() })
    }
}

fn container_not_running(pod: &Pod, container: &str) -> Option<String> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?;
    let state = status.state.as_ref()?;
    if state.running.is_some() {
        return None;
    }
    if let Some(w) = &state.waiting {
        return Some(format!("waiting ({})", w.reason.as_deref().unwrap_or("no reason given")));
    }
    if let Some(t) = &state.terminated {
        return Some(format!(
            "terminated ({}, exit code {})",
            t.reason.as_deref().unwrap_or("no reason given"),
            t.exit_code
        ));
    }
    None
}

/// The pipeline's plan for a job; durations were validated by the API server, but an object that
/// predates a schema change could still carry a bad one.
pub fn plan_for(job: &TargetJob) -> Result<CollectPlan, String> {
    let cpu = crate::api::duration::parse(&job.pprof.duration)?;
    let trace = crate::api::duration::parse(&job.pprof.trace_duration)?;
    Ok(CollectPlan::new(job.pprof.profiles.clone(), &job.pprof.path, cpu, trace))
}

/// A pod's result from what the pipeline stored and what failed.
pub fn result_of(outcome: &TargetOutcome) -> TargetResult {
    let artifacts: Vec<ArtifactStatus> = outcome
        .artifacts
        .iter()
        .map(|a| ArtifactStatus {
            kind: a.kind,
            format: a.format.as_str().into(),
            uri: a.object.uri.clone(),
            bytes: i64::try_from(a.object.bytes).unwrap_or(i64::MAX),
            sha256: a.object.sha256.clone(),
            note: a.note.clone(),
        })
        .collect();
    let failures: Vec<KindFailureStatus> = outcome
        .failures
        .iter()
        .map(|f| KindFailureStatus { kind: f.kind, reason: f.error.reason().into(), message: f.error.to_string() })
        .collect();
    let total: i64 = artifacts.iter().map(|a| a.bytes).sum();
    let mut message = format!("stored {} artifact(s), {}", artifacts.len(), human_bytes(total));
    for f in &failures {
        message.push_str(&format!("; {} failed: {}", f.kind, f.message));
    }
    TargetResult {
        phase: if failures.is_empty() { TargetPhase::Succeeded } else { TargetPhase::Failed },
        reason: failures.first().map(|f| f.reason.clone()),
        message: super::status::truncate(message, 1024),
        artifacts,
        failures,
        summary: None,
        reports: vec![],
    }
}

fn human_bytes(n: i64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}

fn format_from(s: &str) -> ArtifactFormat {
    match s {
        "text" => ArtifactFormat::GoroutineText,
        "trace" => ArtifactFormat::Trace,
        _ => ArtifactFormat::Pprof,
    }
}

fn manifest_entry(record: &RequestRecord, t: &TargetStatus) -> TargetEntry {
    let dir = layout::target_dir(&record.namespace, &record.request, &t.pod);
    TargetEntry {
        name: t.pod.clone(),
        source: format!("pod {}/{}", record.namespace, t.pod),
        artifacts: t
            .artifacts
            .iter()
            .map(|a| {
                let format = format_from(&a.format);
                ArtifactEntry {
                    kind: a.kind,
                    format,
                    object: StoredObject {
                        path: layout::artifact_path(&dir, a.kind, format),
                        uri: a.uri.clone(),
                        bytes: u64::try_from(a.bytes).unwrap_or(0),
                        sha256: a.sha256.clone(),
                    },
                    note: a.note.clone(),
                }
            })
            .collect(),
        failures: t
            .failures
            .iter()
            .map(|f| FailureEntry {
                kind: f.kind,
                format: layout::default_format(f.kind),
                reason: f.reason.clone(),
                message: f.message.clone(),
            })
            .collect(),
        error: (t.phase == TargetPhase::Failed && t.failures.is_empty()).then(|| {
            format!("{}: {}", t.reason.as_deref().unwrap_or("Failed"), t.message.as_deref().unwrap_or_default())
        }),
    }
}

impl Collector for KubeCollector {
    fn collect(&self, job: TargetJob) -> BoxFuture<'static, TargetResult> {
        let this = self.clone();
        Box::pin(async move { this.collect_pod(job).await })
    }

    fn write_manifest(&self, record: RequestRecord) -> BoxFuture<'static, Result<String, CollectorError>> {
        let this = self.clone();
        Box::pin(async move { this.write_manifest_inner(record).await })
    }

    fn artifact_root(&self, namespace: &str, request: &str) -> String {
        format!("{}/", self.store.uri(&layout::request_dir(namespace, request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProfileKind;
    use crate::collect::{CollectError, CollectedArtifact, KindFailure};

    fn artifact(kind: ProfileKind, bytes: u64, note: Option<&str>) -> CollectedArtifact {
        CollectedArtifact {
            kind,
            format: layout::default_format(kind),
            object: StoredObject {
                path: format!("shop/r/p/{kind}"),
                uri: format!("s3://b/shop/r/p/{kind}"),
                bytes,
                sha256: "ab".repeat(32),
            },
            note: note.map(Into::into),
        }
    }

    #[test]
    fn every_kind_stored_is_a_succeeded_pod_with_sizes_and_notes() {
        let outcome = TargetOutcome {
            artifacts: vec![
                artifact(ProfileKind::Cpu, 3 << 20, None),
                artifact(ProfileKind::Block, 120, Some("empty: the program never called runtime.SetBlockProfileRate")),
            ],
            failures: vec![],
        };
        let r = result_of(&outcome);
        assert_eq!(r.phase, TargetPhase::Succeeded);
        assert_eq!(r.reason, None);
        assert_eq!(r.message, "stored 2 artifact(s), 3.0 MiB");
        assert_eq!(r.artifacts[0].uri, "s3://b/shop/r/p/cpu");
        assert_eq!(r.artifacts[1].note.as_deref(), Some("empty: the program never called runtime.SetBlockProfileRate"));
    }

    #[test]
    fn a_failed_kind_fails_the_pod_and_says_why() {
        let outcome = TargetOutcome {
            artifacts: vec![artifact(ProfileKind::Heap, 2048, None)],
            failures: vec![KindFailure {
                kind: ProfileKind::Cpu,
                format: ArtifactFormat::Pprof,
                error: CollectError::CpuProfilerBusy { attempts: 5, waited: std::time::Duration::from_secs(31) },
            }],
        };
        let r = result_of(&outcome);
        assert_eq!(r.phase, TargetPhase::Failed);
        assert_eq!(r.reason.as_deref(), Some("CpuProfilerBusy"));
        assert!(r.message.starts_with("stored 1 artifact(s), 2.0 KiB; cpu failed: "), "{}", r.message);
        assert_eq!(r.failures[0].reason, "CpuProfilerBusy");
    }

    #[test]
    fn manifest_entry_keeps_paths_and_pod_level_failures() {
        let record = RequestRecord { namespace: "shop".into(), request: "r".into(), targets: vec![] };
        let mut t = TargetStatus {
            pod: "p".into(),
            container: None,
            phase: TargetPhase::Failed,
            reason: Some("PodDeleted".into()),
            message: Some("pod p was deleted".into()),
            attempts: 1,
            artifacts: vec![],
            failures: vec![],
            summary: None,
            reports: vec![],
        };
        assert_eq!(manifest_entry(&record, &t).error.as_deref(), Some("PodDeleted: pod p was deleted"));
        t.phase = TargetPhase::Succeeded;
        t.artifacts =
            result_of(&TargetOutcome { artifacts: vec![artifact(ProfileKind::Goroutine, 9, None)], failures: vec![] })
                .artifacts;
        let e = manifest_entry(&record, &t);
        assert_eq!(e.error, None);
        assert_eq!(e.artifacts[0].object.path, "shop/r/p/goroutine.pb.gz");
    }
}
