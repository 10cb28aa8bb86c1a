//! The `DiagnosisTrigger` custom resource: which Alertmanager alerts start a diagnosis, of which
//! pods, collecting what, and how often. Every `///` comment on a field is user documentation:
//! it is what `kubectl explain` prints.

use super::delve::DelveSpec;
use super::request::PprofSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most requests a trigger remembers in its status (for deduplication and the active count).
pub const REMEMBERED_REQUESTS_MAX: usize = 200;
/// Most cooldown entries a trigger keeps (expired ones are dropped first).
pub const COOLDOWNS_MAX: usize = 500;

/// Turns firing Alertmanager alerts into DiagnosisRequests. Alertmanager posts its webhook
/// (payload version 4) to godiag's receiver, the Service `godiag-webhook` in godiag's namespace;
/// every firing alert whose labels match a trigger becomes one request in the trigger's own
/// namespace, for the pods the alert's labels name. The same firing (fingerprint and startsAt)
/// never creates two requests, however often Alertmanager sends it.
// kube's printcolumn(...) repeats `type_ = "string"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "godiag.dev",
    version = "v1alpha1",
    kind = "DiagnosisTrigger",
    namespaced,
    status = "DiagnosisTriggerStatus",
    derive = "PartialEq",
    shortname = "dtrigger",
    category = "godiag",
    cel,
    doc = "Turns firing Alertmanager alerts into DiagnosisRequests for the pods the alert names, in this namespace, deduplicated and rate limited.",
    printcolumn(
        name = "Alert",
        type_ = "string",
        json_path = ".spec.alertName",
        description = "The alert this trigger answers"
    ),
    printcolumn(
        name = "Matched",
        type_ = "integer",
        json_path = ".status.matched",
        description = "Firing alerts that matched"
    ),
    printcolumn(name = "Created", type_ = "integer", json_path = ".status.created", description = "Requests created"),
    printcolumn(
        name = "Suppressed",
        type_ = "integer",
        json_path = ".status.suppressed",
        description = "Matching alerts that created nothing (cooldown, cap, suspended, no target)"
    ),
    printcolumn(
        name = "Last Request",
        type_ = "string",
        json_path = ".status.lastRequest",
        description = "The newest request created"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisTriggerSpec {
    /// The alert's `alertname` label must be exactly this.
    #[schemars(length(min = 1, max = 253))]
    pub alert_name: String,
    /// Further conditions on the alert's labels; all must hold. Same semantics as Alertmanager's
    /// matchers: `=` and `!=` compare the value (a missing label is the empty string), `=~` and
    /// `!~` match a RE2 regular expression against the whole value (anchored at both ends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub matchers: Vec<LabelMatcher>,
    /// Which pods the request diagnoses, from the alert's labels. Always pods in this trigger's
    /// namespace: an alert whose `namespace` label names another namespace never matches.
    #[serde(default)]
    pub target: TriggerTarget,
    /// What the created request collects: its `pprof` and `delve`, validated like a request's.
    /// Empty: a request's defaults (30s CPU profile, heap, goroutines, 5s trace).
    #[serde(default)]
    pub template: RequestTemplate,
    /// After a request for a target (a pod, or a selector) is created, further alerts for the
    /// same target create nothing for this long (0s–24h, default 10m).
    #[serde(default = "default_cooldown")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('24h')").message("cooldown must be at most 24h"))]
    pub cooldown: String,
    /// At most this many requests of this trigger run at once (1–20, default 1); an alert
    /// beyond it creates nothing (TooManyActive).
    #[serde(default = "default_max_active")]
    #[schemars(range(min = 1, max = 20))]
    pub max_active_requests: i32,
    /// While true, matching alerts are counted but create nothing (Suspended).
    #[serde(default)]
    pub suspend: bool,
}

fn default_cooldown() -> String {
    "10m".into()
}
fn default_max_active() -> i32 {
    1
}

/// One condition on an alert label.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LabelMatcher {
    /// The label's name, e.g. `severity`.
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"), length(max = 128))]
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub operator: MatchOperator,
    /// The value, or for `=~` / `!~` a RE2 regular expression matched against the whole value.
    #[schemars(length(max = 1024))]
    pub value: String,
}

/// Alertmanager's matcher operators.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOperator {
    /// The label's value equals the value.
    #[serde(rename = "=")]
    Equal,
    /// The label's value differs from the value.
    #[serde(rename = "!=")]
    NotEqual,
    /// The whole label value matches the regular expression.
    #[serde(rename = "=~")]
    Regex,
    /// The whole label value does not match the regular expression.
    #[serde(rename = "!~")]
    NotRegex,
}

/// Which pods an alert names. Set `selector` to build a label selector from the alert's labels;
/// otherwise the alert label `podLabel` names the pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.podLabel) && has(self.selector))").message("set at most one of target.podLabel or target.selector"))]
#[serde(rename_all = "camelCase")]
pub struct TriggerTarget {
    /// The alert label whose value is the pod's name. Unset (and no selector): `pod`, which is the
    /// label Prometheus' Kubernetes service discovery and kube-state-metrics put on Go metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"), length(max = 128))]
    pub pod_label: Option<String>,
    /// A label selector (matchLabels) whose values may use the alert's labels: `{{ labels.NAME }}`
    /// is replaced by the value of the alert label NAME, e.g. `app: "{{ labels.service }}"`.
    /// Nothing else is substituted; a label the alert lacks, or a result that is not a valid
    /// label value, means the alert has no target (NoTarget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub selector: Option<BTreeMap<String, String>>,
    /// The container running the Go program. Unset: the pod's first container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// At most this many pods per request (1–20, default 5), for a selector.
    #[serde(default = "default_max_pods")]
    #[schemars(range(min = 1, max = 20))]
    pub max_pods: i32,
}

fn default_max_pods() -> i32 {
    5
}

impl Default for TriggerTarget {
    fn default() -> Self {
        TriggerTarget { pod_label: None, selector: None, container: None, max_pods: default_max_pods() }
    }
}

impl TriggerTarget {
    /// The alert label naming the pod when no selector is set.
    pub fn pod_label(&self) -> &str {
        self.pod_label.as_deref().unwrap_or("pod")
    }
}

/// What a request created by this trigger collects.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestTemplate {
    /// As a DiagnosisRequest's `spec.pprof`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pprof: Option<PprofSpec>,
    /// As a DiagnosisRequest's `spec.delve` (the namespace must opt in to Delve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delve: Option<DelveSpec>,
    /// As a DiagnosisRequest's `spec.lastCrash`: read the Go crash from each pod's previous
    /// container log (for crash-looping alerts such as KubePodCrashLooping).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_crash: bool,
    /// As a DiagnosisRequest's `spec.baseline`: compare the alerting pods with their healthy
    /// siblings, profiled in the same window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<super::BaselineSpec>,
    /// As a DiagnosisRequest's `spec.ttlSecondsAfterFinished`: delete each created request this
    /// long after it finished (its artifacts stay in storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// What this trigger did, written by godiag's receiver. It holds everything the receiver needs
/// to decide (cooldowns, the requests it created), so decisions survive restarts and agree
/// across replicas.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisTriggerStatus {
    /// Firing alerts that matched this trigger (every delivery counts, re-sends included).
    #[serde(default)]
    pub matched: i64,
    /// Requests created.
    #[serde(default)]
    pub created: i64,
    /// Deliveries of a firing that already has its request (Alertmanager's retries, repeats
    /// and HA duplicates).
    #[serde(default)]
    pub deduplicated: i64,
    /// Matching alerts that created nothing; `suppressedBy` says why.
    #[serde(default)]
    pub suppressed: i64,
    /// Suppressed alerts by reason: Cooldown, TooManyActive, Suspended, NoTarget.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suppressed_by: BTreeMap<String, i64>,
    /// The newest request this trigger created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_time: Option<Time>,
    /// The newest suppression, with its reason and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_suppression: Option<Suppression>,
    /// Targets in their cooldown, and until when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["target"]))]
    pub cooldowns: Vec<Cooldown>,
    /// The requests this trigger created, newest last (at most 200; finished ones are dropped
    /// first). A firing whose request is listed here is a duplicate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub requests: Vec<TriggeredRequest>,
}

/// Why a matching alert created nothing, the last time it happened.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    /// Cooldown, TooManyActive, Suspended or NoTarget.
    pub reason: String,
    /// What happened, e.g. which pod is in its cooldown until when.
    pub message: String,
    /// When.
    pub time: Time,
}

/// A target in its cooldown.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cooldown {
    /// `pod/NAME`, or `selector/k=v,…` for a selector.
    pub target: String,
    /// No request for this target before this time.
    pub until: Time,
}

/// A request this trigger created.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggeredRequest {
    /// The request's name (derived from the trigger, the alert's fingerprint and its startsAt).
    pub name: String,
    /// Its target, as in `cooldowns`.
    pub target: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's startsAt.
    pub starts_at: String,
    /// When godiag decided to create it.
    pub created_at: Time,
    /// Claimed (decided, being created), Active (created, not finished) or Finished
    /// (finished or deleted).
    pub state: TriggeredState,
}

/// Where a created request is, as the trigger last saw it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TriggeredState {
    /// Decided; the request is being created.
    Claimed,
    /// Created and not finished: counts against `maxActiveRequests`.
    Active,
    /// Finished, or deleted.
    Finished,
}
