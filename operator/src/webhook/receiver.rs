//! The receiver's Kubernetes side: match a delivery's alerts against the triggers (a watched
//! cache), then per trigger read its status and its requests, [`decide`], write the status
//! conditional on its resourceVersion (so replicas and retries agree), and create the requests.
//! No diagnosis runs here: the controller picks the created requests up.

use super::decide::{Observed, TriggerEvent, decide, mark_created};
use super::matcher::CompiledTrigger;
use super::outcome::{AlertReply, Outcome, Reply, SuppressReason};
use super::payload::{AlertStatus, Payload};
use super::target::TRIGGER_LABEL;
use crate::api::{DiagnosisRequest, DiagnosisTrigger, DiagnosisTriggerStatus};
use crate::metrics::{Metrics, OutcomeLabel};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Field manager of the trigger status the receiver writes.
pub const FIELD_MANAGER: &str = "godiag-webhook";
/// Attempts at a conditional status write before the delivery is answered 503 (retried).
const WRITE_ATTEMPTS: usize = 20;

/// A short random pause after a lost conditional write, so that two replicas handling the same
/// trigger do not keep colliding in step (5–50 ms).
async fn conflict_pause() {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    tokio::time::sleep(std::time::Duration::from_millis(5 + r % 46)).await;
}

/// Why a delivery cannot be handled now; Alertmanager retries a 5xx, so nothing is lost.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("the trigger cache is not synced yet (is the DiagnosisTrigger CRD installed?)")]
    NotSynced,
    #[error("the Kubernetes API failed: {0}")]
    Api(String),
    #[error("the status of trigger {0} kept changing under concurrent deliveries")]
    Contended(String),
    #[error("the receiver's worker for trigger {0} stopped")]
    WorkerGone(String),
}

impl From<kube::Error> for Unavailable {
    fn from(e: kube::Error) -> Self {
        Unavailable::Api(e.to_string())
    }
}

/// Alerts of one delivery for one trigger, waiting for the trigger's worker.
struct Pending {
    alerts: Vec<super::payload::Alert>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Outcome>, Unavailable>>,
}

/// A trigger's deliveries not yet decided, and whether a worker is draining them.
#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    draining: bool,
}

pub struct Receiver {
    triggers: Store<DiagnosisTrigger>,
    worker: Worker,
    metrics: Arc<Metrics>,
    /// Per trigger, the deliveries waiting: one worker task per trigger decides for all of them
    /// at once (one read, one conditional status write), so a burst costs a few API calls, not
    /// a few per alert. Replicas are ordered by the status's resourceVersion.
    queues: std::sync::Mutex<HashMap<ObjectRef<DiagnosisTrigger>, Arc<std::sync::Mutex<Queue>>>>,
}

/// What a trigger's worker task needs (cheap to clone into it).
#[derive(Clone)]
struct Worker {
    client: Client,
    recorder: Recorder,
}

impl Receiver {
    pub fn new(client: Client, triggers: Store<DiagnosisTrigger>, recorder: Recorder, metrics: Arc<Metrics>) -> Self {
        Receiver { triggers, worker: Worker { client, recorder }, metrics, queues: Default::default() }
    }

    /// Handles one delivery: what each alert did, or why nothing could be decided now.
    pub async fn handle(&self, payload: &Payload) -> Result<Reply, Unavailable> {
        let ready = tokio::time::timeout(std::time::Duration::from_secs(5), self.triggers.wait_until_ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            return Err(Unavailable::NotSynced);
        }
        let triggers: Vec<Arc<DiagnosisTrigger>> = self.triggers.state();
        let compiled: Vec<Result<CompiledTrigger, _>> = triggers.iter().map(|t| CompiledTrigger::compile(t)).collect();
        let mut lines: Vec<(usize, AlertReply)> = Vec::new();
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, alert) in payload.alerts.iter().enumerate() {
            self.metrics.alerts_received.inc();
            if alert.status == AlertStatus::Resolved {
                lines.push((i, AlertReply::new(alert.name(), &alert.fingerprint, None, &Outcome::ResolvedIgnored)));
                continue;
            }
            let mut any = false;
            for (ti, (t, c)) in triggers.iter().zip(&compiled).enumerate() {
                match c {
                    Ok(c) if c.matches(&alert.labels) => {
                        groups.entry(ti).or_default().push(i);
                        any = true;
                    }
                    Ok(_) => {}
                    Err(invalid) if alert.name() == t.spec.alert_name => {
                        let o = Outcome::Suppressed {
                            reason: SuppressReason::InvalidTrigger,
                            message: invalid.to_string(),
                            until: None,
                        };
                        lines.push((i, AlertReply::new(alert.name(), &alert.fingerprint, Some(key(t)), &o)));
                        any = true;
                    }
                    Err(_) => {}
                }
            }
            if !any {
                lines.push((i, AlertReply::new(alert.name(), &alert.fingerprint, None, &Outcome::NoMatchingTrigger)));
            }
        }
        for (ti, idx) in groups {
            let trigger = &triggers[ti];
            let alerts = idx.iter().map(|i| payload.alerts[*i].clone()).collect();
            let outcomes = self.for_trigger(trigger, alerts).await?;
            for (i, o) in idx.iter().zip(outcomes) {
                let a = &payload.alerts[*i];
                lines.push((*i, AlertReply::new(a.name(), &a.fingerprint, Some(key(trigger)), &o)));
            }
        }
        lines.sort_by_key(|(i, _)| *i);
        for (_, l) in &lines {
            self.metrics.alert_outcomes.get_or_create(&OutcomeLabel { outcome: l.outcome }).inc();
        }
        Ok(Reply { alerts: lines.into_iter().map(|(_, l)| l).collect() })
    }

    /// Queues the alerts for the trigger's worker (starting one if none drains its queue) and
    /// waits for their outcomes. The worker is a task of its own: a delivery whose sender hung up
    /// does not stop the decisions of the others batched with it.
    async fn for_trigger(
        &self,
        cached: &Arc<DiagnosisTrigger>,
        alerts: Vec<super::payload::Alert>,
    ) -> Result<Vec<Outcome>, Unavailable> {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            queues.entry(ObjectRef::from_obj(cached.as_ref())).or_default().clone()
        };
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let start = {
            let mut q = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            q.pending.push(Pending { alerts, reply });
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            let worker = self.worker.clone();
            let cached = cached.clone();
            tokio::spawn(async move { worker.drain(&cached, &queue).await });
        }
        outcome.await.unwrap_or_else(|_| Err(Unavailable::WorkerGone(key(cached))))
    }
}

impl Worker {
    /// Decides for every queued delivery of one trigger, batch after batch, until none is left.
    async fn drain(&self, cached: &DiagnosisTrigger, queue: &std::sync::Mutex<Queue>) {
        loop {
            let batch = {
                let mut q = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if q.pending.is_empty() {
                    q.draining = false;
                    return;
                }
                std::mem::take(&mut q.pending)
            };
            let alerts: Vec<&super::payload::Alert> = batch.iter().flat_map(|p| p.alerts.iter()).collect();
            // A bug here must not leave the trigger's queue stuck: the batch gets 503s instead.
            let result =
                futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(self.decide_and_act(cached, &alerts)))
                    .await
                    .unwrap_or_else(|_| Err(Unavailable::WorkerGone(key(cached))));
            let mut outcomes = match result {
                Ok(o) => o.into_iter(),
                Err(e) => {
                    for p in batch {
                        let _ = p.reply.send(Err(e.clone()));
                    }
                    continue;
                }
            };
            for p in batch {
                let mine: Vec<Outcome> = outcomes.by_ref().take(p.alerts.len()).collect();
                let _ = p.reply.send(Ok(mine));
            }
        }
    }

    /// Decides and acts for alerts that matched one trigger.
    async fn decide_and_act(
        &self,
        cached: &DiagnosisTrigger,
        alerts: &[&super::payload::Alert],
    ) -> Result<Vec<Outcome>, Unavailable> {
        let ns = cached.namespace().unwrap_or_default();
        let name = cached.name_any();
        let triggers: Api<DiagnosisTrigger> = Api::namespaced(self.client.clone(), &ns);
        let requests: Api<DiagnosisRequest> = Api::namespaced(self.client.clone(), &ns);
        let mut attempt = 0;
        let (trigger, mut decision) = loop {
            attempt += 1;
            if attempt > WRITE_ATTEMPTS {
                return Err(Unavailable::Contended(format!("{ns}/{name}")));
            }
            let Some(trigger) = triggers.get_opt(&name).await? else {
                // Deleted since the cache saw it.
                return Ok(alerts.iter().map(|_| Outcome::NoMatchingTrigger).collect());
            };
            let observed = observe(&requests, &name).await?;
            let decision = decide(&trigger, alerts, &observed, jiff::Timestamp::now());
            match write_status(&triggers, &trigger, &decision.status).await {
                Ok(()) => break (trigger, decision),
                Err(kube::Error::Api(s)) if s.code == 409 => conflict_pause().await,
                Err(e) => return Err(e.into()),
            }
        };
        let (mut created, mut refused) = (Vec::new(), Vec::new());
        for req in std::mem::take(&mut decision.create) {
            let rname = req.name_any();
            match requests.create(&PostParams::default(), &req).await {
                Ok(_) => created.push(rname),
                Err(kube::Error::Api(s)) if s.code == 409 => created.push(rname),
                Err(kube::Error::Api(s)) if s.code < 500 && s.code != 429 => {
                    tracing::warn!(trigger = %name, request = %rname, error = %s.message, "the API server refused the request");
                    refused.push(rname.clone());
                    for o in decision.outcomes.iter_mut() {
                        if matches!(o, Outcome::Created { request } if *request == rname) {
                            *o = Outcome::Failed {
                                message: format!("creating DiagnosisRequest {rname} failed: {}", s.message),
                            };
                        }
                    }
                    self.event(
                        &trigger,
                        &TriggerEvent {
                            warning: true,
                            reason: "CreateFailed",
                            note: format!("Creating DiagnosisRequest {rname} failed: {}", s.message),
                        },
                    )
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !created.is_empty() || !refused.is_empty() {
            self.mark_created(&triggers, &name, &created, &refused).await?;
        }
        for ev in &decision.events {
            self.event(&trigger, ev).await;
        }
        Ok(decision.outcomes)
    }

    /// Second write after the creates: the claimed requests are now Active, the refused ones
    /// forgotten.
    async fn mark_created(
        &self,
        api: &Api<DiagnosisTrigger>,
        name: &str,
        created: &[String],
        refused: &[String],
    ) -> Result<(), Unavailable> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(t) = api.get_opt(name).await? else { return Ok(()) };
            let mut status = t.status.clone().unwrap_or_default();
            mark_created(&mut status, created, refused);
            match write_status(api, &t, &status).await {
                Ok(()) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => conflict_pause().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Unavailable::Contended(name.to_string()))
    }

    async fn event(&self, trigger: &DiagnosisTrigger, ev: &TriggerEvent) {
        let type_ = if ev.warning { EventType::Warning } else { EventType::Normal };
        crate::controller::reconcile::publish_to(
            &self.recorder,
            &trigger.object_ref(&()),
            type_,
            ev.reason,
            "Alert",
            &ev.note,
        )
        .await;
    }
}

fn key(t: &DiagnosisTrigger) -> String {
    format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any())
}

/// The requests labelled with this trigger, and whether each has finished.
async fn observe(api: &Api<DiagnosisRequest>, trigger: &str) -> Result<BTreeMap<String, Observed>, kube::Error> {
    let list = api.list(&ListParams::default().labels(&format!("{TRIGGER_LABEL}={trigger}"))).await?;
    Ok(list
        .items
        .into_iter()
        .map(|r| {
            let finished = r.status.as_ref().and_then(|s| s.phase).is_some_and(|p| p.is_terminal());
            (r.name_any(), Observed { finished })
        })
        .collect())
}

/// Server-side apply of the whole status, conditional on the resourceVersion the decision was
/// made from: a concurrent writer makes it fail with 409, and the caller decides again.
async fn write_status(
    api: &Api<DiagnosisTrigger>,
    read: &DiagnosisTrigger,
    status: &DiagnosisTriggerStatus,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": DiagnosisTrigger::api_version(&()),
        "kind": DiagnosisTrigger::kind(&()),
        "metadata": {"name": read.name_any(), "resourceVersion": read.resource_version()},
        "status": status,
    });
    api.patch_status(&read.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}
