//! Prometheus metrics. Labels are bounded: phases, kinds and error reasons (`&'static str`), never
//! object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Counter,
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    pub requests_finished: Family<PhaseLabel, Counter>,
    pub target_failures: Family<ReasonLabel, Counter>,
    pub artifacts: Family<KindLabel, Counter>,
    pub artifact_bytes: Family<KindLabel, Counter>,
    pub target_seconds: Histogram,
    pub analysis_failures: Family<ReasonLabel, Counter>,
    /// 1 while this replica holds the Lease and runs the controller.
    pub leader: Gauge,
    /// Alerts in webhook deliveries that were parsed.
    pub alerts_received: Counter,
    /// What each alert did with each trigger (created, duplicate, cooldown, ...).
    pub alert_outcomes: Family<OutcomeLabel, Counter>,
    /// Webhook deliveries refused, by reason (WrongToken, TooLarge, BadPayload, Unavailable, ...).
    pub webhook_rejected: Family<ReasonLabel, Counter>,
    /// Time to handle an accepted delivery (matching, status writes, creates).
    pub webhook_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("godiag");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        let requests_finished = Family::<PhaseLabel, Counter>::default();
        let target_failures = Family::<ReasonLabel, Counter>::default();
        let artifacts = Family::<KindLabel, Counter>::default();
        let artifact_bytes = Family::<KindLabel, Counter>::default();
        let target_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let analysis_failures = Family::<ReasonLabel, Counter>::default();
        let leader = Gauge::default();
        let alerts_received = Counter::default();
        let alert_outcomes = Family::<OutcomeLabel, Counter>::default();
        let webhook_rejected = Family::<ReasonLabel, Counter>::default();
        let webhook_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "webhook_alerts_received",
            "Alerts in Alertmanager webhook deliveries",
            alerts_received.clone(),
        );
        registry.register(
            "webhook_alert_outcomes",
            "What each received alert did with each trigger: created, duplicate, cooldown, tooManyActive, suspended, noTarget, invalidTrigger, failed, noMatchingTrigger, resolvedIgnored",
            alert_outcomes.clone(),
        );
        registry.register("webhook_rejected", "Webhook deliveries refused, by reason", webhook_rejected.clone());
        registry.register(
            "webhook_delivery_seconds",
            "Time to handle an accepted webhook delivery",
            webhook_seconds.clone(),
        );
        registry.register("leader", "1 while this replica holds the Lease and runs the controller", leader.clone());
        registry.register("reconciles", "Reconcile passes of DiagnosisRequests", reconciles.clone());
        registry.register("reconcile_errors", "Reconcile passes that failed, by reason", reconcile_errors.clone());
        registry.register(
            "requests_finished",
            "DiagnosisRequests that reached a terminal phase",
            requests_finished.clone(),
        );
        registry.register("target_failures", "Pods whose collection failed, by reason", target_failures.clone());
        registry.register("artifacts_stored", "Artifacts stored, by kind", artifacts.clone());
        registry.register("artifact_bytes", "Bytes of artifacts stored, by kind", artifact_bytes.clone());
        registry.register(
            "target_collection_seconds",
            "Time to collect everything from one pod",
            target_seconds.clone(),
        );
        registry.register(
            "analysis_failures",
            "Stored artifacts that could not be analysed, by reason",
            analysis_failures.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            requests_finished,
            target_failures,
            artifacts,
            artifact_bytes,
            target_seconds,
            analysis_failures,
            leader,
            alerts_received,
            alert_outcomes,
            webhook_rejected,
            webhook_seconds,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
