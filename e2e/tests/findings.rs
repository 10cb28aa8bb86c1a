//! Findings a user meets in an incident, on the real cluster: a pod that crash-loops with a Go
//! panic gets a request (`lastCrash`) whose summary names the panic site and the restart count;
//! a pod whose CPU limit is below what it burns gets the throttling finding in cores, and its
//! trace the scheduler-latency finding that the CPU profile explains as throttling.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{HOST_ARTIFACTS, POD_ARTIFACTS, apply_request, goapp_deployment, install_godiag};
use common::{TIMEOUT, figure, wait_for, with_temp_ns};
use godiag::api::{ArtifactKind, FindingRule, Phase, TargetPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, PostParams};
use std::path::PathBuf;

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |v| v.iter().map(|c| c.restart_count).sum())
}

#[tokio::test]
async fn a_crash_looping_pod_gets_its_panic_site_and_restart_count() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("crash", |client, ns| async move {
        // goapp panics 2s after it starts: a write to a nil map in (*Cache).Put.
        let dep = goapp_deployment("crashy", None, &["-listen=127.0.0.1:6060", "-crash-after=2s"])?;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &dep).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let lp = ListParams::default().labels("app=crashy");
        let deadline = std::time::Instant::now() + TIMEOUT;
        let pod = loop {
            let list = pods.list(&lp).await?;
            if let Some(p) = list.items.into_iter().find(|p| restarts(p) >= 2) {
                break p;
            }
            ensure!(std::time::Instant::now() < deadline, "the pod did not restart twice within {TIMEOUT:?}");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        let name = pod.metadata.name.clone().context("pod name")?;
        let req = apply_request(
            &ns,
            "why-restarting",
            serde_json::json!({
                "targets": {"pods": [name]},
                "lastCrash": true,
            }),
        )
        .await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let t = &st.targets[0];
        ensure!(t.phase == TargetPhase::Succeeded, "{t:#?}");
        let crash = t.artifacts.iter().find(|a| a.kind == ArtifactKind::Crash).context("a crash artifact")?;
        ensure!(t.artifacts.len() == 1, "lastCrash alone collects nothing else: {:#?}", t.artifacts);
        let host = PathBuf::from(crash.uri.strip_prefix("file://").context("file URI")?.replacen(
            POD_ARTIFACTS,
            HOST_ARTIFACTS,
            1,
        ));
        let stored = std::fs::read_to_string(&host).with_context(|| format!("{}", host.display()))?;
        ensure!(stored.starts_with("panic: assignment to entry in nil map"), "the stored crash: {stored}");
        let summary = t.summary.as_ref().context("summary")?;
        let f = summary.findings.iter().find(|f| f.rule == FindingRule::Crash).context("a crash finding")?;
        ensure!(
            f.message.starts_with("panic: assignment to entry in nil map at main.(*Cache).Put (main.go:"),
            "{f:#?}"
        );
        ensure!(f.message.contains("; restarted ") && f.message.contains(" times"), "{f:#?}");
        figure(&format!("crash finding: {}", f.message));
        figure(&format!("crash request summary: {}", st.summary.clone().unwrap_or_default()));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_pod_burning_more_than_its_cpu_limit_gets_the_throttling_finding() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("throttle", |client, ns| async move {
        // Four hash loops want four cores; the limit gives a fifth of one. More loops than the
        // two Ps (GOMAXPROCS follows the node's two CPUs) keep the run queue full, so every 10 ms
        // preemption makes a goroutine wait, and the waits that span a throttled period make the
        // p99 the finding needs. With only two loops the waits came from the few other
        // goroutines and the p99 crossed 10 ms in some runs only.
        let mut dep = goapp_deployment("throttled", None, &["-listen=127.0.0.1:6060", "-workers=4"])?;
        let spec = dep.spec.as_mut().and_then(|s| s.template.spec.as_mut()).context("pod spec")?;
        spec.containers[0].resources = Some(ResourceRequirements {
            requests: Some([("cpu".to_string(), Quantity("100m".into()))].into()),
            limits: Some(
                [("cpu".to_string(), Quantity("200m".into())), ("memory".to_string(), Quantity("128Mi".into()))].into(),
            ),
            ..ResourceRequirements::default()
        });
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &dep).await?;
        wait_for(&deployments, "throttled", "the Go program to run", TIMEOUT, common::godiag::deployment_available)
            .await?;
        // Available is only started: a program under a fifth of a core may not have bound its
        // port yet when the request begins (CI: the CPU profile's connection was refused).
        let pod = common::godiag::the_pod(&client, &ns, "throttled").await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        common::wait_until_serving(&pods, pod.metadata.name.as_deref().context("pod name")?, 6060, "/healthz").await?;
        let req = apply_request(
            &ns,
            "why-slow",
            serde_json::json!({
                "targets": {"selector": {"matchLabels": {"app": "throttled"}}},
                "pprof": {"profiles": ["cpu", "trace"], "duration": "5s", "traceDuration": "3s"},
            }),
        )
        .await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let summary = st.targets[0].summary.as_ref().context("summary")?;
        let f = summary.findings.iter().find(|f| f.rule == FindingRule::CpuThrottling).context("throttling")?;
        ensure!(f.message.contains("of its 0.2-core CPU limit; the container is throttled"), "{f:#?}");
        let top = summary.top.iter().find(|t| t.profile == ArtifactKind::Cpu).context("cpu top")?;
        ensure!(top.name == "main.hashLoop", "the program's own function, not sha256's: {top:#?}");
        figure(&format!("throttling finding: {}", f.message));
        // The trace of the same window: goroutines wait for a CPU, and the CPU profile says
        // that the kernel, not a lack of Ps, is why.
        let sched = summary
            .findings
            .iter()
            .find(|f| f.rule == FindingRule::SchedulerLatency)
            .with_context(|| format!("scheduler-latency finding: {summary:#?}"))?;
        ensure!(sched.message.starts_with("goroutines waited up to "), "{sched:#?}");
        ensure!(
            sched
                .evidence
                .first()
                .is_some_and(|e| e.contains("frozen by the kernel, which is CPU throttling (its limit is 0.2 cores)")),
            "{sched:#?}"
        );
        let t = summary.trace.as_ref().context("trace figures")?;
        ensure!(t.sched_latency_tail_us.is_some_and(|p| p >= 10_000), "{t:#?}");
        figure(&format!("scheduler-latency finding: {} / {}", sched.message, sched.evidence[0]));
        Ok(())
    })
    .await
}
