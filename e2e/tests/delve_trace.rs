//! Delve mode Trace on the real cluster: goapp's `/order` handler under a steady request load
//! (one keep-alive connection through the API server's port-forward), traced in
//! `(*Shop).Price` with a condition and captured arguments. The status shows the captured
//! values; the stop budget holds (and the load generator's longest gap is measured); the
//! program keeps serving and is never restarted; a hit limit of 5 ends the trace after exactly
//! 5 hits; an unknown function fails before anything stops the program.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, ensure};
use common::godiag::{
    HOST_ARTIFACTS, POD_ARTIFACTS, apply_request, delve_spec, deploy_goapp, install_godiag, label_namespace, restarts,
    the_pod,
};
use common::with_temp_ns;
use godiag::api::{ArtifactKind, DelveTraceSummary, Phase, TargetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// What the load generator saw: when each answer came (since it started), and its errors.
struct Load {
    answers: Vec<Duration>,
    errors: usize,
    started: jiff::Timestamp,
}

impl Load {
    /// The longest time between two answers, of the gaps that start within `[from, to)`
    /// (offsets from the start).
    fn longest_gap(&self, from: Duration, to: Duration) -> Duration {
        self.answers.windows(2).filter(|w| w[0] >= from && w[0] < to).map(|w| w[1] - w[0]).max().unwrap_or_default()
    }

    fn median_gap(&self, from: Duration, to: Duration) -> Duration {
        let mut gaps: Vec<Duration> =
            self.answers.windows(2).filter(|w| w[0] >= from && w[1] < to).map(|w| w[1] - w[0]).collect();
        gaps.sort();
        gaps.get(gaps.len() / 2).copied().unwrap_or_default()
    }
}

/// `GET /order?customer=cN&qty=Q` every ~20 ms on one keep-alive connection through a
/// port-forward (a new connection after an error), until `stop`.
async fn order_load(pods: Api<Pod>, pod: String, stop: Arc<AtomicBool>) -> Load {
    let t0 = Instant::now();
    let mut load = Load { answers: Vec::new(), errors: 0, started: jiff::Timestamp::now() };
    let mut i: u64 = 0;
    'connect: while !stop.load(Ordering::Relaxed) {
        let Ok(mut pf) = pods.portforward(&pod, &[6060]).await else {
            load.errors += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Some(io) = pf.take_stream(6060) else { continue };
        let mut io = BufReader::new(io);
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let req = format!("GET /order?customer=c{}&qty={} HTTP/1.1\r\nHost: goapp\r\n\r\n", i % 5, i % 12);
            let answered = tokio::time::timeout(Duration::from_secs(10), async {
                io.get_mut().write_all(req.as_bytes()).await.ok()?;
                let mut len = 0usize;
                let mut status = String::new();
                io.read_line(&mut status).await.ok()?;
                loop {
                    let mut h = String::new();
                    io.read_line(&mut h).await.ok()?;
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().ok()?;
                    }
                }
                let mut body = vec![0; len];
                io.read_exact(&mut body).await.ok()?;
                status.starts_with("HTTP/1.1 200").then_some(())
            })
            .await;
            match answered {
                Ok(Some(())) => load.answers.push(t0.elapsed()),
                _ => {
                    load.errors += 1;
                    continue 'connect;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    load
}

/// goapp as `shop` in a namespace opted in to Delve, with [`order_load`] running against it.
async fn shop_under_load(
    client: &kube::Client,
    ns: &str,
) -> Result<(Api<Pod>, Pod, Arc<AtomicBool>, tokio::task::JoinHandle<Load>)> {
    label_namespace(client, ns, serde_json::json!({"godiag.dev/delve": "enabled"})).await?;
    deploy_goapp(ns, "shop", &["-listen=127.0.0.1:6060", "-workers=0"]).await?;
    let pod = the_pod(client, ns, "shop").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(order_load(pods.clone(), pod.name_any(), stop.clone()));
    Ok((pods, pod, stop, load))
}

fn trace_of(t: &TargetStatus) -> Result<&DelveTraceSummary> {
    t.summary.as_ref().and_then(|s| s.delve.as_ref()).and_then(|d| d.trace.as_ref()).context("a trace summary")
}

#[tokio::test]
async fn a_trace_captures_arguments_under_load_within_its_stop_budget() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("trace", |client, ns| async move {
        let (pods, pod, stop, load) = shop_under_load(&client, &ns).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let spec = delve_spec(
            "shop",
            serde_json::json!({
                "mode": "Trace",
                "tracepoints": [{
                    "name": "price",
                    "location": "main.(*Shop).Price",
                    "condition": "o.Qty >= 10",
                    "capture": ["o.Customer", "o.Qty"],
                    "arguments": true,
                    "stackDepth": 5
                }],
                "trace": {"window": "10s", "maxHits": 1000, "stopBudget": "300ms"}
            }),
        );
        let req = apply_request(&ns, "price", spec).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let load = load.await?;
        let st = req.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let t = &st.targets[0];
        let delve = t.summary.as_ref().and_then(|s| s.delve.as_ref()).context("delve summary")?;
        let tr = trace_of(t)?;
        ensure!(delve.resumed == Some(true), "{delve:#?}");
        ensure!(tr.hits > 0, "no hits under load: {tr:#?}");
        ensure!(tr.ended_by == "WindowEnded" || tr.ended_by == "StopBudget", "{tr:#?}");
        ensure!(tr.stopped_ms <= 300.0, "the stop budget did not hold: {tr:#?}");
        let p = &tr.tracepoints[0];
        ensure!(p.location.starts_with("main.(*Shop).Price at ") && p.hits == tr.hits, "{p:#?}");
        // The condition held at every recorded hit: only quantities 10 and 11 came through.
        let qty = p.values.iter().find(|v| v.expression == "o.Qty").context("o.Qty values")?;
        ensure!(
            qty.distinct <= 2 && qty.top.iter().all(|v| v.ends_with("× 10") || v.ends_with("× 11")),
            "{qty:#?}"
        );
        let customers = p.values.iter().find(|v| v.expression == "o.Customer").context("o.Customer values")?;
        ensure!(customers.top.iter().all(|v| v.contains("\"c")), "{customers:#?}");
        for kind in [ArtifactKind::DelveTrace, ArtifactKind::DelveTraceText] {
            let a = t.artifacts.iter().find(|a| a.kind == kind).with_context(|| format!("{kind:?} in {t:#?}"))?;
            let host = PathBuf::from(a.uri.trim_start_matches("file://").replacen(POD_ARTIFACTS, HOST_ARTIFACTS, 1));
            let body = std::fs::read_to_string(&host).with_context(|| host.display().to_string())?;
            ensure!(body.len() as i64 == a.bytes, "{}", a.uri);
            if kind == ArtifactKind::DelveTraceText {
                ensure!(body.contains("arg   o = main.Order{Customer: \"c"), "{}", &body[..body.len().min(2000)]);
            }
        }
        let after = pods.get(&pod.name_any()).await?;
        ensure!(restarts(&after) == 0, "the program restarted: {:#?}", after.status);
        // The load generator's view: its longest gap inside the window (the gap that ends at the
        // first continue belongs to the attach and the setup), and overall (the attach stops the
        // program while dlv loads the binary's debug info).
        let started: jiff::Timestamp = tr.started.parse()?;
        let from = Duration::try_from(started.duration_since(load.started)).unwrap_or_default();
        let to = from + Duration::from_millis(tr.window_ms);
        let in_window = load.longest_gap(from, to);
        let overall = load.longest_gap(Duration::ZERO, Duration::MAX);
        let answered_after = load.answers.iter().filter(|a| **a > to + Duration::from_millis(500)).count();
        ensure!(answered_after > 0, "the program kept serving after the trace: {} answers in all", load.answers.len());
        ensure!(load.errors == 0, "{} requests failed", load.errors);
        common::figure(&format!(
            "delve trace of (*Shop).Price under load ({} requests at ~40/s): {} hits in {:.1}s, ended by {}; stopped {:.1} ms at hits (longest {:.1} ms, {:.2} ms per hit; one round trip {:.1} ms), {:.1} ms for the end, {} ms setting up; load generator: longest gap {} ms inside the window (median {} ms before it), {} ms overall (the attach); dlv ran {} ms",
            load.answers.len(),
            tr.hits,
            tr.window_ms as f64 / 1000.0,
            tr.ended_by,
            tr.stopped_ms,
            tr.longest_stop_ms,
            tr.stopped_ms / tr.hits as f64,
            tr.round_trip_ms,
            tr.end_ms,
            tr.setup_ms,
            in_window.as_millis(),
            load.median_gap(Duration::ZERO, from).as_millis(),
            overall.as_millis(),
            delve.dlv_ran_ms.unwrap_or(0)
        ));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_hit_limit_of_five_ends_after_exactly_five_and_an_unknown_function_stops_nothing() -> Result<()> {
    install_godiag().await?;
    with_temp_ns("trace5", |client, ns| async move {
        let (pods, pod, stop, load) = shop_under_load(&client, &ns).await?;
        let five = delve_spec(
            "shop",
            serde_json::json!({
                "mode": "Trace",
                "tracepoints": [{"location": "main.(*Shop).Price", "capture": ["o.Qty"], "maxHits": 5}],
                "trace": {"window": "30s"}
            }),
        );
        let st = apply_request(&ns, "five", five).await?.status.context("status")?;
        ensure!(st.phase == Some(Phase::Succeeded), "{st:#?}");
        let tr = trace_of(&st.targets[0])?;
        ensure!(tr.hits == 5 && tr.tracepoints[0].hits == 5, "{tr:#?}");
        ensure!(tr.ended_by == "TracepointHits", "{tr:#?}");
        ensure!(tr.breaking_hit.as_deref().is_some_and(|h| h.starts_with("tp1 at ")), "{tr:#?}");
        ensure!(tr.window_ms < 30_000, "ended by the limit, not the window: {tr:#?}");

        let missing = delve_spec(
            "shop",
            serde_json::json!({"mode": "Trace", "tracepoints": [{"location": "main.(*Shop).Refund"}]}),
        );
        let st = apply_request(&ns, "missing", missing).await?.status.context("status")?;
        ensure!(st.phase == Some(Phase::Failed), "{st:#?}");
        let t = &st.targets[0];
        let f = t.failures.iter().find(|f| f.kind == ArtifactKind::DelveTrace).context("a trace failure")?;
        ensure!(f.reason == "DelveLocationNotFound", "{f:#?}");
        ensure!(f.message.contains("\"main.(*Shop).Refund\"") && f.message.contains("not found"), "{f:#?}");
        let delve = t.summary.as_ref().and_then(|s| s.delve.as_ref()).context("delve summary")?;
        ensure!(delve.resumed == Some(true), "{delve:#?}");
        stop.store(true, Ordering::Relaxed);
        let load = load.await?;
        ensure!(load.errors == 0 && !load.answers.is_empty(), "{} errors, {} answers", load.errors, load.answers.len());
        let after = pods.get(&pod.name_any()).await?;
        ensure!(restarts(&after) == 0, "the program restarted: {:#?}", after.status);
        common::figure(&format!(
            "delve trace with maxHits 5: {} hits in {:.1}s, stopped {:.1} ms; unknown function: {}",
            tr.hits,
            tr.window_ms as f64 / 1000.0,
            tr.stopped_ms,
            f.reason
        ));
        Ok(())
    })
    .await
}
