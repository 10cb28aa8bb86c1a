//! `godiag run`: the operator process. The controller and the HTTP server run side by side; if
//! either ends, the process ends (no detached critical task).

use crate::api::DiagnosisRequest;
use crate::cli::RunArgs;
use crate::controller::{self, Context};
use crate::http::{HttpState, router};
use crate::metrics::Metrics;
use crate::worker::{AnalysisWorker, WorkerLimits};
use anyhow::Context as _;
use kube::api::ListParams;
use kube::{Api, Client};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client =
        Client::try_default().await.context("cannot build a Kubernetes client (KUBECONFIG or in-cluster config)")?;
    let shown = crate::store::url::redact(&args.storage_url);
    let storage = crate::store::OperatorStorage {
        quota: args.storage_quota_bytes,
        // One spool per pod: replicas may share the volume, and each cleans only its own leftovers.
        spool_dir: Some(args.spool_dir.join(std::env::var("POD_NAME").unwrap_or_else(|_| "local".into()))),
        retry_window: args.storage_retry,
    };
    let (store, (files, bytes)) = crate::store::open_for_operator(&args.storage_url, &storage)
        .with_context(|| format!("cannot open storage {shown}"))?;
    if files > 0 {
        tracing::info!(files, bytes, "removed staging files of uploads interrupted by an earlier stop");
    }
    let metrics = Arc::new(Metrics::default());
    let mut diagnoser = controller::cluster_diagnoser::ClusterDiagnoser::new(
        client.clone(),
        store,
        metrics.clone(),
        args.caps.caps(),
        controller::analysis::Analyzer::Worker(analysis_worker(&args)?),
    );
    diagnoser.port_policy = args.port_policy.into();
    diagnoser.delve.image = args.delve.delve_image.clone();
    diagnoser.delve.attach_timeout = args.delve.delve_attach_timeout;
    let diagnoser = Arc::new(diagnoser);
    let (ctx, inputs) = Context::new(client.clone(), diagnoser, args.max_concurrent_targets, metrics.clone());
    let api: Api<DiagnosisRequest> = match &args.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let leader_gauge = metrics.leader.clone();
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.http_addr))?;
    tracing::info!(addr = %args.http_addr, storage = %shown, "godiag operator starting");
    let webhook_metrics = metrics.clone();
    let server = axum::serve(listener, router(HttpState { metrics, ready: ready.clone() }));

    // The HTTP server answers from the start: /readyz says 503 until the CRD is served.
    // Every replica is ready once the CRD is served (a standby is ready to take over); only
    // the Lease holder runs the controller.
    let controller = async {
        wait_for_crd(&api).await;
        ready.store(true, Ordering::Relaxed);
        crate::leader::run_when_leader(client.clone(), &args.leader, leader_gauge, controller::run(api, ctx, inputs))
            .await
    };
    // The Alertmanager receiver runs on every replica, leader or not.
    let webhook = async {
        match args.webhook.listen() {
            Some(config) => {
                let triggers: Api<crate::api::DiagnosisTrigger> = match &args.watch_namespace {
                    Some(ns) => Api::namespaced(client.clone(), ns),
                    None => Api::all(client.clone()),
                };
                crate::webhook::run(client.clone(), triggers, config, webhook_metrics).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        res = controller => { tracing::info!("controller stopped"); res }
        res = server => res.context("HTTP server failed"),
        res = webhook => res.context("Alertmanager receiver failed"),
    }
}

/// The analysis worker: this very binary, bounded as configured.
fn analysis_worker(args: &RunArgs) -> anyhow::Result<AnalysisWorker> {
    let program = std::env::current_exe().context("cannot find the godiag binary to start analysis workers")?;
    let limits =
        WorkerLimits { max_memory: args.analysis.analysis_max_memory, timeout: args.analysis.analysis_timeout };
    Ok(AnalysisWorker::new(program, limits, args.analysis.analysis_concurrency))
}

/// Lists DiagnosisRequests until it works (the CRD is installed and godiag may list them),
/// retrying with backoff up to 30s between attempts and saying why in the log.
async fn wait_for_crd(api: &Api<DiagnosisRequest>) {
    let mut delay = Duration::from_secs(1);
    loop {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => return,
            Err(e) => tracing::warn!(
                error = %e,
                retry_in = ?delay,
                "cannot list DiagnosisRequests: is the CRD installed (kubectl apply -k crds/) and may godiag list them? /readyz answers 503 until then"
            ),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}
