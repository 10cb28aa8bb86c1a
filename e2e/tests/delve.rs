//! Delve mode on the real cluster: a snapshot of the leaking goapp through an ephemeral
//! container and the API server's port-forward (the leak named, the artifacts stored, the
//! program never restarted and answering throughout), and each refusal a user can meet — no
//! opt-in label, Pod Security against SYS_PTRACE (and SameUser admitted under `restricted`), a
//! binary without DWARF, the operator killed mid-snapshot — with the target left running.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{
    HOST_ARTIFACTS, POD_ARTIFACTS, REQUEST_TIMEOUT, apply_request, complete, create_request, delve_spec, deploy_goapp,
    deploy_goapp_image, ephemeral_count, install_godiag, kill_leader, label_namespace, restarts, the_pod,
};
use common::{TIMEOUT, wait_for, with_temp_ns};
use godiag::api::{ArtifactKind, DiagnosisRequest, Phase, TargetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET /healthz through a fresh port-forward; true on any HTTP answer.
async fn healthz(pods: &Api<Pod>, pod: &str) -> bool {
    let probe = async {
        let mut pf = pods.portforward(pod, &[6060]).await.ok()?;
        let mut io = pf.take_stream(6060)?;
        io.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        io.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(10), probe).await.ok().flatten().unwrap_or(false)
}

/// How long until the program answers /healthz again, asking until `limit` has passed (None:
/// it never did). A program a debugger client just let go of may take a moment to resume on a
/// loaded node; one left stopped never answers.
async fn answers_within(pods: &Api<Pod>, pod: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if healthz(pods, pod).await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// Asks the program for /healthz over and over until `stop`; returns the longest time between
/// two answers and how many it got.
async fn load(pods: Api<Pod>, pod: String, stop: Arc<AtomicBool>) -> (Duration, usize) {
    let mut last = Instant::now();
    let mut longest = Duration::ZERO;
    let mut answers = 0;
    while !stop.load(Ordering::Relaxed) {
        if healthz(&pods, &pod).await {
            longest = longest.max(last.elapsed());
            last = Instant::now();
            answers += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (longest.max(last.elapsed()), answers)
}

/// Some pod of the request has an open Delve session.
fn session_open() -> impl kube::runtime::wait::Condition<DiagnosisRequest> {
    |r: Option<&DiagnosisRequest>| {
        r.and_then(|r| r.status.as_ref())
            .is_some_and(|s| s.targets.iter().any(|t| t.phase == godiag::api::TargetPhase::SessionOpen))
    }
}

fn delve_failure(t: &TargetStatus) -> Option<(&str, &str)> {
    t.failures.iter().find(|f| f.kind == ArtifactKind::DelveSnapshot).map(|f| (f.reason.as_str(), f.message.as_str()))
}

#[tokio::test]
async fn a_snapshot_names_the_leak_and_the_program_keeps_serving() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("delve", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp(&ns, "leaky", &["-listen=127.0.0.1:6060", "-leak=200"]).await?;
        let pod = the_pod(&client, &ns, "leaky").await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(load(pods.clone(), pod.name_any(), stop.clone()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let spec = delve_spec("leaky", serde_json::json!({"snapshot": {"locals": true}}));
        let req = apply_request(&ns, "snap", spec).await?;
        let wall = started.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        let (gap, answers) = load.await?;
        let st = req.status.context("status")?;
        let t = &st.targets[0];
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let summary = t.summary.as_ref().context("summary")?;
        let delve = summary.delve.as_ref().context("delve summary")?;
        ensure!(delve.resumed == Some(true) && delve.responded == Some(true), "{delve:#?}");
        ensure!(delve.goroutines_read >= 200 && delve.partial.is_none(), "{delve:#?}");
        ensure!(delve.privilege == "SysPtrace", "no Pod Security level: SysPtrace, {delve:#?}");
        let goroutines = summary.goroutines.as_ref().context("goroutine counts")?;
        ensure!(goroutines.by_state.get("chan send").copied().unwrap_or(0) >= 200, "{goroutines:#?}");
        let leak = summary.findings.iter().find(|f| f.message.contains("main.leakOne")).context("a leak finding")?;
        ensure!(leak.message.contains("200 goroutines blocked in chan send"), "{leak:#?}");
        // Values from the program's own frames (main.…), never Delve's "unreadable" noise.
        ensure!(
            !delve.locals.is_empty() && delve.locals.iter().all(|l| l.starts_with("main.") && !l.contains("unreadable")),
            "{delve:#?}"
        );
        for kind in [ArtifactKind::DelveSnapshot, ArtifactKind::DelveGoroutines] {
            let a = t.artifacts.iter().find(|a| a.kind == kind).with_context(|| format!("{kind:?} in {t:#?}"))?;
            let host = PathBuf::from(a.uri.trim_start_matches("file://").replacen(POD_ARTIFACTS, HOST_ARTIFACTS, 1));
            let len = std::fs::metadata(&host).with_context(|| host.display().to_string())?.len();
            ensure!(len as i64 == a.bytes && len > 0, "{}: {len} bytes, status says {}", a.uri, a.bytes);
        }
        let after = pods.get(&pod.name_any()).await?;
        ensure!(restarts(&after) == 0, "the program restarted: {:#?}", after.status);
        let ec = after.status.as_ref().and_then(|s| s.ephemeral_container_statuses.as_ref()).context("ephemeral status")?;
        let term = ec[0].state.as_ref().and_then(|s| s.terminated.as_ref()).context("the debugger container ended")?;
        ensure!(term.exit_code == 0, "debugger container: {term:#?}");
        ensure!(healthz(&pods, &pod.name_any()).await, "the program answers after the snapshot");
        common::figure(&format!(
            "delve snapshot of goapp ({} goroutines, locals): paused {} ms, dlv ran {} ms, request {:.1}s end to end; longest gap between /healthz answers {} ms ({answers} answers)",
            delve.goroutines_read,
            delve.paused_ms,
            delve.dlv_ran_ms.unwrap_or(0),
            wall.as_secs_f64(),
            gap.as_millis()
        ));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn without_the_opt_in_label_nothing_is_added_to_the_pod() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("nodelve", |client, ns| async move {
        deploy_goapp(&ns, "plain", &["-listen=127.0.0.1:6060"]).await?;
        let st = apply_request(&ns, "refused", delve_spec("plain", serde_json::json!({})))
            .await?
            .status
            .context("status")?;
        ensure!(st.phase == Some(Phase::Failed), "{st:#?}");
        let (reason, message) = delve_failure(&st.targets[0]).context("a delve failure")?;
        ensure!(reason == "DelveNotEnabled", "{reason}: {message}");
        ensure!(message.contains(&format!("kubectl label namespace {ns} godiag.dev/delve=enabled")), "{message}");
        let pod = the_pod(&client, &ns, "plain").await?;
        ensure!(ephemeral_count(&pod) == 0, "a container was added: {:#?}", pod.spec);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn restricted_refuses_sys_ptrace_and_admits_same_user() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("psa", |client, ns| async move {
        label_namespace(
            &client,
            &ns,
            serde_json::json!({"godiag.dev/delve": "enabled", "pod-security.kubernetes.io/enforce": "restricted"}),
        )
        .await?;
        // goapp.yaml meets `restricted` (non-root 65532, no capabilities, RuntimeDefault seccomp).
        deploy_goapp(&ns, "strict", &["-listen=127.0.0.1:6060", "-leak=150"]).await?;
        let spec = delve_spec("strict", serde_json::json!({"privilege": "SysPtrace"}));
        let st = apply_request(&ns, "sysptrace", spec).await?.status.context("status")?;
        let (reason, message) = delve_failure(&st.targets[0]).context("a delve failure")?;
        ensure!(reason == "PodSecurityRejected", "{reason}: {message}");
        ensure!(message.contains("restricted") && message.contains("SameUser"), "{message}");
        let pod = the_pod(&client, &ns, "strict").await?;
        ensure!(ephemeral_count(&pod) == 0 && restarts(&pod) == 0, "{:#?}", pod.status);

        // Auto picks SameUser here: the program's own UID/GID, no capabilities.
        let st =
            apply_request(&ns, "auto", delve_spec("strict", serde_json::json!({}))).await?.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let delve = st.targets[0].summary.as_ref().and_then(|s| s.delve.as_ref()).context("delve summary")?;
        ensure!(
            delve.privilege == "SameUser" && delve.goroutines_read >= 150 && delve.resumed == Some(true),
            "{delve:#?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_binary_without_dwarf_is_no_debug_info_and_keeps_running() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("stripped", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp_image(&ns, "stripped", Some("localhost/goapp:stripped"), &["-listen=127.0.0.1:6060"]).await?;
        let st = apply_request(&ns, "nodwarf", delve_spec("stripped", serde_json::json!({})))
            .await?
            .status
            .context("status")?;
        let (reason, message) = delve_failure(&st.targets[0]).context("a delve failure")?;
        ensure!(reason == "NoDebugInfo", "{reason}: {message}");
        ensure!(message.contains("-s -w"), "{message}");
        let pod = the_pod(&client, &ns, "stripped").await?;
        ensure!(restarts(&pod) == 0, "{:#?}", pod.status);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        ensure!(healthz(&pods, &pod.name_any()).await, "the stripped program answers after Delve let go");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_operator_killed_mid_snapshot_never_adds_a_second_container() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("delvekill", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp(&ns, "victim", &["-listen=127.0.0.1:6060", "-leak=2000"]).await?;
        let pod = the_pod(&client, &ns, "victim").await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let spec = delve_spec("victim", serde_json::json!({"snapshot": {"locals": true, "maxPause": "30s"}}));
        let requests: Api<DiagnosisRequest> = create_request(&ns, "interrupted", spec).await?;
        // As soon as the debugger container exists, kill the operator that added it.
        wait_for(&pods, &pod.name_any(), "the debugger container", TIMEOUT, |p: Option<&Pod>| {
            p.is_some_and(|p| ephemeral_count(p) == 1)
        })
        .await?;
        kill_leader().await?;
        let st = wait_for(&requests, "interrupted", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let t = &st.targets[0];
        let after = pods.get(&pod.name_any()).await?;
        ensure!(ephemeral_count(&after) == 1, "a second debugger container: {:#?}", after.spec);
        ensure!(restarts(&after) == 0, "{:#?}", after.status);
        ensure!(healthz(&pods, &pod.name_any()).await, "the program answers after the interrupted snapshot");
        // The old leader may have finished the snapshot before it died; otherwise the new one
        // must say it was interrupted and not try again.
        match delve_failure(t) {
            Some((reason, message)) => ensure!(reason == "DelveInterrupted", "{reason}: {message}"),
            None => ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}"),
        }
        common::figure(&format!(
            "operator killed mid-snapshot: request ended {:?} ({}), one debugger container, program running",
            st.phase,
            delve_failure(t).map_or("snapshot had finished", |f| f.0)
        ));
        Ok(())
    })
    .await
}

/// `kubectl port-forward -n NS pod/POD :40163`, as the status says; returns the child and the
/// local port kubectl chose.
fn port_forward(ns: &str, pod: &str) -> Result<(std::process::Child, u16)> {
    use std::io::BufRead;
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let mut child = std::process::Command::new(&bin)
        .args(["port-forward", "-n", ns, &format!("pod/{pod}"), ":40163"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {bin} port-forward"))?;
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().context("stdout")?);
    out.read_line(&mut line)?;
    // kubectl writes more lines (the [::1] listener, one per connection): keep reading, or it
    // dies of SIGPIPE and the forward with it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:41235 -> 40163"
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("kubectl port-forward said {line:?}"))?;
    Ok((child, port))
}

#[tokio::test]
async fn a_session_serves_a_real_dlv_client_and_lets_go_at_its_ttl() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("session", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp(&ns, "live", &["-listen=127.0.0.1:6060", "-leak=120"]).await?;
        let pod = the_pod(&client, &ns, "live").await?.name_any();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let spec = delve_spec("live", serde_json::json!({"mode": "Session", "session": {"ttl": "40s"}}));
        let started = Instant::now();
        let requests: Api<DiagnosisRequest> = create_request(&ns, "session", spec).await?;
        let open = wait_for(&requests, "session", "the session to open", TIMEOUT, session_open()).await?;
        let opened = started.elapsed();
        let t = &open.status.as_ref().context("status")?.targets[0];
        let session = t.summary.as_ref().and_then(|s| s.delve.as_ref()).and_then(|d| d.session.clone()).context("session")?;
        ensure!(session.port_forward == format!("kubectl port-forward -n {ns} pod/{pod} 40163:40163"), "{session:#?}");
        ensure!(session.connect == "dlv connect 127.0.0.1:40163", "{session:#?}");
        ensure!(healthz(&pods, &pod).await, "the program runs while the session is open");

        // A user: port-forward, then the real dlv client with a script, leaving the program running.
        let (mut forward, port) = port_forward(&ns, &pod)?;
        let dlv = std::env::var("DLV").unwrap_or_else(|_| "dlv".into());
        let mut connect = std::process::Command::new(&dlv)
            .args(["connect", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("running {dlv} connect (set DLV to a dlv binary)"))?;
        {
            use std::io::Write;
            connect.stdin.take().context("stdin")?.write_all(b"goroutines\nexit -c\n")?;
        }
        let out = tokio::task::spawn_blocking(move || connect.wait_with_output()).await??;
        let _ = forward.kill();
        let said = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success(), "dlv connect: {}\n{said}", String::from_utf8_lossy(&out.stderr));
        let listed = said.lines().find(|l| l.trim_end().ends_with("goroutines]")).context(said.to_string())?;
        ensure!(said.contains("main.main.gowrap1") || said.contains("main.leakOne"), "{said}");
        let resumed = answers_within(&pods, &pod, Duration::from_secs(30))
            .await
            .context("the program does not run after the client left with exit -c (30 s)")?;

        let st = wait_for(&requests, "session", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let ended = started.elapsed();
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let delve = st.targets[0].summary.as_ref().and_then(|s| s.delve.as_ref()).context("delve summary")?;
        ensure!(delve.resumed == Some(true) && delve.responded == Some(true), "{delve:#?}");
        let after = pods.get(&pod).await?;
        ensure!(restarts(&after) == 0 && ephemeral_count(&after) == 1, "{:#?}", after.status);
        let ec = after.status.as_ref().and_then(|s| s.ephemeral_container_statuses.as_ref()).context("ephemeral status")?;
        let term = ec[0].state.as_ref().and_then(|s| s.terminated.as_ref()).context("the debugger container ended")?;
        ensure!(term.exit_code == 0, "debugger container: {term:#?}");
        ensure!(healthz(&pods, &pod).await, "the program answers after godiag detached");
        common::figure(&format!(
            "delve session: open {:.1}s after the request; a real dlv connect listed {}, and after its exit -c the program answered within {:.1}s; ended (ttl 40s) {:.1}s after the request, dlv ran {} ms",
            opened.as_secs_f64(),
            listed.trim(),
            resumed.as_secs_f64(),
            ended.as_secs_f64(),
            delve.dlv_ran_ms.unwrap_or(0)
        ));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn deleting_a_session_request_detaches_before_the_object_goes() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("sessiondel", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp(&ns, "brief", &["-listen=127.0.0.1:6060"]).await?;
        let pod = the_pod(&client, &ns, "brief").await?.name_any();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let spec = delve_spec("brief", serde_json::json!({"mode": "Session", "session": {"ttl": "30m"}}));
        let requests: Api<DiagnosisRequest> = create_request(&ns, "held", spec).await?;
        let open = wait_for(&requests, "held", "the session to open", TIMEOUT, session_open()).await?;
        ensure!(open.finalizers().iter().any(|f| f == "godiag.dev/cleanup"), "{:?}", open.metadata.finalizers);
        let uid = open.uid().context("uid")?;
        let deleted = Instant::now();
        requests.delete("held", &DeleteParams::default()).await?;
        wait_for(
            &requests,
            "held",
            "the request to be gone",
            TIMEOUT,
            kube::runtime::wait::conditions::is_deleted(&uid),
        )
        .await
        .map(|_| ())
        .or_else(|e| if e.to_string().contains("does not exist") { Ok(()) } else { Err(e) })?;
        let gone = deleted.elapsed();
        let after = pods.get(&pod).await?;
        let ec =
            after.status.as_ref().and_then(|s| s.ephemeral_container_statuses.as_ref()).context("ephemeral status")?;
        let term = ec[0].state.as_ref().and_then(|s| s.terminated.as_ref()).context("the debugger container ended")?;
        ensure!(term.exit_code == 0, "debugger container: {term:#?}");
        ensure!(term.message.as_deref().is_some_and(|m| m.contains("\"resumed\":true")), "{term:#?}");
        ensure!(restarts(&after) == 0 && healthz(&pods, &pod).await, "the program runs on: {:#?}", after.status);
        common::figure(&format!(
            "delve session request deleted: godiag detached and the object was gone {:.1}s later (ttl was 30m)",
            gone.as_secs_f64()
        ));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_operator_killed_mid_session_has_the_new_leader_end_it() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("sessionkill", |client, ns| async move {
        label_namespace(&client, &ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
        deploy_goapp(&ns, "orphan", &["-listen=127.0.0.1:6060"]).await?;
        let pod = the_pod(&client, &ns, "orphan").await?.name_any();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let spec = delve_spec("orphan", serde_json::json!({"mode": "Session", "session": {"ttl": "30m"}}));
        let requests: Api<DiagnosisRequest> = create_request(&ns, "orphaned", spec).await?;
        wait_for(&requests, "orphaned", "the session to open", TIMEOUT, session_open()).await?;
        let killed = Instant::now();
        kill_leader().await?;
        let st = wait_for(&requests, "orphaned", "the request's Complete condition", REQUEST_TIMEOUT, complete())
            .await?
            .status
            .context("status")?;
        let (reason, message) = delve_failure(&st.targets[0])
            .map(|(r, m)| (r.to_string(), m.to_string()))
            .or_else(|| Some((st.targets[0].reason.clone()?, st.targets[0].message.clone()?)))
            .context("a reason")?;
        ensure!(reason == "DelveInterrupted", "{reason}: {message}");
        let after = wait_for(&pods, &pod, "the debugger container to end", TIMEOUT, |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.ephemeral_container_statuses.as_ref())
                .is_some_and(|ec| ec.iter().all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some())))
        })
        .await?;
        let ec =
            after.status.as_ref().and_then(|s| s.ephemeral_container_statuses.as_ref()).context("ephemeral status")?;
        let term = ec[0].state.as_ref().and_then(|s| s.terminated.as_ref()).context("terminated")?;
        ensure!(
            term.exit_code == 0 && !term.message.as_deref().unwrap_or("").contains("\"deadlineHit\":true"),
            "{term:#?}"
        );
        ensure!(restarts(&after) == 0 && healthz(&pods, &pod).await, "the program runs on: {:#?}", after.status);
        common::figure(&format!(
            "operator killed mid-session: the new leader ended the session and the request {:.1}s after the kill",
            killed.elapsed().as_secs_f64()
        ));
        Ok(())
    })
    .await
}
