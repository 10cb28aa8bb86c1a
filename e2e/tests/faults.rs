//! Faults survived on the real cluster: a hostile target pod, a target deleted mid-collection,
//! the leader replica killed mid-request (the standby takes over), and every replica killed. Each test says what a user would see, and prints
//! the figures (`e2e figure: …`) the closing notes quote.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{
    REQUEST_TIMEOUT, complete, create_request, deploy_goapp, install_godiag, kill_leader, kubectl, leader_name,
    pod_memory_peak,
};
use common::{OPERATOR_NAMESPACE, OPERATOR_SELECTOR, TIMEOUT, wait_for, with_temp_ns};
use godiag::api::{ArtifactKind, DiagnosisRequest, Phase, TargetPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use std::collections::BTreeSet;
use std::time::Instant;

const ALL_KINDS: [&str; 8] = ["cpu", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate", "trace"];
/// The operator container's memory limit in the manifests.
const OPERATOR_MEMORY_LIMIT: u64 = 256 << 20;

/// The leader operator pod: its name, UID and how often its container restarted.
async fn operator_pod() -> Result<(String, i32)> {
    let leader = leader_name().await?;
    let pods: Api<Pod> = Api::namespaced(common::client().await, OPERATOR_NAMESPACE);
    let pod = pods.get(&leader).await.with_context(|| format!("leader pod {leader}"))?;
    let restarts = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum());
    Ok((pod.uid().unwrap_or_default(), restarts))
}

async fn pods_of(ns: &str, app: &str) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(common::client().await, ns);
    Ok(pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items
        .iter()
        .map(|p| p.name_any())
        .collect())
}

/// Both operator replicas are ready (the leader and its standby).
fn two_ready(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref()).and_then(|s| s.ready_replicas).unwrap_or(0) >= 2
}

fn target_phase_is(pod: &str, phase: TargetPhase) -> impl kube::runtime::wait::Condition<DiagnosisRequest> + '_ {
    move |r: Option<&DiagnosisRequest>| {
        r.and_then(|r| r.status.as_ref()).is_some_and(|s| s.targets.iter().any(|t| t.pod == pod && t.phase == phase))
    }
}

#[tokio::test]
async fn a_hostile_pod_leaves_the_operator_running_and_its_sibling_collected() -> Result<()> {
    install_godiag().await?;
    let (uid, restarts) = operator_pod().await?;
    with_temp_ns("hostile", |_client, ns| async move {
        deploy_goapp(&ns, "calm", &["-listen=127.0.0.1:6060"]).await?;
        deploy_goapp(&ns, "hostile", &["-listen=127.0.0.1:6060", "-hostile"]).await?;
        let (calm, hostile) = (pods_of(&ns, "calm").await?.remove(0), pods_of(&ns, "hostile").await?.remove(0));
        let spec = serde_json::json!({
            "targets": {"pods": [calm, hostile]},
            "pprof": {"profiles": ALL_KINDS, "duration": "3s", "traceDuration": "2s"},
        });
        let requests = create_request(&ns, "hostile", spec).await?;
        let req =
            wait_for(&requests, "hostile", "the request's Complete condition", REQUEST_TIMEOUT, complete()).await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::PartiallySucceeded), "{st:#?}");
        let t = |pod: &str| st.targets.iter().find(|t| t.pod == pod).cloned().context("target");
        let (calm_t, hostile_t) = (t(&calm)?, t(&hostile)?);
        ensure!(calm_t.phase == TargetPhase::Succeeded, "the sibling is collected in full: {calm_t:#?}");
        ensure!(calm_t.summary.as_ref().is_some_and(|s| !s.top.is_empty()), "and analysed: {calm_t:#?}");

        ensure!(hostile_t.phase == TargetPhase::Failed, "{hostile_t:#?}");
        let failed: BTreeSet<(ArtifactKind, &str)> =
            hostile_t.failures.iter().map(|f| (f.kind, f.reason.as_str())).collect();
        // Cut off at the byte cap or at the deadline, whichever comes first through port-forward.
        ensure!(
            failed.iter().any(|&(k, r)| k == ArtifactKind::Mutex && matches!(r, "ArtifactTooLarge" | "Timeout")),
            "the endless body is cut off: {failed:?}"
        );
        let notes = hostile_t.summary.as_ref().map(|s| s.notes.join("\n")).unwrap_or_default();
        ensure!(notes.contains("heap could not be analysed"), "the 60 MiB of empty samples is refused: {notes}");
        let stored: BTreeSet<ArtifactKind> = hostile_t.artifacts.iter().map(|a| a.kind).collect();
        ensure!(stored.contains(&ArtifactKind::Heap) && stored.contains(&ArtifactKind::Trace), "kept: {stored:?}");
        let status_bytes = serde_json::to_vec(&st)?.len();
        ensure!(status_bytes < 64 << 10, "status stays small: {status_bytes} bytes");

        let (uid_after, restarts_after) = operator_pod().await?;
        ensure!((uid_after.as_str(), restarts_after) == (uid.as_str(), restarts), "the operator never restarted");
        let peak = pod_memory_peak(&uid);
        common::figure(&format!(
            "hostile pod: operator pod memory peak {} MiB (limit {} MiB), status {status_bytes} bytes",
            peak.map_or("?".into(), |p| (p >> 20).to_string()),
            OPERATOR_MEMORY_LIMIT >> 20
        ));
        if let Some(p) = peak {
            ensure!(p < OPERATOR_MEMORY_LIMIT, "peak {p} bytes");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_target_deleted_mid_collection_is_reported_and_its_sibling_collected() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("deleted", |client, ns| async move {
        deploy_goapp(&ns, "doomed", &["-listen=127.0.0.1:6060"]).await?;
        deploy_goapp(&ns, "steady", &["-listen=127.0.0.1:6060"]).await?;
        let (doomed, steady) = (pods_of(&ns, "doomed").await?.remove(0), pods_of(&ns, "steady").await?.remove(0));
        let spec = serde_json::json!({
            "targets": {"pods": [doomed, steady]},
            "pprof": {"profiles": ["cpu", "heap", "goroutine"], "duration": "15s"},
        });
        let requests = create_request(&ns, "deleted", spec).await?;
        wait_for(
            &requests,
            "deleted",
            "collection to start",
            TIMEOUT,
            target_phase_is(&doomed, TargetPhase::Collecting),
        )
        .await?;
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        pods.delete(&doomed, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
        let st = wait_for(&requests, "deleted", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        ensure!(st.phase == Some(Phase::PartiallySucceeded), "{st:#?}");
        let t = st.targets.iter().find(|t| t.pod == doomed).context("doomed target")?;
        // Deleted while its profiles streamed: PodDeleted. The status says Collecting just before
        // the pod's own task reads the pod again, so a deletion that lands in between is seen
        // by that read: PodTerminating. Either way the pod's deletion is what the user reads.
        let msg = t.message.as_deref().unwrap_or_default();
        let deleted = t.reason.as_deref() == Some("PodDeleted") && msg.contains("was deleted during collection");
        let terminating = t.reason.as_deref() == Some("PodTerminating") && msg.contains("is being deleted");
        ensure!(t.phase == TargetPhase::Failed && (deleted || terminating), "{t:#?}");
        let s = st.targets.iter().find(|t| t.pod == steady).context("steady target")?;
        ensure!(s.phase == TargetPhase::Succeeded, "{s:#?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_leader_killed_mid_request_hands_over_to_the_standby() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("leader", |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
        wait_for(&deployments, "godiag", "both replicas", TIMEOUT, two_ready).await?;
        deploy_goapp(&ns, "led", &["-listen=127.0.0.1:6060"]).await?;
        let spec = serde_json::json!({
            "targets": {"selector": {"matchLabels": {"app": "led"}}},
            "pprof": {"profiles": ["cpu", "heap", "goroutine"], "duration": "10s"},
        });
        let requests = create_request(&ns, "leader", spec).await?;
        let pod = pods_of(&ns, "led").await?.remove(0);
        wait_for(&requests, "leader", "collection to start", TIMEOUT, target_phase_is(&pod, TargetPhase::Collecting))
            .await?;
        let killed = Instant::now();
        let old = kill_leader().await?;
        let st = wait_for(&requests, "leader", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let recovered = killed.elapsed();
        let new = leader_name().await?;
        common::figure(&format!(
            "leader killed mid-request: the standby finished the request {:.1}s after the kill",
            recovered.as_secs_f64()
        ));
        ensure!(new != old, "the standby ({new}) took the Lease from {old}");
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        ensure!(st.targets[0].attempts == 2, "collected again by the new leader: {:#?}", st.targets[0]);
        wait_for(&deployments, "godiag", "both replicas again", TIMEOUT, two_ready).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_operator_killed_mid_request_still_ends_it_once_with_every_artifact() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("killed", |client, ns| async move {
        deploy_goapp(&ns, "victim", &["-listen=127.0.0.1:6060"]).await?;
        let spec = serde_json::json!({
            "targets": {"selector": {"matchLabels": {"app": "victim"}}},
            "pprof": {"profiles": ["cpu", "heap", "goroutine", "trace"], "duration": "10s", "traceDuration": "2s"},
        });
        let requests = create_request(&ns, "killed", spec).await?;
        let victim = pods_of(&ns, "victim").await?.remove(0);
        wait_for(
            &requests,
            "killed",
            "collection to start",
            TIMEOUT,
            target_phase_is(&victim, TargetPhase::Collecting),
        )
        .await?;
        let killed = Instant::now();
        kubectl(&[
            "delete",
            "pod",
            "-n",
            OPERATOR_NAMESPACE,
            "-l",
            OPERATOR_SELECTOR,
            "--grace-period=0",
            "--force",
            "--wait=false",
        ])?;
        let st = wait_for(&requests, "killed", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let recovered = killed.elapsed();
        common::figure(&format!(
            "every operator replica killed mid-request: request complete {:.1}s after the kill",
            recovered.as_secs_f64()
        ));
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let t = &st.targets[0];
        ensure!(t.attempts == 2, "collected once more after the restart: {t:#?}");
        let kinds: Vec<ArtifactKind> = t.artifacts.iter().map(|a| a.kind).collect();
        let unique: BTreeSet<ArtifactKind> = kinds.iter().copied().collect();
        ensure!(kinds.len() == unique.len(), "no duplicate artifact: {kinds:?}");
        for k in [ArtifactKind::Cpu, ArtifactKind::Heap, ArtifactKind::Goroutine, ArtifactKind::Trace] {
            ensure!(unique.contains(&k), "no {k:?} in {kinds:?}");
        }
        let deployments: Api<Deployment> = Api::namespaced(client, OPERATOR_NAMESPACE);
        wait_for(&deployments, "godiag", "the operator to be back", TIMEOUT, common::godiag::deployment_available)
            .await?;
        Ok(())
    })
    .await
}
