//! Test support for reconcile scenarios: a fake Kubernetes API server on a `tower_test` mock
//! transport (it answers the calls the controller makes and records them), and a scripted
//! `Diagnoser`.
#![allow(dead_code, clippy::unwrap_used)]

use futures::future::BoxFuture;
use godiag::api::{
    ArtifactFormat, ArtifactKind, ArtifactStatus, DiagnosisRequest, DiagnosisRequestStatus, TargetPhase,
};
use godiag::controller::Context;
use godiag::controller::diagnoser::{Diagnoser, DiagnoserError, Finished, RequestRecord, TargetResult, TargetTask};
use godiag::controller::target_failure::TargetFailure;
use godiag::metrics::Metrics;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What the fake API server saw.
#[derive(Default, Debug)]
pub struct Recorded {
    pub status_patches: Vec<DiagnosisRequestStatus>,
    pub events: Vec<(String, String, String)>, // (type, reason, note)
    pub deletes: Vec<String>,
    pub pod_lists: Vec<String>, // query strings
}

pub struct FakeApi {
    pub pods: Mutex<Vec<Value>>,
    pub recorded: Mutex<Recorded>,
    /// The request's resourceVersion: each status write bumps it, and a write conditioned on an
    /// older one is refused with 409 Conflict, as the API server does.
    rv: Mutex<u64>,
    /// The version each recorded status patch produced.
    written_rv: Mutex<Vec<u64>>,
    /// Status writes refused as stale.
    pub conflicts: Mutex<usize>,
}

impl FakeApi {
    /// The request as a reconcile reads it from the watch cache once `status` is what it holds:
    /// at the version that write produced (an older status is an outdated object), or at the
    /// current version for a status this API never saw written (a previous process's).
    pub fn as_written(&self, mut req: DiagnosisRequest, status: DiagnosisRequestStatus) -> DiagnosisRequest {
        let recorded = self.recorded.lock().unwrap();
        let at = recorded.status_patches.iter().rposition(|s| *s == status);
        let rv = match at {
            Some(i) => self.written_rv.lock().unwrap()[i],
            None => *self.rv.lock().unwrap(),
        };
        req.metadata.resource_version = Some(rv.to_string());
        req.status = Some(status);
        req
    }
    pub fn last_status(&self) -> DiagnosisRequestStatus {
        self.recorded.lock().unwrap().status_patches.last().cloned().expect("a status patch")
    }
    pub fn event_reasons(&self) -> Vec<String> {
        self.recorded.lock().unwrap().events.iter().map(|e| e.1.clone()).collect()
    }
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.recorded.lock().unwrap().events.clone()
    }
}

pub fn pod(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "goapp"}, "creationTimestamp": "2026-11-26T00:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": "localhost/goapp:e2e", "ports": [{"name": "pprof", "containerPort": 6060}]}]},
        "status": {"phase": phase, "podIP": "10.0.0.1"}
    })
}

pub fn request(spec: Value) -> DiagnosisRequest {
    serde_json::from_value(json!({
        "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest",
        "metadata": {"name": "slow", "namespace": "shop", "uid": "uid-1", "generation": 1, "resourceVersion": "1"},
        "spec": spec,
    }))
    .expect("request")
}

pub fn with_status(mut req: DiagnosisRequest, status: DiagnosisRequestStatus) -> DiagnosisRequest {
    req.status = Some(status);
    req
}

fn respond(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).expect("json")))
        .expect("response")
}

fn not_found(what: &str) -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{what} not found")}),
    )
}

async fn serve(api: Arc<FakeApi>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&parts.method, segs.as_slice()) {
        (&Method::GET, ["api", "v1", "namespaces", _, "pods"]) => {
            api.recorded.lock().unwrap().pod_lists.push(query.clone());
            let items = api.pods.lock().unwrap().clone();
            respond(
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        (&Method::GET, ["api", "v1", "namespaces", _, "pods", name]) => {
            let found = api.pods.lock().unwrap().iter().find(|p| p["metadata"]["name"] == *name).cloned();
            match found {
                Some(p) => respond(StatusCode::OK, p),
                None => not_found(&format!("pods \"{name}\"")),
            }
        }
        (&Method::PATCH, ["apis", "godiag.dev", "v1alpha1", "namespaces", _, "diagnosisrequests", _, "status"]) => {
            assert!(query.contains("fieldManager=godiag"), "status must be written with field manager godiag: {query}");
            assert!(query.contains("force=true"), "server-side apply must force: {query}");
            let patch: Value = serde_json::from_slice(&body).expect("patch json");
            let status: DiagnosisRequestStatus = serde_json::from_value(patch["status"].clone()).expect("status");
            let mut rv = api.rv.lock().unwrap();
            if let Some(asked) = patch["metadata"]["resourceVersion"].as_str()
                && asked != rv.to_string()
            {
                *api.conflicts.lock().unwrap() += 1;
                return respond(
                    StatusCode::CONFLICT,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                           "message": "Operation cannot be fulfilled on diagnosisrequests.godiag.dev \"slow\": the object has been modified; please apply your changes to the latest version and try again"}),
                );
            }
            *rv += 1;
            api.recorded.lock().unwrap().status_patches.push(status.clone());
            api.written_rv.lock().unwrap().push(*rv);
            let mut obj = with_status(request(json!({"targets": {"pods": ["x"]}})), status);
            obj.metadata.resource_version = Some(rv.to_string());
            respond(StatusCode::OK, serde_json::to_value(obj).expect("json"))
        }
        (&Method::POST, ["apis", "events.k8s.io", "v1", "namespaces", _, "events"]) => {
            let ev: Value = serde_json::from_slice(&body).expect("event json");
            api.recorded.lock().unwrap().events.push((
                ev["type"].as_str().unwrap_or_default().into(),
                ev["reason"].as_str().unwrap_or_default().into(),
                ev["note"].as_str().unwrap_or_default().into(),
            ));
            respond(StatusCode::CREATED, ev)
        }
        (&Method::DELETE, ["apis", "godiag.dev", "v1alpha1", "namespaces", _, "diagnosisrequests", name]) => {
            api.recorded.lock().unwrap().deletes.push((*name).to_string());
            respond(StatusCode::OK, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
        }
        (m, s) => panic!("unexpected API call {m} /{} ?{query}", s.join("/")),
    }
}

/// A `kube::Client` whose requests are answered by a `FakeApi`.
pub fn fake_client(pods: Vec<Value>) -> (kube::Client, Arc<FakeApi>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let api = Arc::new(FakeApi {
        pods: Mutex::new(pods),
        recorded: Mutex::default(),
        rv: Mutex::new(1),
        written_rv: Mutex::default(),
        conflicts: Mutex::default(),
    });
    let api2 = api.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            send.send_response(serve(api2.clone(), req).await);
        }
    });
    (kube::Client::new(svc, "shop"), api)
}

/// A diagnoser that answers from a script: per pod, the result to return.
#[derive(Default)]
pub struct ScriptedDiagnoser {
    pub results: Mutex<BTreeMap<String, TargetResult>>,
    pub jobs: Mutex<Vec<TargetTask>>,
    pub manifests: Mutex<Vec<RequestRecord>>,
    pub fail_manifest: Mutex<bool>,
    /// Pods whose collection never ends (still running while others finish).
    pub pending: Mutex<std::collections::BTreeSet<String>>,
}

pub fn collected(pod: &str, kinds: &[ArtifactKind]) -> TargetResult {
    TargetResult {
        phase: TargetPhase::Succeeded,
        reason: None,
        message: format!("collected {}", kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")),
        artifacts: kinds
            .iter()
            .map(|k| ArtifactStatus {
                kind: *k,
                format: ArtifactFormat::Pprof,
                uri: format!("memory:///shop/slow/{pod}/{k:?}.pb.gz"),
                bytes: 1234,
                sha256: "ab".repeat(32),
                note: None,
            })
            .collect(),
        failures: vec![],
        summary: None,
        reports: vec![],
        window_start: None,
    }
}

impl Diagnoser for ScriptedDiagnoser {
    fn diagnose(&self, job: TargetTask) -> BoxFuture<'static, TargetResult> {
        let result = self
            .results
            .lock()
            .unwrap()
            .get(&job.pod)
            .cloned()
            .unwrap_or_else(|| TargetResult::failed(&TargetFailure::InternalError));
        let pending = self.pending.lock().unwrap().contains(&job.pod);
        self.jobs.lock().unwrap().push(job);
        if pending {
            return Box::pin(futures::future::pending());
        }
        Box::pin(async move { result })
    }
    fn finish(&self, record: RequestRecord) -> BoxFuture<'static, Result<Finished, DiagnoserError>> {
        let fail = *self.fail_manifest.lock().unwrap();
        if !fail {
            self.manifests.lock().unwrap().push(record);
        }
        Box::pin(async move {
            if fail {
                Err(DiagnoserError::ManifestWrite {
                    uri: "s3://bucket/shop/slow/manifest.json".into(),
                    message: "connection reset".into(),
                })
            } else {
                Ok(Finished {
                    manifest: "memory:///shop/slow/manifest.json".into(),
                    report: Some("memory:///shop/slow/report.html".into()),
                    ..Finished::default()
                })
            }
        })
    }
    fn artifact_root(&self, namespace: &str, request: &str) -> String {
        format!("memory:///{namespace}/{request}/")
    }
    fn end_session(&self, _namespace: &str, _pod: &str) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async { Ok("Detached".to_string()) })
    }
}

pub struct Harness {
    pub ctx: Arc<Context>,
    pub api: Arc<FakeApi>,
    pub diagnoser: Arc<ScriptedDiagnoser>,
    pub triggers: mpsc::UnboundedReceiver<ObjectRef<DiagnosisRequest>>,
}

pub fn harness(pods: Vec<Value>, diagnoser: ScriptedDiagnoser) -> Harness {
    let (client, api) = fake_client(pods);
    let diagnoser = Arc::new(diagnoser);
    let (ctx, inputs) = Context::new(client, diagnoser.clone(), 4, Arc::new(Metrics::default()));
    Harness { ctx, api, diagnoser, triggers: inputs.trigger }
}

impl Harness {
    /// Waits until `n` collections have finished and asked for a reconcile.
    pub async fn finished_collections(&mut self, n: usize) {
        for _ in 0..n {
            tokio::time::timeout(std::time::Duration::from_secs(10), self.triggers.recv())
                .await
                .expect("a finished collection triggers a reconcile")
                .expect("trigger channel open");
        }
    }
}
