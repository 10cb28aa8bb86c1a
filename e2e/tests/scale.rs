//! A request of 20 pods, as an SRE sends it for a whole Deployment: every pod is collected, and
//! their CPU profiles and traces describe the same moment (windows started within a second,
//! recorded in the status and the manifest).
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{HOST_ARTIFACTS, apply_request, goapp_deployment, install_godiag};
use common::{TIMEOUT, figure, wait_for, with_temp_ns};
use godiag::api::{Phase, TargetPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, PostParams};

const PODS: i32 = 20;

#[tokio::test]
async fn twenty_pods_are_collected_in_one_window() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("twenty", |client, ns| async move {
        // No CPU burners: twenty programs share the node's two cores with the cluster itself.
        let mut dep = goapp_deployment("fleet", None, &["-listen=127.0.0.1:6060", "-workers=0"])?;
        let spec = dep.spec.as_mut().context("deployment spec")?;
        spec.replicas = Some(PODS);
        let pod = spec.template.spec.as_mut().context("pod spec")?;
        pod.containers[0].resources = Some(ResourceRequirements {
            requests: Some(
                [("cpu".to_string(), Quantity("10m".into())), ("memory".into(), Quantity("16Mi".into()))].into(),
            ),
            limits: Some([("memory".to_string(), Quantity("128Mi".into()))].into()),
            ..ResourceRequirements::default()
        });
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &dep).await?;
        wait_for(&deployments, "fleet", "twenty Go programs to run", TIMEOUT * 3, |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.available_replicas == Some(PODS))
        })
        .await?;
        let req = apply_request(
            &ns,
            "all-of-them",
            serde_json::json!({
                "targets": {"selector": {"matchLabels": {"app": "fleet"}}, "maxPods": PODS},
                "pprof": {"profiles": ["cpu", "heap", "goroutine", "trace"], "duration": "5s", "traceDuration": "2s"},
            }),
        )
        .await?;
        let st = req.status.context("status")?;
        let failed: Vec<String> = st
            .targets
            .iter()
            .filter(|t| t.phase != TargetPhase::Succeeded)
            .map(|t| format!("{}: {:?} {}", t.pod, t.reason, t.message.as_deref().unwrap_or("")))
            .collect();
        ensure!(st.phase == Some(Phase::Succeeded) && failed.is_empty(), "not every pod succeeded: {failed:#?}");
        ensure!(st.targets.len() == PODS as usize, "{} targets", st.targets.len());
        let starts: Vec<jiff::Timestamp> =
            st.targets.iter().filter_map(|t| t.window_start.as_ref().map(|w| w.0)).collect();
        let missing: Vec<&str> =
            st.targets.iter().filter(|t| t.window_start.is_none()).map(|t| t.pod.as_str()).collect();
        ensure!(
            missing.is_empty(),
            "no windowStart for {missing:?}: {:#?}",
            st.targets.iter().find(|t| t.window_start.is_none()).map(|t| (&t.message, &t.failures, t.attempts))
        );
        let (first, last) = (starts.iter().min().context("starts")?, starts.iter().max().context("starts")?);
        let spread = last.duration_since(*first);
        ensure!(spread <= jiff::SignedDuration::from_secs(1), "windows spread over {spread:#}: {starts:?}");
        // The manifest users download records the same starts.
        let manifest = std::fs::read_to_string(format!("{HOST_ARTIFACTS}/{ns}/all-of-them/manifest.json"))?;
        let m: serde_json::Value = serde_json::from_str(&manifest)?;
        let recorded = m["targets"].as_array().context("manifest targets")?;
        ensure!(recorded.iter().all(|t| t["windowStart"].is_string()), "{manifest}");
        let took = match (&st.start_time, &st.completion_time) {
            (Some(s), Some(c)) => format!(
                "{:#} (start to the windows {:#}, windows to complete {:#})",
                c.0.duration_since(s.0),
                first.duration_since(s.0),
                c.0.duration_since(*last)
            ),
            _ => "?".into(),
        };
        figure(&format!(
            "20-pod request (cpu 5s, trace 2s, heap, goroutine): {took}; window starts spread over {spread:#}"
        ));
        Ok(())
    })
    .await
}
