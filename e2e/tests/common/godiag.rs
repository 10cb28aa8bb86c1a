//! Installing godiag and driving it as a user does: apply the manifests, deploy the fixture Go
//! program, apply a DiagnosisRequest and wait for what `kubectl describe` would show.

use super::{TIMEOUT, wait_for};
use anyhow::{Context, Result, bail};
use godiag::api::DiagnosisRequest;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::Condition;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where `manifests/e2e` puts the operator's file:///var/lib/godiag volume on the node.
pub const HOST_ARTIFACTS: &str = "/var/lib/godiag-artifacts";
pub const POD_ARTIFACTS: &str = "/var/lib/godiag";
/// The Lease the operator replicas elect their leader with (manifests/e2e).
pub const LEASE: &str = "godiag-leader";
/// A request collects for ~10s; pod start, port-forward and storage add a little.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the cluster's kubectl (`KUBECTL`, default `kubectl` on PATH); returns stdout.
pub fn kubectl(args: &[&str]) -> Result<String> {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(&bin).args(args).current_dir(repo()).output().with_context(|| format!("running {bin}"))?;
    if !out.status.success() {
        bail!("kubectl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn deployment_available(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref()).and_then(|s| s.available_replicas).unwrap_or(0) >= 1
}

/// Installs godiag once per test binary: `kubectl apply -k manifests/e2e` (the user-facing base
/// plus the local image and a hostPath for artifacts), then waits for the operator to be available.
pub async fn install_godiag() -> Result<()> {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            kubectl(&["apply", "--server-side", "-k", "manifests/e2e"])?;
            let client = super::client().await;
            let deployments: Api<Deployment> = Api::namespaced(client, super::OPERATOR_NAMESPACE);
            wait_for(&deployments, "godiag", "the godiag operator to be available", TIMEOUT, deployment_available)
                .await?;
            Ok::<(), anyhow::Error>(())
        })
        .await
        .map(|_| ())
}

/// Deploys the demo program (manifests/examples/goapp.yaml) with extra args and waits until it runs.
pub async fn deploy_goapp(ns: &str, name: &str, args: &[&str]) -> Result<()> {
    deploy_goapp_image(ns, name, None, args).await
}

/// [`deploy_goapp`] with another image of the program (e.g. `localhost/goapp:stripped`).
pub async fn deploy_goapp_image(ns: &str, name: &str, image: Option<&str>, args: &[&str]) -> Result<()> {
    let dep = goapp_deployment(name, image, args)?;
    let client = super::client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, ns);
    deployments.create(&PostParams::default(), &dep).await?;
    wait_for(&deployments, name, "the Go program to run", TIMEOUT, deployment_available).await?;
    Ok(())
}

/// The demo program's Deployment (manifests/examples/goapp.yaml) named `name`, labelled
/// `app: name`, with these args (and image), for a test to change further before creating it.
pub fn goapp_deployment(name: &str, image: Option<&str>, args: &[&str]) -> Result<Deployment> {
    let yaml = std::fs::read_to_string(repo().join("manifests/examples/goapp.yaml"))?;
    let mut dep: Deployment = serde_saphyr::from_str(&yaml)?;
    dep.metadata.name = Some(name.into());
    let spec = dep.spec.as_mut().context("goapp.yaml has a spec")?;
    let labels = [("app".to_string(), name.to_string())].into_iter().collect::<std::collections::BTreeMap<_, _>>();
    spec.selector.match_labels = Some(labels.clone());
    let tpl = spec.template.metadata.as_mut().context("template metadata")?;
    tpl.labels = Some(labels);
    let container = &mut spec.template.spec.as_mut().context("pod spec")?.containers[0];
    container.args = Some(args.iter().map(|a| (*a).to_string()).collect());
    if let Some(image) = image {
        container.image = Some(image.into());
    }
    Ok(dep)
}

pub fn complete() -> impl Condition<DiagnosisRequest> {
    |r: Option<&DiagnosisRequest>| {
        r.and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    }
}

/// Creates a DiagnosisRequest and returns at once.
pub async fn create_request(ns: &str, name: &str, spec: serde_json::Value) -> Result<Api<DiagnosisRequest>> {
    let client = super::client().await;
    let requests: Api<DiagnosisRequest> = Api::namespaced(client, ns);
    let req: DiagnosisRequest = serde_json::from_value(serde_json::json!({
        "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    requests.create(&PostParams::default(), &req).await?;
    Ok(requests)
}

/// Creates a DiagnosisRequest and waits for its Complete condition.
pub async fn apply_request(ns: &str, name: &str, spec: serde_json::Value) -> Result<DiagnosisRequest> {
    let requests = create_request(ns, name, spec).await?;
    wait_for(&requests, name, "the request's Complete condition", REQUEST_TIMEOUT, complete()).await
}

/// The reasons of the Events about request `name`, once all of `want` are there (Events are
/// published just after the status write the test waited for).
pub async fn event_reasons(ns: &str, name: &str, want: &[&str]) -> Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(super::client().await, ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reasons: Vec<String> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reason)
            .collect();
        if want.iter().all(|w| reasons.iter().any(|r| r == w)) || tokio::time::Instant::now() > deadline {
            return Ok(reasons);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The operator replica that holds the leader Lease (and so runs the controller).
pub async fn leader_name() -> Result<String> {
    let leases: Api<Lease> = Api::namespaced(super::client().await, super::OPERATOR_NAMESPACE);
    let lease = leases.get(LEASE).await.context("the leader Lease")?;
    lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty()).context("a Lease holder")
}

/// Deletes the leader replica at once (grace period 0); returns its name.
pub async fn kill_leader() -> Result<String> {
    let leader = leader_name().await?;
    let operators: Api<Pod> = Api::namespaced(super::client().await, super::OPERATOR_NAMESPACE);
    operators.delete(&leader, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
    Ok(leader)
}

/// The pod's peak memory (its cgroup's `memory.max_usage_in_bytes`, children such as the
/// analysis worker included), read on the node: the local cluster uses cgroup v1 with the
/// cgroupfs driver and puts every pod below /godiag.
pub fn pod_memory_peak(uid: &str) -> Option<u64> {
    pod_memory(uid, "memory.max_usage_in_bytes")
}

/// A memory figure of the pod's cgroup (v1), e.g. `memory.usage_in_bytes`.
pub fn pod_memory(uid: &str, file: &str) -> Option<u64> {
    fn find(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == name) {
                return Some(p);
            }
            if depth > 0
                && let Some(found) = find(&p, name, depth - 1)
            {
                return Some(found);
            }
        }
        None
    }
    let dir = find(Path::new("/sys/fs/cgroup/memory/godiag/kubepods"), &format!("pod{uid}"), 2)?;
    std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
}

/// Adds labels to a namespace (e.g. the Delve opt-in).
pub async fn label_namespace(client: &kube::Client, ns: &str, labels: serde_json::Value) -> Result<()> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let patch = serde_json::json!({"metadata": {"labels": labels}});
    namespaces
        .patch(ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .context("labelling the namespace")?;
    Ok(())
}

/// The (first) pod of app `app`.
pub async fn the_pod(client: &kube::Client, ns: &str, app: &str) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = kube::api::ListParams::default().labels(&format!("app={app}"));
    pods.list(&lp).await?.items.into_iter().next().with_context(|| format!("a pod of {app}"))
}

/// Restarts of all the pod's containers.
pub fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum())
}

/// Ephemeral containers in the pod's spec (each Delve request adds one).
pub fn ephemeral_count(p: &Pod) -> usize {
    p.spec.as_ref().and_then(|s| s.ephemeral_containers.as_ref()).map_or(0, Vec::len)
}

/// A request spec for the pods of `app` with this `delve`.
pub fn delve_spec(app: &str, delve: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"targets": {"selector": {"matchLabels": {"app": app}}}, "delve": delve})
}
