//! The core flow a user sees: install godiag with the manifests users apply, apply a
//! DiagnosisRequest against goapp pods, wait for the Complete condition, find every artifact the
//! status lists (with the size and sha256 it claims), and read it all with `kubectl describe`.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::{TIMEOUT, wait_for, with_temp_ns};
use godiag::api::{ArtifactFormat, ArtifactKind, DiagnosisRequest, Phase, TargetPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, PostParams};
use kube::runtime::wait::Condition;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where `manifests/e2e` puts the operator's file:///var/lib/godiag volume on the node.
const HOST_ARTIFACTS: &str = "/var/lib/godiag-artifacts";
const POD_ARTIFACTS: &str = "/var/lib/godiag";
/// A request collects for ~10s; pod start, port-forward and storage add a little.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the cluster's kubectl (`KUBECTL`, default `kubectl` on PATH); returns stdout.
fn kubectl(args: &[&str]) -> Result<String> {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(&bin).args(args).current_dir(repo()).output().with_context(|| format!("running {bin}"))?;
    if !out.status.success() {
        bail!("kubectl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn deployment_available(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref()).and_then(|s| s.available_replicas).unwrap_or(0) >= 1
}

/// Installs godiag once per test binary: `kubectl apply -k manifests/e2e` (the user-facing base
/// plus the local image and a hostPath for artifacts), then waits for the operator to be available.
async fn install_godiag() -> Result<()> {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            kubectl(&["apply", "--server-side", "-k", "manifests/e2e"])?;
            let client = common::client().await;
            let deployments: Api<Deployment> = Api::namespaced(client, common::OPERATOR_NAMESPACE);
            wait_for(&deployments, "godiag", "the godiag operator to be available", TIMEOUT, deployment_available)
                .await?;
            Ok::<(), anyhow::Error>(())
        })
        .await
        .map(|_| ())
}

/// Deploys the demo program (manifests/examples/goapp.yaml) with extra args and waits until it runs.
async fn deploy_goapp(ns: &str, name: &str, args: &[&str]) -> Result<()> {
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
    let client = common::client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, ns);
    deployments.create(&PostParams::default(), &dep).await?;
    wait_for(&deployments, name, "the Go program to run", TIMEOUT, deployment_available).await?;
    Ok(())
}

fn complete() -> impl Condition<DiagnosisRequest> {
    |r: Option<&DiagnosisRequest>| {
        r.and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    }
}

async fn apply_request(ns: &str, name: &str, spec: serde_json::Value) -> Result<DiagnosisRequest> {
    let client = common::client().await;
    let requests: Api<DiagnosisRequest> = Api::namespaced(client, ns);
    let req: DiagnosisRequest = serde_json::from_value(serde_json::json!({
        "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    requests.create(&PostParams::default(), &req).await?;
    wait_for(&requests, name, "the request's Complete condition", REQUEST_TIMEOUT, complete()).await
}

/// The reasons of the Events about request `name`, once all of `want` are there (Events are
/// published just after the status write the test waited for).
async fn event_reasons(ns: &str, name: &str, want: &[&str]) -> Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(common::client().await, ns);
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

fn sha256_of(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string())
}

#[tokio::test]
async fn request_collects_every_kind_through_port_forward_to_a_loopback_pprof() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("core", |_client, ns| async move {
        // pprof listens on 127.0.0.1 only: reachable through the API server's port-forward alone.
        deploy_goapp(&ns, "goapp", &["-listen=127.0.0.1:6060", "-block-rate=1", "-mutex-fraction=1", "-leak=200"])
            .await?;
        let spec = serde_json::json!({
            "targets": {"selector": {"matchLabels": {"app": "goapp"}}},
            "pprof": {"profiles": ["cpu", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate", "trace"],
                      "duration": "5s", "traceDuration": "2s"},
        });
        let req = apply_request(&ns, "all-kinds", spec).await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "phase {:?}, status {st:#?}", st.phase);
        ensure!(st.progress.as_deref() == Some("1/1"), "progress {:?}", st.progress);
        let target = &st.targets[0];
        ensure!(target.phase == TargetPhase::Succeeded, "{target:#?}");
        for kind in ArtifactKind::ALL {
            ensure!(target.artifacts.iter().any(|a| a.kind == kind), "no {kind:?} artifact in {target:#?}");
        }
        let text = target.artifacts.iter().find(|a| a.kind == ArtifactKind::GoroutineText).context("goroutineText")?;
        ensure!(text.format == ArtifactFormat::GoroutineText && text.uri.ends_with("/goroutine.txt"), "{text:#?}");
        for a in &target.artifacts {
            let pod_path = a.uri.strip_prefix("file://").context("file:// URI")?;
            let host = PathBuf::from(pod_path.replacen(POD_ARTIFACTS, HOST_ARTIFACTS, 1));
            let meta = std::fs::metadata(&host).with_context(|| format!("artifact {} on the node", host.display()))?;
            ensure!(meta.len() as i64 == a.bytes, "{}: status says {} bytes, file has {}", a.uri, a.bytes, meta.len());
            ensure!(sha256_of(&host)? == a.sha256, "{}: sha256 differs from status", a.uri);
        }
        let manifest = PathBuf::from(HOST_ARTIFACTS).join(&ns).join("all-kinds/manifest.json");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).context("manifest.json")?)?;
        ensure!(manifest["targets"][0]["artifacts"].as_array().map_or(0, Vec::len) == target.artifacts.len());

        let describe = kubectl(&["describe", "diag", "all-kinds", "-n", &ns])?;
        println!("{describe}");
        for needle in ["Succeeded", "TargetsResolved", "cpu.pb.gz", "trace.out"] {
            ensure!(describe.contains(needle), "kubectl describe lacks {needle:?}:\n{describe}");
        }
        let reasons = event_reasons(&ns, "all-kinds", &["TargetsResolved", "Succeeded"]).await?;
        ensure!(reasons.contains(&"Succeeded".to_string()), "events: {reasons:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn program_without_pprof_fails_with_a_precise_message() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("nopprof", |_client, ns| async move {
        deploy_goapp(&ns, "nopprof", &["-listen=:6060", "-no-pprof"]).await?;
        let spec = serde_json::json!({
            "targets": {"selector": {"matchLabels": {"app": "nopprof"}}},
            "pprof": {"profiles": ["heap"], "duration": "1s"},
        });
        let st = apply_request(&ns, "nopprof", spec).await?.status.context("status")?;
        ensure!(st.phase == Some(Phase::Failed), "{st:#?}");
        let t = &st.targets[0];
        ensure!(t.reason.as_deref() == Some("NoPprofEndpoint"), "{t:#?}");
        ensure!(t.message.as_deref().unwrap_or_default().contains("net/http/pprof"), "{t:#?}");
        let reasons = event_reasons(&ns, "nopprof", &["NoPprofEndpoint", "Failed"]).await?;
        ensure!(
            reasons.iter().any(|r| r == "NoPprofEndpoint") && reasons.iter().any(|r| r == "Failed"),
            "events: {reasons:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn selector_matching_nothing_fails_and_bad_specs_are_refused() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("nomatch", |client, ns| async move {
        let st = apply_request(&ns, "nomatch", serde_json::json!({"targets": {"selector": {"matchLabels": {"app": "absent"}}}}))
            .await?
            .status
            .context("status")?;
        ensure!(st.phase == Some(Phase::Failed));
        let resolved = st.conditions.iter().find(|c| c.type_ == "TargetsResolved").context("TargetsResolved")?;
        ensure!(resolved.reason == "NoMatchingPods", "{resolved:?}");

        // The API server itself refuses invalid specs, with the CRD's CEL messages.
        let requests: Api<DiagnosisRequest> = Api::namespaced(client, &ns);
        let bad: DiagnosisRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest", "metadata": {"name": "bad"},
            "spec": {"targets": {"pods": ["a"], "selector": {"matchLabels": {"app": "x"}}}, "pprof": {"duration": "11m"}},
        }))?;
        let err = requests.create(&PostParams::default(), &bad).await.expect_err("refused").to_string();
        ensure!(err.contains("set exactly one of targets.selector or targets.pods"), "{err}");
        ensure!(err.contains("duration must be between 1s and 10m"), "{err}");
        Ok(())
    })
    .await
}
