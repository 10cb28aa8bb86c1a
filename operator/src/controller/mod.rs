//! The DiagnosisRequest controller.

pub mod analysis;
pub mod baseline;
pub mod cluster_diagnoser;
pub mod diagnoser;
pub mod error;
pub mod finalizer;
pub mod finish;
pub mod last_crash;
pub mod pod_check;
pub mod progress;
pub mod reconcile;
pub mod resources;
pub mod running;
pub mod select;
pub mod siblings;
pub mod status;
pub mod target_failure;
#[cfg(test)]
pub(crate) mod test_pods;
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
    /// Reconcile failures go here to become Events (published by [`run`], not by a task each).
    failure_events: mpsc::Sender<FailureEvent>,
}

/// What [`run`] consumes beside the context: the reconcile requests of finished collections and
/// the reconcile failures that become Events.
pub struct ControllerInputs {
    pub trigger: mpsc::UnboundedReceiver<ObjectRef<DiagnosisRequest>>,
    failure_events: mpsc::Receiver<FailureEvent>,
}

impl Context {
    pub fn new(
        client: Client,
        diagnoser: Arc<dyn Diagnoser>,
        max_concurrent_targets: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, ControllerInputs) {
        let reporter = Reporter { controller: "godiag".into(), instance: std::env::var("POD_NAME").ok() };
        let (tx, rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(FAILURE_EVENTS_QUEUED);
        let ctx = Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            diagnoser,
            running: RunningTasks::default(),
            limit: Arc::new(Semaphore::new(max_concurrent_targets.max(1))),
            metrics,
            trigger: tx,
            failure_events: events_tx,
        };
        (Arc::new(ctx), ControllerInputs { trigger: rx, failure_events: events_rx })
    }
}

/// A reconcile failure to tell the user about, as a Warning Event on the request.
struct FailureEvent {
    request: Arc<DiagnosisRequest>,
    reason: &'static str,
    note: String,
}

/// Reconcile failures waiting for their Event; a burst beyond this is only logged.
const FAILURE_EVENTS_QUEUED: usize = 64;

fn error_policy(req: Arc<DiagnosisRequest>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, reason = err.reason(), request = %ObjectRef::from_obj(req.as_ref()), "reconcile failed; retrying");
    ctx.metrics.reconcile_errors.get_or_create(&ReasonLabel { reason: err.reason() }).inc();
    let event = FailureEvent { request: req, reason: err.reason(), note: err.to_string() };
    if ctx.failure_events.try_send(event).is_err() {
        tracing::debug!("failure event queue full; the log line above is the record");
    }
    Action::requeue(Duration::from_secs(10))
}

/// Publishes the failure Events one after another, for as long as the controller runs.
async fn publish_failure_events(ctx: Arc<Context>, mut rx: mpsc::Receiver<FailureEvent>) {
    while let Some(e) = rx.recv().await {
        reconcile::publish(&ctx, &e.request, EventType::Warning, e.reason, "Reconcile", e.note).await;
    }
}

/// Runs the controller until shutdown (SIGTERM/Ctrl-C).
pub async fn run(api: Api<DiagnosisRequest>, ctx: Arc<Context>, inputs: ControllerInputs) {
    let events = publish_failure_events(ctx.clone(), inputs.failure_events);
    let controller = Controller::new(api, watcher::Config::default().any_semantic());
    let cancel_deleted = cancel_deleted_requests(ctx.clone(), controller.store());
    let controller = controller
        .reconcile_on(UnboundedReceiverStream::new(inputs.trigger))
        .shutdown_on_signal()
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(request = %obj, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile loop"),
            }
        });
    // The publisher and the canceller never end on their own; the controller ends on
    // SIGTERM/Ctrl-C.
    let helpers = futures::future::join(events, cancel_deleted);
    futures::pin_mut!(controller, helpers);
    futures::future::select(controller, helpers).await;
}

/// How often running collections are checked against the requests that still exist.
const DELETION_CHECK: Duration = Duration::from_secs(2);

/// Cancels the collections of deleted requests. Reads the controller's own cache of requests
/// (no API calls), once it has been filled.
async fn cancel_deleted_requests(ctx: Arc<Context>, requests: kube::runtime::reflector::Store<DiagnosisRequest>) {
    if requests.wait_until_ready().await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(DELETION_CHECK);
    loop {
        tick.tick().await;
        let live: std::collections::HashSet<String> =
            requests.state().iter().filter_map(|r| r.metadata.uid.clone()).collect();
        let cancelled = ctx.running.cancel_deleted(|uid| live.contains(uid));
        if cancelled > 0 {
            tracing::info!(collections = cancelled, "requests were deleted: their running collections were cancelled");
        }
    }
}
