//! The seam between the controller and the world outside the Kubernetes API: diagnosing one pod
//! (collect, store, analyse) and writing the request's manifest. The real implementation
//! ([`ClusterDiagnoser`](super::cluster_diagnoser::ClusterDiagnoser)) talks to pods and object
//! storage; reconcile tests use a scripted one.

use super::target_failure::TargetFailure;
use crate::api::{ArtifactStatus, DelveSpec, KindFailureStatus, PprofSpec, TargetPhase, TargetStatus, TargetSummary};
use futures::future::BoxFuture;

/// One pod to diagnose: what the controller hands the [`Diagnoser`].
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTask {
    pub namespace: String,
    pub request: String,
    /// The request's UID: names the pod's Delve container, so a retry can tell it is there.
    pub request_uid: String,
    pub pod: String,
    pub container: Option<String>,
    /// What pprof collects; `None` when the request asks only for Delve.
    pub pprof: Option<PprofSpec>,
    /// The Delve snapshot to take after pprof, if any.
    pub delve: Option<DelveSpec>,
    /// Read the Go crash from the previous container's log first.
    pub last_crash: bool,
    /// Told what was stored as soon as collection ends, before analysis starts, so that the
    /// status records the artifacts (phase Analyzing) while the summary is computed; and told
    /// when a Delve session opens (phase SessionOpen).
    pub collected: CollectedSink,
    /// Fires when the request is deleted: a Delve session ends itself cleanly (the rest of a
    /// collection is simply dropped).
    pub cancel: CancelSignal,
    /// The start line this pod shares with the request's other pods started with it.
    pub window: crate::collect::WindowGate,
}

/// The request's deletion, as a task sees it.
#[derive(Clone, Default, Debug)]
pub struct CancelSignal(pub tokio_util::sync::CancellationToken);

/// Tasks are compared by what they ask for.
impl PartialEq for CancelSignal {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Where a [`Diagnoser`] reports the stored artifacts before it analyses them.
#[derive(Clone, Default)]
pub struct CollectedSink(Option<std::sync::Arc<dyn Fn(TargetResult) + Send + Sync>>);

impl CollectedSink {
    pub fn new(f: impl Fn(TargetResult) + Send + Sync + 'static) -> Self {
        CollectedSink(Some(std::sync::Arc::new(f)))
    }

    pub fn send(&self, collected: TargetResult) {
        if let Some(f) = &self.0 {
            f(collected);
        }
    }
}

impl std::fmt::Debug for CollectedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "CollectedSink(set)" } else { "CollectedSink(none)" })
    }
}

/// Tasks are compared by what they ask for; where they report to is not part of it.
impl PartialEq for CollectedSink {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// How collecting from one pod ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetResult {
    pub phase: TargetPhase,
    pub reason: Option<String>,
    pub message: String,
    pub artifacts: Vec<ArtifactStatus>,
    pub failures: Vec<KindFailureStatus>,
    pub summary: Option<TargetSummary>,
    pub reports: Vec<String>,
    pub window_start: Option<jiff::Timestamp>,
}

impl TargetResult {
    /// A pod-level failure before anything was collected (pod gone, no such port, …).
    pub fn failed(failure: &TargetFailure) -> Self {
        TargetResult {
            phase: TargetPhase::Failed,
            reason: Some(failure.reason().as_str().into()),
            message: failure.to_string(),
            artifacts: vec![],
            failures: vec![],
            summary: None,
            reports: vec![],
            window_start: None,
        }
    }

    pub fn apply_to(&self, t: &mut TargetStatus) {
        t.phase = self.phase;
        t.reason = self.reason.clone();
        t.message = Some(self.message.clone());
        t.artifacts = self.artifacts.clone();
        t.failures = self.failures.clone();
        t.summary = self.summary.clone();
        t.reports = self.reports.clone();
        t.window_start = self.window_start.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime);
    }
}

/// What the request's `manifest.json` records.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub namespace: String,
    pub request: String,
    pub targets: Vec<TargetStatus>,
    /// The request asked for `spec.baseline`: its targets are compared with their siblings.
    pub baseline: bool,
}

/// What finishing a request produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finished {
    /// Where `manifest.json` is.
    pub manifest: String,
    /// Where `report.html` is, when it could be stored.
    pub report: Option<String>,
    /// With `spec.baseline`: each target's comparison with its siblings, by pod.
    pub baselines: std::collections::BTreeMap<String, BaselineOutcome>,
}

/// Findings a target's status entry holds when it was compared with siblings (the comparison's
/// three at most, and the pod's own five).
pub const MAX_FINDINGS_WITH_BASELINE: usize = 8;

/// One target against its siblings: the bounded summary for its status entry, the findings it
/// adds, and the stored comparison and differential flame graphs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BaselineOutcome {
    pub summary: crate::api::BaselineSummary,
    pub findings: Vec<crate::api::Finding>,
    pub reports: Vec<String>,
}

impl BaselineOutcome {
    /// Records the comparison in a target's status entry: its findings first (they say what is
    /// different about this pod), then the pod's own five (throttling, leaks, …): at most eight.
    pub fn apply_to(&self, t: &mut TargetStatus) {
        let s = t.summary.get_or_insert_with(Default::default);
        s.baseline = Some(self.summary.clone());
        let mut findings = self.findings.clone();
        findings.append(&mut s.findings);
        findings.truncate(MAX_FINDINGS_WITH_BASELINE);
        s.findings = findings;
        for r in &self.reports {
            if !t.reports.contains(r) {
                t.reports.push(r.clone());
            }
        }
    }
}

/// Errors from the outside world that the controller retries (as opposed to per-pod failures,
/// which are results).
#[derive(Debug, thiserror::Error)]
pub enum DiagnoserError {
    #[error("cannot write the manifest to {uri}: {message}")]
    ManifestWrite { uri: String, message: String },
}

impl DiagnoserError {
    pub fn reason(&self) -> &'static str {
        match self {
            DiagnoserError::ManifestWrite { .. } => "StorageWriteFailed",
        }
    }
}

pub trait Diagnoser: Send + Sync + 'static {
    /// Collects and analyses everything the task asks for from one pod. Never fails as a whole:
    /// what went wrong is in the result.
    fn diagnose(&self, task: TargetTask) -> BoxFuture<'static, TargetResult>;
    /// Finishes a request whose pods are all done: compares each target with its siblings
    /// (`spec.baseline`), stores `manifest.json` and `report.html`.
    fn finish(&self, record: RequestRecord) -> BoxFuture<'static, Result<Finished, DiagnoserError>>;
    /// Where a request's artifacts live, for `status.artifactRoot`.
    fn artifact_root(&self, namespace: &str, request: &str) -> String;
    /// Ends a Delve session that no task of this process holds (the request was deleted after
    /// an operator restart): halt only if the program runs, then detach without killing.
    fn end_session(&self, namespace: &str, pod: &str) -> BoxFuture<'static, Result<String, String>>;
}
