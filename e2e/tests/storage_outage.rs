//! Object storage down for a minute in the middle of a request, on the real cluster: an
//! S3-compatible server (gofakes3, `localhost/s3:e2e`) runs in the cluster, godiag stores into
//! it, the server is stopped while godiag collects and started again 60 s later. The request
//! must succeed with every artifact stored once, intact, and a Warning event saying what
//! happened. Runs last: it points the shared operator at the S3 server and back.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{
    REQUEST_TIMEOUT, complete, create_request, deploy_goapp, deployment_available, event_reasons, install_godiag,
    kubectl,
};
use common::{OPERATOR_NAMESPACE, S3_IMAGE, TIMEOUT, wait_for, with_temp_ns};
use godiag::api::{ArtifactKind, DiagnosisRequest, Phase, TargetPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use std::time::{Duration, Instant};

const BUCKET: &str = "godiag";
const OUTAGE: Duration = Duration::from_secs(60);

fn s3_objects(ns: &str) -> Result<(Deployment, Service)> {
    let data = format!("/var/lib/godiag-e2e-s3/{ns}");
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s3"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "s3"}},
            "template": {
                "metadata": {"labels": {"app": "s3"}},
                "spec": {
                    "containers": [{
                        "name": "s3", "image": S3_IMAGE, "imagePullPolicy": "Never",
                        "args": ["-host", ":9000", "-backend", "fs", "-fs.path", "/data", "-fs.create",
                                 "-initialbucket", BUCKET, "-quiet"],
                        "ports": [{"containerPort": 9000}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }],
                    // Survives the pod: the outage is the server going away, not its data.
                    "volumes": [{"name": "data", "hostPath": {"path": data, "type": "DirectoryOrCreate"}}],
                },
            },
        },
    }))?;
    let service: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s3"},
        "spec": {"selector": {"app": "s3"}, "ports": [{"port": 9000, "targetPort": 9000}]},
    }))?;
    Ok((deployment, service))
}

/// Points the operator at `url` (with credentials) or back at its file:// default, and waits
/// for the rollout.
fn operator_storage(url: Option<&str>) -> Result<()> {
    let deploy = "deployment/godiag";
    match url {
        Some(u) => kubectl(&[
            "set",
            "env",
            "-n",
            OPERATOR_NAMESPACE,
            deploy,
            &format!("GODIAG_STORAGE_URL={u}"),
            "AWS_ACCESS_KEY_ID=e2e",
            "AWS_SECRET_ACCESS_KEY=e2e-secret",
        ])?,
        None => kubectl(&[
            "set",
            "env",
            "-n",
            OPERATOR_NAMESPACE,
            deploy,
            "GODIAG_STORAGE_URL=file:///var/lib/godiag",
            "AWS_ACCESS_KEY_ID-",
            "AWS_SECRET_ACCESS_KEY-",
        ])?,
    };
    kubectl(&["rollout", "status", "-n", OPERATOR_NAMESPACE, deploy, "--timeout=180s"])?;
    Ok(())
}

async fn scale_s3(ns: &str, replicas: u32) -> Result<()> {
    kubectl(&["scale", "-n", ns, "deployment/s3", &format!("--replicas={replicas}")])?;
    let pods: Api<Pod> = Api::namespaced(common::client().await, ns);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let list = pods.list(&ListParams::default().labels("app=s3")).await?;
        let running =
            list.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
        if (replicas == 0 && list.items.is_empty()) || (replicas > 0 && running >= 1) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "s3 did not scale to {replicas}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn object_storage_down_for_a_minute_mid_request_loses_nothing() -> Result<()> {
    install_godiag().await?;
    let outcome = with_temp_ns("s3", |client, ns| async move {
        let (deployment, service) = s3_objects(&ns)?;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &deployment).await?;
        let services: Api<Service> = Api::namespaced(client.clone(), &ns);
        let svc = services.create(&PostParams::default(), &service).await?;
        wait_for(&deployments, "s3", "the S3 server to run", TIMEOUT, deployment_available).await?;
        // No cluster DNS here: the Service's ClusterIP (kube-proxy routes it).
        let ip = svc.spec.and_then(|s| s.cluster_ip).context("ClusterIP")?;
        let endpoint = format!("http://{ip}:9000");
        let url = format!("s3://{BUCKET}/e2e?endpoint={endpoint}&allow_http=true&region=us-east-1");
        operator_storage(Some(&url))?;

        deploy_goapp(&ns, "stored", &["-listen=127.0.0.1:6060"]).await?;
        let spec = serde_json::json!({
            "targets": {"selector": {"matchLabels": {"app": "stored"}}},
            "pprof": {"profiles": ["cpu", "heap", "goroutine", "trace"], "duration": "10s", "traceDuration": "2s"},
        });
        let requests = create_request(&ns, "outage", spec).await?;
        wait_for(&requests, "outage", "collection to start", TIMEOUT, |r: Option<&DiagnosisRequest>| {
            r.and_then(|r| r.status.as_ref())
                .is_some_and(|s| s.targets.iter().any(|t| t.phase == TargetPhase::Collecting))
        })
        .await?;

        scale_s3(&ns, 0).await?;
        let down = Instant::now();
        tokio::time::sleep(OUTAGE).await;
        scale_s3(&ns, 1).await?;
        let up = Instant::now();
        let outage = up - down;
        let st = wait_for(&requests, "outage", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let after = up.elapsed();
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let t = &st.targets[0];
        let kinds: Vec<ArtifactKind> = t.artifacts.iter().map(|a| a.kind).collect();
        for k in [ArtifactKind::Cpu, ArtifactKind::Heap, ArtifactKind::Goroutine, ArtifactKind::GoroutineText, ArtifactKind::Trace] {
            ensure!(kinds.contains(&k), "no {k:?} in {kinds:?}");
        }
        let retried = t.artifacts.iter().filter(|a| a.note.as_deref().is_some_and(|n| n.starts_with("stored after "))).count();
        ensure!(retried > 0, "the outage shows in the artifacts' notes: {t:#?}");

        // Every artifact is in the S3 server, whole: read back with godiag's own S3 client.
        let store = godiag::store::open(&format!("{url}&access_key_id=e2e&secret_access_key=e2e-secret"))?;
        for a in &t.artifacts {
            let path = a.uri.strip_prefix(&format!("s3://{BUCKET}/e2e/")).context("artifact URI in the bucket")?;
            let bytes = store.get_bytes(path).await.with_context(|| format!("reading {}", a.uri))?;
            ensure!(bytes.len() as i64 == a.bytes, "{}: {} bytes stored, status says {}", a.uri, bytes.len(), a.bytes);
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            ensure!(sha == a.sha256, "{}: sha256 differs from status", a.uri);
        }
        let reasons = event_reasons(&ns, "outage", &["StorageRetried", "Succeeded"]).await?;
        ensure!(reasons.iter().any(|r| r == "StorageRetried"), "a Warning event says what happened: {reasons:?}");
        common::figure(&format!(
            "object storage down {:.0}s mid-request: request complete {:.1}s after it came back, {retried} of {} artifacts retried",
            outage.as_secs_f64(),
            after.as_secs_f64(),
            t.artifacts.len()
        ));
        Ok(())
    })
    .await;
    // Whatever happened, the operator goes back to the storage the other tests use.
    let restored = operator_storage(None);
    outcome.and(restored)
}
