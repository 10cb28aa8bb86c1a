//! The DiagnosisRequest controller.

pub mod analysis;
pub mod cluster_diagnoser;
pub mod diagnoser;
pub mod error;
pub mod pod_check;
pub mod progress;
pub mod reconcile;
pub mod running;
pub mod select;
pub mod status;
pub mod target_failure;
pub mod to_api;

use crate::api::DiagnosisRequest;
use crate::metrics::{Metrics, ReasonLabel};
use diagnoser::Diagnoser;
use error::Error;
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client};
use running::RunningTasks;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Everything a reconcile pass needs.
pub struct Context {
    pub client: Client,
    pub diagnoser: Arc<dyn Diagnoser>,
    pub recorder: Recorder,
    pub running: RunningTasks,
    /// Operator-wide bound on pods collected at the same time.
    pub limit: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    /// Finished collections ask for a reconcile of their request here.
    pub trigger: mpsc::UnboundedSender<ObjectRef<DiagnosisRequest>>,
}

impl Context {
    pub fn new(
        client: Client,
        diagnoser: Arc<dyn Diagnoser>,
        max_concurrent_targets: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<ObjectRef<DiagnosisRequest>>) {
        let reporter = Reporter { controller: "godiag".into(), instance: std::env::var("POD_NAME").ok() };
        let (tx, rx) = mpsc::unbounded_channel();
        let ctx = Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            diagnoser,
            running: RunningTasks::default(),
            limit: Arc::new(Semaphore::new(max_concurrent_targets.max(1))),
            metrics,
            trigger: tx,
        };
        (Arc::new(ctx), rx)
    }
}

fn error_policy(req: Arc<DiagnosisRequest>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, reason = err.reason(), request = %ObjectRef::from_obj(req.as_ref()), "reconcile failed; retrying");
    ctx.metrics.reconcile_errors.get_or_create(&ReasonLabel { reason: err.reason() }).inc();
    let (ctx2, req2, reason, note) = (ctx.clone(), req.clone(), err.reason(), err.to_string());
    tokio::spawn(async move { reconcile::publish(&ctx2, &req2, EventType::Warning, reason, "Reconcile", note).await });
    Action::requeue(Duration::from_secs(10))
}

/// Runs the controller until shutdown (SIGTERM/Ctrl-C).
pub async fn run(
    api: Api<DiagnosisRequest>,
    ctx: Arc<Context>,
    trigger: mpsc::UnboundedReceiver<ObjectRef<DiagnosisRequest>>,
) {
    Controller::new(api, watcher::Config::default().any_semantic())
        .reconcile_on(UnboundedReceiverStream::new(trigger))
        .shutdown_on_signal()
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(request = %obj, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile loop"),
            }
        })
        .await;
}
