//! The `DiagnosisRequest` custom resource: which pods to diagnose and what to collect.
//! Every `///` comment on a field is user documentation: it is what `kubectl explain` prints.

use super::baseline::BaselineSpec;
use super::delve::DelveSpec;
use super::kind::ProfileKind;
use super::status::DiagnosisRequestStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to diagnose and what to collect. Immutable once created.
// kube's printcolumn(...) repeats `type_ = "string"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "godiag.dev",
    version = "v1alpha1",
    kind = "DiagnosisRequest",
    namespaced,
    status = "DiagnosisRequestStatus",
    derive = "PartialEq",
    shortname = "diag",
    shortname = "dr",
    category = "godiag",
    cel,
    doc = "Asks godiag to collect Go diagnostics (pprof profiles, goroutine dumps, an execution trace) from pods in this namespace, store every artifact, and summarise what it found in the status. A request runs once: when it reaches Succeeded, PartiallySucceeded or Failed it is never collected again; create a new request for a new diagnosis.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Where the request is"),
    printcolumn(
        name = "Targets",
        type_ = "string",
        json_path = ".status.progress",
        description = "Pods finished / pods selected"
    ),
    printcolumn(name = "Summary", type_ = "string", json_path = ".status.summary", description = "What godiag found"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec is immutable: a DiagnosisRequest runs once; create a new request instead"))]
#[x_kube(validation = Rule::new("!has(self.baseline) || has(self.pprof) || (!has(self.delve) && !(has(self.lastCrash) && self.lastCrash))").message("baseline compares pprof collections: set pprof (or leave delve and lastCrash unset for the default pprof)"))]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisRequestSpec {
    /// Which pods to diagnose, in the namespace of this request.
    pub targets: Targets,
    /// What to collect from each pod's Go `net/http/pprof` server. Unset, and `delve` and
    /// `lastCrash` unset too: a 30s CPU profile, the heap, all goroutines and a 5s execution
    /// trace from the pod's declared pprof port. Unset with `delve` or `lastCrash` set: no pprof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pprof: Option<PprofSpec>,
    /// Attach the Delve debugger and snapshot every goroutine. Only in namespaces labelled
    /// `godiag.dev/delve=enabled`. With `pprof` also set, pprof runs first and Delve after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delve: Option<DelveSpec>,
    /// Also read the Go crash that ended each pod's previous container: godiag reads that
    /// container's log through the API server (like `kubectl logs --previous`), finds the
    /// runtime's crash output in it (`panic:`, `fatal error:`, a SIGQUIT dump), stores it as
    /// `crash.txt` and names the panic, the program's function and line, and the restart count.
    /// Alone (`pprof` and `delve` unset) nothing else is collected, and the pod's container may
    /// be waiting in CrashLoopBackOff.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_crash: bool,
    /// Also profile, in the same window and with the same `pprof` settings, up to
    /// `baseline.siblings` healthy siblings of each target — Running pods of the same owner
    /// (ReplicaSet, StatefulSet, …) that are not targets, 20 at most in all — and compare each
    /// target with them: the functions whose share of CPU, heap or allocations grew most, the
    /// goroutine groups only or mostly in the target, the trace figures side by side. Shares are
    /// of each pod's own total, so a busier sibling is no regression. Siblings are listed in
    /// `status.targets` with role Sibling; their failures do not fail the request. With no
    /// sibling, the request runs anyway and condition BaselineSelected says why. pprof only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSpec>,
    /// Delete this request (its artifacts stay in storage) this many seconds after it finished.
    /// Unset: keep it until someone deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// Which pods to diagnose: set exactly one of `selector` or `pods`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("has(self.selector) != has(self.pods)").message("set exactly one of targets.selector or targets.pods"))]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    /// Pods whose labels match this selector. Only Running pods are diagnosed, up to `maxPods`,
    /// oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pods named explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    pub pods: Option<Vec<String>>,
    /// The container running the Go program. Defaults to the pod's first container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// At most this many pods are diagnosed (1–20).
    #[serde(default = "default_max_pods")]
    #[schemars(range(min = 1, max = 20))]
    pub max_pods: i32,
}

fn default_max_pods() -> i32 {
    5
}

/// How godiag reaches the pod's pprof server.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    /// Through the API server's pod port-forward (like `kubectl port-forward`): needs no
    /// pod-network reachability and works when pprof listens only on 127.0.0.1 in the pod.
    #[default]
    PortForward,
    /// Straight to the pod's IP: cheaper, but pprof must listen on the pod's network interface
    /// and the operator must be able to reach the pod network.
    #[serde(rename = "PodIP")]
    PodIp,
}

/// What to collect from the Go `net/http/pprof` server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.port) && has(self.portName))").message("set at most one of pprof.port or pprof.portName"))]
#[serde(rename_all = "camelCase")]
pub struct PprofSpec {
    /// Container port of the pprof server. godiag only connects to the port a pod declares for
    /// pprof — its `godiag.dev/pprof-port` annotation (a number or a port name), else its
    /// container port named `pprof` — so when set, this must be that port (else the pod fails
    /// with PortNotDeclared). Unset: the declared port. (An operator run with
    /// GODIAG_PORT_POLICY=Any connects to this port as given, default 6060.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Name of the container port of the pprof server (looked up in the pod spec); like `port`, it
    /// must be the port the pod declares for pprof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// URL path where `net/http/pprof` is mounted.
    #[serde(default = "default_path")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9._~/-]*$"))]
    pub path: String,
    /// How godiag reaches the pprof server: PortForward (default) or PodIP.
    #[serde(default)]
    pub access: Access,
    /// Which diagnostics to collect. cpu and trace span a window; the others are snapshots taken
    /// inside that window. goroutine is stored both as a pprof profile and as the `debug=2` text dump.
    #[serde(default = "default_profiles")]
    #[schemars(length(min = 1, max = 8))]
    #[x_kube(validation = Rule::new("self.all(k, self.exists_one(j, j == k))").message("profiles must not repeat a kind"))]
    pub profiles: Vec<ProfileKind>,
    /// Length of the CPU profile, between 1s and 10m (e.g. 30s, 1m30s). It must be shorter than
    /// the Go server's WriteTimeout.
    #[serde(default = "default_duration")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('10m')").message("duration must be between 1s and 10m"))]
    pub duration: String,
    /// Length of the execution trace, between 1s and 60s. Traces grow fast: a few seconds is
    /// usually enough.
    #[serde(default = "default_trace_duration")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('60s')").message("traceDuration must be between 1s and 60s"))]
    pub trace_duration: String,
}

fn default_path() -> String {
    "/debug/pprof".into()
}
fn default_profiles() -> Vec<ProfileKind> {
    vec![ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Goroutine, ProfileKind::Trace]
}
fn default_duration() -> String {
    "30s".into()
}
fn default_trace_duration() -> String {
    "5s".into()
}

impl Default for PprofSpec {
    fn default() -> Self {
        PprofSpec {
            port: None,
            port_name: None,
            path: default_path(),
            access: Access::default(),
            profiles: default_profiles(),
            duration: default_duration(),
            trace_duration: default_trace_duration(),
        }
    }
}

impl DiagnosisRequestSpec {
    /// What pprof collects: the spec's own, the defaults when neither pprof nor delve is set,
    /// else nothing.
    pub fn effective_pprof(&self) -> Option<PprofSpec> {
        match (&self.pprof, &self.delve) {
            (Some(p), _) => Some(p.clone()),
            (None, None) if !self.last_crash => Some(PprofSpec::default()),
            _ => None,
        }
    }
}

impl PprofSpec {
    /// The port godiag uses when neither `port` nor `portName` is set.
    pub const DEFAULT_PORT: i32 = 6060;
}
