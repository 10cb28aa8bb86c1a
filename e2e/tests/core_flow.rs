//! The core flow a user sees: install godiag with the manifests users apply, apply a
//! DiagnosisRequest against goapp pods, wait for the Complete condition, find every artifact the
//! status lists (with the size and sha256 it claims), and read it all with `kubectl describe`.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{
    HOST_ARTIFACTS, POD_ARTIFACTS, apply_request, deploy_goapp, event_reasons, install_godiag, kubectl,
};
use common::with_temp_ns;
use godiag::api::{ArtifactFormat, ArtifactKind, DiagnosisRequest, Phase, TargetPhase};
use kube::api::{Api, PostParams};
use std::path::{Path, PathBuf};
use std::process::Command;

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
        for kind in ArtifactKind::ALL.into_iter().filter(|k| {
            !matches!(
                k,
                ArtifactKind::DelveGoroutines
                    | ArtifactKind::DelveSnapshot
                    | ArtifactKind::DelveTrace
                    | ArtifactKind::DelveTraceText
                    | ArtifactKind::Crash
                    | ArtifactKind::Goroutineleak
            )
        }) {
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
