//! The Delve snapshot of one pod on the cluster: check the namespace's opt-in, add the debugger
//! container (strategic merge on `pods/ephemeralcontainers`, never twice for one request), wait
//! for dlv to listen, take the snapshot through the API server's port-forward, store it, and
//! read the wrapper's outcome (the target runs again) from the container's termination message.

use super::container::{
    DLV_PORT, Privilege, WrapperArgs, choose_privilege, container_name, ephemeral_container, existing, target_identity,
};
use super::failure::DelveFailure;
use super::rpc::DelveClient;
use super::snapshot::{self, Partial, Snapshot, SnapshotError, SnapshotPlan};
use super::trace::bounds::EndReason;
use super::trace::{self, TraceError, TracePlan, TraceRecord, TracepointPlan};
use super::types::LoadConfig;
use super::{psa, render, session, summary};
use crate::api::delve::{
    DELVE_OPT_IN_LABEL, DELVE_OPT_IN_VALUE, MAX_PAUSE_CAP_SECS, MAX_SESSION_TTL_SECS, MAX_STOP_BUDGET_MS,
    MAX_TRACE_HITS, MAX_TRACE_WINDOW_SECS,
};
use crate::api::{DelveMode, DelveSession, DelveSpec, DelveSummary, LoadLimits, TargetPhase, TargetSummary};
use crate::collect::portforward::PortForwardConnector;
use crate::collect::{BoxedIo, CollectError, CollectedArtifact, Connector};
use crate::controller::diagnoser::{CollectedSink, TargetResult};
use crate::store::{ArtifactStore, layout};
use bytes::Bytes;
use godiag_analyze::ArtifactKind;
use k8s_openapi::api::core::v1::{ContainerState, Namespace, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How long one Delve call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the pod is read while waiting for the debugger container.
const POLL: Duration = Duration::from_millis(500);
/// How long the wrapper may take to finish after the snapshot.
const FINISH_WAIT: Duration = Duration::from_secs(30);

/// Runs Delve snapshots on the cluster.
#[derive(Clone)]
pub struct DelveRunner {
    pub client: Client,
    pub store: Arc<dyn ArtifactStore>,
    /// The debugger image when the request names none.
    pub image: String,
    /// How long the debugger container may take to start and dlv to attach and listen (image
    /// pull, loading the binary's debug info).
    pub attach_timeout: Duration,
}

/// What the snapshot of one pod yielded: stored artifacts, the summary, and the failure, if
/// any (artifacts can be stored and still a failure reported, e.g. a partial snapshot).
#[derive(Debug, Default)]
pub struct DelveOutcome {
    /// The request traced (mode Trace) rather than snapshotted.
    pub trace: bool,
    pub artifacts: Vec<CollectedArtifact>,
    pub summary: Option<DelveSummary>,
    pub failure: Option<DelveFailure>,
}

/// The wrapper's termination message.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WrapperOutcome {
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub dlv_exit: i64,
    #[serde(default)]
    pub dlv_ran_ms: u64,
    #[serde(default)]
    pub deadline_hit: bool,
    #[serde(default)]
    pub target_state: String,
    #[serde(default)]
    pub resumed: bool,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub dlv_output: String,
}

/// Where the program's HTTP server can be asked whether it answers again.
#[derive(Debug, Clone)]
pub struct Probe {
    pub port: u16,
    pub path: String,
}

/// The request's snapshot options as the client's plan.
pub fn plan_of(spec: &DelveSpec) -> Result<SnapshotPlan, String> {
    let s = &spec.snapshot;
    let max_pause = crate::api::duration::parse(&s.max_pause)?.min(Duration::from_secs(MAX_PAUSE_CAP_SECS));
    let l = &s.load_limits;
    Ok(SnapshotPlan {
        max_goroutines: usize::try_from(s.max_goroutines.clamp(1, 100_000)).unwrap_or(1),
        stack_depth: i64::from(s.stack_depth.clamp(1, 256)),
        locals: s.locals,
        load: load_config(l),
        max_pause,
        max_bytes: snapshot::MAX_SNAPSHOT_BYTES,
    })
}

/// A request's `loadLimits` as Delve's `LoadConfig`, clamped to the schema's ranges.
pub fn load_config(l: &LoadLimits) -> LoadConfig {
    LoadConfig {
        follow_pointers: true,
        max_variable_recurse: i64::from(l.max_variable_recurse.clamp(0, 5)),
        max_string_len: i64::from(l.max_string_len.clamp(0, 4096)),
        max_array_values: i64::from(l.max_array_values.clamp(0, 256)),
        max_struct_fields: i64::from(l.max_struct_fields.clamp(0, 256)),
    }
}

/// The request's tracepoints and trace bounds as the loop's plan.
pub fn trace_plan_of(spec: &DelveSpec) -> Result<TracePlan, String> {
    let t = &spec.trace;
    let window = crate::api::duration::parse(&t.window)?.min(Duration::from_secs(MAX_TRACE_WINDOW_SECS));
    let stop_budget = crate::api::duration::parse(&t.stop_budget)?.min(Duration::from_millis(MAX_STOP_BUDGET_MS));
    let l = &t.load_limits;
    Ok(TracePlan {
        tracepoints: spec
            .tracepoints
            .iter()
            .enumerate()
            .map(|(i, tp)| TracepointPlan {
                name: tp.name.clone().unwrap_or_else(|| format!("tp{}", i + 1)),
                location: tp.location.clone(),
                condition: tp.condition.clone(),
                capture: tp.capture.iter().map(|e| e.0.clone()).collect(),
                arguments: tp.arguments,
                locals: tp.locals,
                stack_depth: i64::from(tp.stack_depth.clamp(0, 50)),
                max_hits: tp.max_hits.map(|m| usize::try_from(m.clamp(1, MAX_TRACE_HITS)).unwrap_or(1)),
            })
            .collect(),
        window,
        max_hits: usize::try_from(t.max_hits.clamp(1, MAX_TRACE_HITS)).unwrap_or(1),
        stop_budget,
        load: load_config(l),
        max_bytes: trace::MAX_TRACE_BYTES,
    })
}

/// The pod-side facts the runner needs.
pub struct DelveTarget<'a> {
    pub namespace: &'a str,
    pub pod: &'a Pod,
    pub pod_name: &'a str,
    pub container: &'a str,
    pub request_uid: &'a str,
    pub dir: &'a str,
    pub probe: Option<Probe>,
    /// Where an open session is announced (phase SessionOpen).
    pub progress: &'a CollectedSink,
    /// The request's deletion: a session ends early.
    pub cancel: &'a CancellationToken,
}

impl DelveRunner {
    pub async fn run(&self, t: &DelveTarget<'_>, spec: &DelveSpec) -> DelveOutcome {
        let mut out = DelveOutcome { trace: spec.mode == DelveMode::Trace, ..DelveOutcome::default() };
        if let Err(f) = self.run_inner(t, spec, &mut out).await {
            tracing::info!(pod = %t.pod_name, reason = f.reason().as_str(), error = %f, "delve snapshot failed");
            out.failure = Some(f);
        }
        out
    }

    async fn run_inner(
        &self,
        t: &DelveTarget<'_>,
        spec: &DelveSpec,
        out: &mut DelveOutcome,
    ) -> Result<(), DelveFailure> {
        let kube_err = |e: kube::Error| DelveFailure::KubeApiError { detail: e.to_string() };
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns = namespaces.get(t.namespace).await.map_err(kube_err)?;
        let labels = ns.metadata.labels.unwrap_or_default();
        if labels.get(DELVE_OPT_IN_LABEL).map(String::as_str) != Some(DELVE_OPT_IN_VALUE) {
            return Err(DelveFailure::NotEnabled { namespace: t.namespace.into() });
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), t.namespace);
        let name = container_name(t.request_uid);
        let plan = plan_of(spec).map_err(|e| DelveFailure::ProtocolError { detail: e })?;
        let session = spec.mode == DelveMode::Session;
        let ttl = crate::api::duration::parse(&spec.session.ttl)
            .map_err(|e| DelveFailure::ProtocolError { detail: e })?
            .min(Duration::from_secs(MAX_SESSION_TTL_SECS));
        let traced = match spec.mode {
            DelveMode::Trace => Some(trace_plan_of(spec).map_err(|e| DelveFailure::ProtocolError { detail: e })?),
            _ => None,
        };
        // The backstop: whatever godiag does, dlv is stopped (and detaches) after this.
        let attached_for = match &traced {
            _ if session => ttl,
            Some(p) => p.window + p.stop_budget + Duration::from_secs(10),
            None => plan.max_pause,
        };
        let deadline = self.attach_timeout + attached_for + Duration::from_secs(15);
        if existing(t.pod, &name).is_some() {
            return Err(self.interrupted(&pods, t.pod_name, name, session, deadline).await);
        }
        let privilege = choose_privilege(spec.privilege, &labels);
        let image = spec.image.clone().unwrap_or_else(|| self.image.clone());
        let args = WrapperArgs { process: spec.process.clone(), deadline_secs: deadline.as_secs(), session };
        let ec = ephemeral_container(&name, &image, t.container, privilege, target_identity(t.pod, t.container), &args)
            .map_err(|e| DelveFailure::IdentityUnknown(e.to_string()))?;
        let patch = serde_json::json!({ "spec": { "ephemeralContainers": [ec] } });
        if let Err(e) =
            pods.patch_ephemeral_containers(t.pod_name, &PatchParams::default(), &Patch::Strategic(&patch)).await
        {
            return Err(patch_failure(e, t.namespace, privilege));
        }
        tracing::info!(pod = %t.pod_name, container = %name, privilege = privilege.as_str(), "debugger container added");
        let mut summary =
            DelveSummary { container: name.clone(), privilege: privilege.as_str().into(), ..DelveSummary::default() };
        let io = self.wait_for_dlv(&pods, t.pod_name, &name, &image).await;
        let io = match io {
            Ok(io) => io,
            Err(f) => {
                out.summary = Some(summary);
                return Err(f);
            }
        };
        let mut client = DelveClient::new(io, RPC_TIMEOUT);
        if session {
            return self.hold_session(t, &pods, client, ttl, summary, out).await;
        }
        if let Some(p) = &traced {
            return self.run_trace(t, &pods, client, p, summary, out).await;
        }
        let taken = snapshot::take(&mut client, &plan).await;
        // Closing the only connection makes dlv (not multiclient) exit: it detaches without
        // killing if the detach did not already happen.
        drop(client);
        if let Ok(snap) = &taken {
            summary = summary::summarize(snap, &name, privilege.as_str());
            self.store_snapshot(t.dir, snap, out).await;
        }
        let_go(&pods, t, summary, out).await?;
        let snap = taken.map_err(|e| match e {
            SnapshotError::GoVersionUnsupported { .. } => DelveFailure::GoVersionUnsupported(e.to_string()),
            SnapshotError::TargetExited { .. } => DelveFailure::TargetExited { detail: e.to_string() },
            SnapshotError::NoDebugInfo { message } => DelveFailure::NoDebugInfo { message },
            SnapshotError::TargetRunning => DelveFailure::ProtocolError { detail: e.to_string() },
            SnapshotError::Rpc(r) => DelveFailure::ProtocolError { detail: r.to_string() },
        })?;
        if snap.partial == Some(Partial::MaxPause) {
            return Err(DelveFailure::MaxPauseReached {
                max_pause: spec.snapshot.max_pause.clone(),
                read: snap.goroutines.len(),
            });
        }
        Ok(())
    }

    /// Checks the session's dlv, announces it, waits for the TTL or the request's deletion, then
    /// ends it: halt only if the program runs, detach without killing.
    async fn hold_session(
        &self,
        t: &DelveTarget<'_>,
        pods: &Api<Pod>,
        mut client: DelveClient<BoxedIo>,
        ttl: Duration,
        mut summary: DelveSummary,
        out: &mut DelveOutcome,
    ) -> Result<(), DelveFailure> {
        let rpc = |e: super::rpc::RpcError| DelveFailure::ProtocolError { detail: e.to_string() };
        let version = client.get_version().await.map_err(rpc)?;
        summary.versions = summary::versions(&version);
        // Delve reports the target's Go version only while it is stopped; with --continue it
        // usually runs already, and then a stripped binary shows only to the user's client.
        let running = client.state().await.map_err(rpc)?.state.is_some_and(|s| s.running);
        let refusal = if version.target_go_version.is_empty() && !running {
            Some(DelveFailure::NoDebugInfo { message: "Delve found no Go version in the binary's debug info".into() })
        } else if version.target_go_version.is_empty() {
            None
        } else {
            snapshot::unsupported(&version).map(|e| DelveFailure::GoVersionUnsupported(e.to_string()))
        };
        if let Some(f) = refusal {
            // Nothing to debug: let go at once.
            let _ = session::end_session(&mut client).await;
            out.summary = Some(summary);
            return Err(f);
        }
        drop(client);
        let until = jiff::Timestamp::now() + jiff::SignedDuration::try_from(ttl).unwrap_or_default();
        let ns = t.namespace;
        summary.session = Some(DelveSession {
            port_forward: format!("kubectl port-forward -n {ns} pod/{} {DLV_PORT}:{DLV_PORT}", t.pod_name),
            connect: format!("dlv connect 127.0.0.1:{DLV_PORT}"),
            deadline: until.to_string(),
            warning: "Delve's API runs code in the program: anyone who can port-forward to this pod can use it until the deadline. Leave with `exit -c` (the program runs on); a plain `exit` answered n leaves it stopped until godiag detaches, answered y kills it.".into(),
        });
        let open = TargetResult {
            phase: TargetPhase::SessionOpen,
            reason: None,
            message: format!(
                "Delve session open until {until}: run `kubectl port-forward -n {ns} pod/{} {DLV_PORT}:{DLV_PORT}`, then `dlv connect 127.0.0.1:{DLV_PORT}`",
                t.pod_name
            ),
            artifacts: vec![],
            failures: vec![],
            summary: Some(TargetSummary { delve: Some(summary.clone()), ..TargetSummary::default() }),
            reports: vec![],
            window_start: None,
        };
        t.progress.send(open);
        tracing::info!(pod = %t.pod_name, %until, "delve session open");
        let deleted = tokio::select! {
            () = tokio::time::sleep(ttl) => false,
            () = t.cancel.cancelled() => true,
        };
        let ended = self.end_session(pods, t.pod_name).await;
        tracing::info!(pod = %t.pod_name, deleted, ended = ?ended, "delve session ended");
        let finished = let_go(pods, t, summary, out).await?;
        // godiag could not reach dlv at the end, but the wrapper saw the program running: dlv
        // was stopped by its deadline (or a user's `exit`), which detaches.
        match (ended, &finished) {
            (Err(e), None) => Err(DelveFailure::ProtocolError {
                detail: format!("{e}; the debugger container's deadline detaches dlv"),
            }),
            _ => Ok(()),
        }
    }

    /// Runs the trace, stores its hits, and reads how dlv let go.
    async fn run_trace(
        &self,
        t: &DelveTarget<'_>,
        pods: &Api<Pod>,
        mut client: DelveClient<BoxedIo>,
        plan: &TracePlan,
        mut summary: DelveSummary,
        out: &mut DelveOutcome,
    ) -> Result<(), DelveFailure> {
        let traced = trace::run::trace(&mut client, plan, t.cancel).await;
        // Closing the only connection makes dlv (not multiclient) exit: it detaches without
        // killing if the detach did not already happen.
        drop(client);
        if let Ok(rec) = &traced {
            summary.versions = summary::versions(&rec.version);
            summary.paused_ms = rec.setup_ms.saturating_add(rec.stopped_ms.ceil() as u64);
            summary.trace = Some(trace::summary::summarize(rec));
            self.store_trace(t.dir, rec, out).await;
        }
        let_go(pods, t, summary, out).await?;
        let rec = traced.map_err(|e| match e {
            TraceError::GoVersionUnsupported { .. } => DelveFailure::GoVersionUnsupported(e.to_string()),
            TraceError::TargetExited { .. } => DelveFailure::TargetExited { detail: e.to_string() },
            TraceError::NoDebugInfo => DelveFailure::NoDebugInfo { message: e.to_string() },
            TraceError::LocationNotFound { .. } => DelveFailure::LocationNotFound(e.to_string()),
            TraceError::ConditionInvalid { .. } => DelveFailure::ConditionInvalid(e.to_string()),
            TraceError::TracepointRefused { .. } => DelveFailure::TracepointRefused(e.to_string()),
            TraceError::TargetRunning | TraceError::Rpc(_) => DelveFailure::ProtocolError { detail: e.to_string() },
        })?;
        match rec.ended_by {
            EndReason::ConditionFailed => {
                Err(DelveFailure::ConditionFailed { hits: rec.hits.len(), detail: rec.ended.clone() })
            }
            EndReason::TargetExited => Err(DelveFailure::TargetExited { detail: rec.ended.clone() }),
            _ => Ok(()),
        }
    }

    /// Stores the hits as JSON and as text.
    async fn store_trace(&self, dir: &str, rec: &TraceRecord, out: &mut DelveOutcome) {
        let json = serde_json::to_vec(rec).unwrap_or_default();
        let text = trace::render::text(rec).into_bytes();
        for (kind, bytes) in [(ArtifactKind::DelveTrace, json), (ArtifactKind::DelveTraceText, text)] {
            match self.store.put_bytes(&layout::artifact_path(dir, kind), Bytes::from(bytes)).await {
                Ok(object) => out.artifacts.push(CollectedArtifact { kind, object, note: None }),
                Err(e) => {
                    out.failure.get_or_insert(DelveFailure::StorageFailed { detail: e.to_string() });
                }
            }
        }
    }

    /// The debugger container is already in the pod: the operator that added it stopped. The
    /// connection it held may not be seen as dropped for a while, and a snapshot's dlv keeps the
    /// program stopped until then, so wait (at most until the wrapper's deadline) for the container
    /// to end and say how it left the program. A session's dlv serves other clients: end it.
    async fn interrupted(
        &self,
        pods: &Api<Pod>,
        pod: &str,
        container: String,
        session: bool,
        deadline: Duration,
    ) -> DelveFailure {
        let wait = if session {
            if let Err(e) = self.end_session(pods, pod).await {
                tracing::info!(pod = %pod, error = %e, "interrupted delve session: none left to end");
            }
            FINISH_WAIT
        } else {
            deadline + Duration::from_secs(10)
        };
        let outcome = match wait_finished(pods, pod, &container, wait).await {
            Some(o) if o.resumed => format!(" Its wrapper found the program {} after dlv let go.", o.target_state),
            Some(o) => format!(" Its wrapper found the program in state {:?}; send it SIGCONT.", o.target_state),
            None => format!(" The debugger container had not ended after {}s.", wait.as_secs()),
        };
        DelveFailure::Interrupted { container, outcome }
    }

    /// Connects to the session's dlv and ends it safely.
    pub async fn end_session(&self, pods: &Api<Pod>, pod: &str) -> Result<session::Ended, String> {
        let connector = PortForwardConnector::new(pods.clone(), pod, DLV_PORT);
        let io = connector.connect().await.map_err(|e| e.to_string())?;
        let mut client = DelveClient::new(io, RPC_TIMEOUT);
        session::end_session(&mut client).await.map_err(|e| e.to_string())
    }

    /// Stores the raw answers and the `debug=2`-style rendering.
    async fn store_snapshot(&self, dir: &str, snap: &Snapshot, out: &mut DelveOutcome) {
        let json = serde_json::to_vec(snap).unwrap_or_default();
        let text = render::dump(snap).into_bytes();
        for (kind, bytes) in [(ArtifactKind::DelveSnapshot, json), (ArtifactKind::DelveGoroutines, text)] {
            match self.store.put_bytes(&layout::artifact_path(dir, kind), Bytes::from(bytes)).await {
                Ok(object) => out.artifacts.push(CollectedArtifact { kind, object, note: None }),
                Err(e) => {
                    out.failure.get_or_insert(DelveFailure::StorageFailed { detail: e.to_string() });
                }
            }
        }
    }

    /// Waits until the debugger container runs and dlv answers on its port, or says why not.
    async fn wait_for_dlv(&self, pods: &Api<Pod>, pod: &str, name: &str, image: &str) -> Result<BoxedIo, DelveFailure> {
        let started = Instant::now();
        let connector = PortForwardConnector::new(pods.clone(), pod, DLV_PORT);
        let mut last = String::from("the debugger container has not started");
        while started.elapsed() < self.attach_timeout {
            let p = pods.get(pod).await.map_err(|e| DelveFailure::KubeApiError { detail: e.to_string() })?;
            match container_state(&p, name) {
                Some(ContainerState { terminated: Some(_), .. }) => {
                    let o = terminated_outcome(&p, name).unwrap_or_default();
                    return Err(exit_failure(&o));
                }
                Some(ContainerState { waiting: Some(w), .. }) => {
                    let reason = w.reason.unwrap_or_default();
                    if matches!(
                        reason.as_str(),
                        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName"
                    ) {
                        return Err(DelveFailure::ImagePullFailed {
                            image: image.into(),
                            detail: format!("{reason}: {}", w.message.unwrap_or_default()),
                        });
                    }
                    last = format!("the debugger container is waiting ({reason})");
                }
                Some(ContainerState { running: Some(_), .. }) => match connector.connect().await {
                    Ok(io) => return Ok(io),
                    Err(CollectError::ConnectionRefused { .. }) => last = "dlv is not listening yet".into(),
                    Err(e) => last = e.to_string(),
                },
                _ => {}
            }
            tokio::time::sleep(POLL).await;
        }
        Err(DelveFailure::TimedOut { waited_s: self.attach_timeout.as_secs(), detail: last })
    }
}

/// Once dlv has let go (detached, or its connection dropped): the wrapper's outcome and whether
/// the program answers again go into the summary; a program still stopped is the failure.
async fn let_go(
    pods: &Api<Pod>,
    t: &DelveTarget<'_>,
    mut summary: DelveSummary,
    out: &mut DelveOutcome,
) -> Result<Option<WrapperOutcome>, DelveFailure> {
    let finished = wait_finished(pods, t.pod_name, &summary.container, FINISH_WAIT).await;
    if let Some(o) = &finished {
        summary.dlv_ran_ms = Some(o.dlv_ran_ms);
        summary.resumed = Some(o.resumed);
    }
    if let Some(p) = &t.probe {
        summary.responded =
            Some(http_probe(&PortForwardConnector::new(pods.clone(), t.pod_name, p.port), &p.path).await);
    }
    out.summary = Some(summary);
    if let Some(o) = finished.as_ref().filter(|o| !o.resumed && o.target_state != "exited") {
        return Err(DelveFailure::TargetNotResumed {
            detail: format!("state {:?} after SIGCONT; send it SIGCONT (kill -CONT {})", o.target_state, o.pid),
        });
    }
    Ok(finished)
}

fn patch_failure(e: kube::Error, namespace: &str, privilege: Privilege) -> DelveFailure {
    let kube::Error::Api(status) = &e else { return DelveFailure::PatchFailed { detail: e.to_string() } };
    if status.code == 404 {
        return DelveFailure::EphemeralContainersUnavailable { detail: status.message.clone() };
    }
    match psa::parse(&status.message) {
        Some(r) => {
            let advice = match (r.level_name(), privilege) {
                (_, Privilege::SysPtrace) => "Use privilege: SameUser (admissible under restricted), or label the namespace pod-security.kubernetes.io/enforce=privileged".to_string(),
                _ if r.violations.contains("must not include") || r.violations.contains("runAsNonRoot") => {
                    "The pod itself violates this level (Pod Security checks the whole pod when a container is added): fix the pod, or relax the namespace's level".to_string()
                }
                _ => "Relax the namespace's level, or fix the pod so that it meets the level".to_string(),
            };
            DelveFailure::PodSecurityRejected {
                namespace: namespace.into(),
                level: r.level.clone(),
                profile: privilege.as_str(),
                violations: r.violations,
                advice,
            }
        }
        None => DelveFailure::PatchFailed { detail: status.message.clone() },
    }
}

fn container_state(pod: &Pod, name: &str) -> Option<ContainerState> {
    pod.status.as_ref()?.ephemeral_container_statuses.as_ref()?.iter().find(|s| s.name == name)?.state.clone()
}

/// The wrapper's outcome, once the debugger container has terminated.
pub fn terminated_outcome(pod: &Pod, name: &str) -> Option<WrapperOutcome> {
    let t = container_state(pod, name)?.terminated?;
    let message = t.message.unwrap_or_default();
    let mut o: WrapperOutcome = serde_json::from_str(message.trim()).unwrap_or_else(|_| WrapperOutcome {
        error: godiag_analyze::text::clip(&message, 400),
        ..WrapperOutcome::default()
    });
    if o.dlv_exit == 0 && t.exit_code != 0 && o.error.is_empty() && o.dlv_output.is_empty() {
        o.error = format!("the debugger container exited with code {} ({})", t.exit_code, t.reason.unwrap_or_default());
    }
    Some(o)
}

/// Why dlv ended before godiag could talk to it.
pub fn exit_failure(o: &WrapperOutcome) -> DelveFailure {
    if !o.error.is_empty() && o.dlv_output.is_empty() {
        return DelveFailure::AttachRefused { message: o.error.clone() };
    }
    DelveFailure::from_dlv_output(&o.dlv_output)
}

async fn wait_finished(pods: &Api<Pod>, pod: &str, name: &str, wait: Duration) -> Option<WrapperOutcome> {
    let started = Instant::now();
    while started.elapsed() < wait {
        if let Ok(p) = pods.get(pod).await
            && let Some(o) = terminated_outcome(&p, name)
        {
            return Some(o);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// True when the program's HTTP server answers a request within a few seconds.
pub async fn http_probe(connector: &dyn Connector, path: &str) -> bool {
    let probe = async {
        let mut io = connector.connect().await.ok()?;
        let req =
            format!("GET {}/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path.trim_end_matches('/'));
        io.write_all(req.as_bytes()).await.ok()?;
        let mut head = [0u8; 5];
        io.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/")
    };
    tokio::time::timeout(Duration::from_secs(5), probe).await.ok().flatten().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, PodStatus};

    fn terminated(message: &str, exit_code: i32) -> Pod {
        Pod {
            status: Some(PodStatus {
                ephemeral_container_statuses: Some(vec![ContainerStatus {
                    name: "godiag-dlv-1".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code,
                            message: Some(message.into()),
                            reason: Some("Error".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_wrapper_outcome_is_read_from_the_termination_message() {
        let pod = terminated(
            r#"{"pid":1,"dlvExit":1,"dlvRanMs":80,"deadlineHit":false,"targetState":"S (sleeping)","resumed":true,"dlvOutput":"could not attach to pid 1: could not open debug info - debuggee must not be built with 'go run' or -ldflags='-s -w', which strip debug info\n"}"#,
            1,
        );
        let o = terminated_outcome(&pod, "godiag-dlv-1").unwrap();
        assert!(o.resumed);
        assert_eq!(exit_failure(&o).reason().as_str(), "NoDebugInfo");
        let garbage = terminated("not json", 2);
        let o = terminated_outcome(&garbage, "godiag-dlv-1").unwrap();
        assert_eq!(exit_failure(&o).reason().as_str(), "DelveAttachRefused");
        assert!(exit_failure(&o).to_string().contains("not json"));
        assert_eq!(terminated_outcome(&garbage, "other"), None);
    }

    #[test]
    fn plan_clamps_max_pause_to_the_cap() {
        let mut spec = DelveSpec {
            mode: Default::default(),
            snapshot: Default::default(),
            session: Default::default(),
            tracepoints: vec![],
            trace: Default::default(),
            privilege: Default::default(),
            image: None,
            process: None,
        };
        assert_eq!(plan_of(&spec).unwrap().max_pause, Duration::from_secs(5));
        spec.snapshot.max_pause = "10m".into();
        assert_eq!(plan_of(&spec).unwrap().max_pause, Duration::from_secs(30));
        assert!(!plan_of(&spec).unwrap().locals);
    }

    #[test]
    fn a_pod_security_refusal_of_sys_ptrace_says_what_to_change() {
        let status = kube::core::Status::failure(
            r#"pods "p" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "godiag-dlv-1" must not include "SYS_PTRACE" in securityContext.capabilities.add)"#,
            "Forbidden",
        )
        .with_code(403);
        let f = patch_failure(kube::Error::Api(Box::new(status)), "shop", Privilege::SysPtrace);
        assert_eq!(f.reason().as_str(), "PodSecurityRejected");
        let m = f.to_string();
        assert!(
            m.contains("Pod Security level baseline:latest of namespace shop refuses the SysPtrace debugger container"),
            "{m}"
        );
        assert!(m.contains("Use privilege: SameUser"), "{m}");
    }
}
