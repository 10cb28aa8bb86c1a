//! A misbehaving replica compared with its healthy siblings, as an engineer asks it in an
//! incident: a Deployment of 4 goapp pods, one told (GET /misbehave) to burn CPU in
//! main.(*Index).Rebuild, hold 64 MiB in main.(*Sessions).Remember and park 300 goroutines. A
//! request for that pod with `baseline` names the function, the leak and the goroutines as what
//! differs from the 3 siblings profiled in the same window, and stores a report.html that opens
//! in a real browser (Debian's headless Chromium) with no error and no request beyond itself.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{HOST_ARTIFACTS, POD_ARTIFACTS, apply_request, goapp_deployment, install_godiag, repo};
use common::{TIMEOUT, figure, get_through_port_forward, wait_for, with_temp_ns};
use godiag::api::{FindingRule, Phase, TargetPhase, TargetRole};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, PostParams};
use std::path::PathBuf;

const REPLICAS: i32 = 4;

#[tokio::test]
async fn the_misbehaving_replica_is_named_against_its_siblings_and_the_report_opens_in_a_browser() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("siblings", |client, ns| async move {
        // No CPU burners: the replicas idle but for their allocation and lock loops.
        let mut dep = goapp_deployment("shop", None, &["-listen=127.0.0.1:6060", "-workers=0"])?;
        let spec = dep.spec.as_mut().context("deployment spec")?;
        spec.replicas = Some(REPLICAS);
        spec.template.spec.as_mut().context("pod spec")?.containers[0].resources = Some(ResourceRequirements {
            requests: Some(
                [("cpu".to_string(), Quantity("10m".into())), ("memory".into(), Quantity("32Mi".into()))].into(),
            ),
            limits: Some([("memory".to_string(), Quantity("256Mi".into()))].into()),
            ..ResourceRequirements::default()
        });
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &dep).await?;
        wait_for(&deployments, "shop", "4 replicas to run", TIMEOUT * 2, |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.available_replicas == Some(REPLICAS))
        })
        .await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let mut names: Vec<String> = pods
            .list(&ListParams::default().labels("app=shop"))
            .await?
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        let bad = names.first().context("a replica")?.clone();
        let answer = get_through_port_forward(&pods, &bad, 6060, "/misbehave").await?;
        ensure!(answer.contains("misbehaving"), "GET /misbehave: {answer}");

        let req = apply_request(
            &ns,
            "why-is-one-slow",
            serde_json::json!({
                "targets": {"pods": [bad]},
                "baseline": {"siblings": 3},
                "pprof": {"profiles": ["cpu", "heap", "goroutine", "trace"], "duration": "5s", "traceDuration": "2s"},
            }),
        )
        .await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let siblings: Vec<&str> =
            st.targets.iter().filter(|t| t.role == TargetRole::Sibling).map(|t| t.pod.as_str()).collect();
        ensure!(siblings.len() == 3, "3 siblings collected: {:#?}", st.targets);
        ensure!(st.targets.iter().all(|t| t.phase == TargetPhase::Succeeded), "{:#?}", st.targets);
        let selected = st.conditions.iter().find(|c| c.type_ == "BaselineSelected").context("BaselineSelected")?;
        ensure!(selected.status == "True" && selected.reason == "SiblingsSelected", "{selected:#?}");
        let starts: Vec<jiff::Timestamp> =
            st.targets.iter().filter_map(|t| t.window_start.as_ref().map(|w| w.0)).collect();
        let spread = starts.iter().min().zip(starts.iter().max()).map(|(first, last)| last.duration_since(*first));
        ensure!(
            starts.len() == 4 && spread.is_some_and(|s| s <= jiff::SignedDuration::from_secs(1)),
            "one window for the target and its siblings: {starts:?}"
        );

        let target = st.targets.iter().find(|t| t.pod == bad).context("the target")?;
        let summary = target.summary.as_ref().context("the target's summary")?;
        let differs: Vec<&str> = summary
            .findings
            .iter()
            .filter(|f| f.rule == FindingRule::DiffersFromSiblings)
            .map(|f| f.message.as_str())
            .collect();
        let cpu = differs.iter().find(|m| m.contains("of CPU here")).context(format!("a CPU finding: {differs:#?}"))?;
        ensure!(cpu.starts_with("main.(*Index).Rebuild: ") && cpu.contains("in 3 healthy siblings"), "{cpu}");
        let heap =
            differs.iter().find(|m| m.contains("of in-use heap")).context(format!("a heap finding: {differs:#?}"))?;
        ensure!(heap.starts_with("main.(*Sessions).Remember: "), "{heap}");
        let baseline = summary.baseline.as_ref().context("summary.baseline")?;
        ensure!(baseline.go_tool.as_deref().is_some_and(|c| c.contains("-diff_base=")), "{baseline:#?}");
        for m in &differs {
            figure(&format!("sibling finding: {m}"));
        }
        figure(&format!("sibling request summary: {}", st.summary.clone().unwrap_or_default()));

        // The report, stored next to the artifacts, in a real browser from a file URL.
        let uri = st.report.as_deref().context("status.report")?;
        let host =
            PathBuf::from(uri.strip_prefix("file://").context("file URI")?.replacen(POD_ARTIFACTS, HOST_ARTIFACTS, 1));
        let bytes = std::fs::metadata(&host).with_context(|| format!("{}", host.display()))?.len();
        figure(&format!("report.html of a 1-target, 3-sibling request: {} KiB", bytes >> 10));
        let out = repo().join("target/e2e-artifacts");
        std::fs::create_dir_all(&out)?;
        let shot = out.join("report.png");
        let check = std::process::Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .arg(repo().join("e2e/browser/check-report.mjs"))
            .arg(&host)
            .arg(&shot)
            .args(["main.(*Index).Rebuild", "main.(*Sessions).Remember", &bad, siblings[0]])
            .output()
            .context("running node e2e/browser/check-report.mjs")?;
        let said = String::from_utf8_lossy(&check.stdout);
        ensure!(check.status.success(), "the browser check failed: {said}{}", String::from_utf8_lossy(&check.stderr));
        figure(&format!("report in Chromium: {}", said.trim()));
        std::fs::copy(&host, out.join("report.html"))?;
        Ok(())
    })
    .await
}
