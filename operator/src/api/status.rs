//! Status of a `DiagnosisRequest`, written only by godiag (server-side apply, field manager `godiag`).

use super::baseline::TargetRole;
use super::kind::{ArtifactFormat, ArtifactKind};
use super::summary::TargetSummary;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest `status.summary` godiag writes.
pub const SUMMARY_MAX: usize = 240;
/// Longest message of one pod.
pub const TARGET_MESSAGE_MAX: usize = 1024;
/// Longest message of one failed artifact.
pub const FAILURE_MESSAGE_MAX: usize = 512;
/// Longest reason.
pub const REASON_MAX: usize = 64;

/// What godiag observed and did for this request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisRequestStatus {
    /// Pending, Running, Succeeded (every pod collected), PartiallySucceeded (some pods failed)
    /// or Failed (no pod could be collected, or no pod matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When collection started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the request reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods finished / pods selected, e.g. `2/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// One line on what godiag found across all pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = SUMMARY_MAX))]
    pub summary: Option<String>,
    /// Where this request's artifacts and `manifest.json` are stored; open them with
    /// `go tool pprof` or `go tool trace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_root: Option<String>,
    /// The request's report: one self-contained HTML page (summary, findings, flame graphs,
    /// sibling comparison, every artifact with the command that opens it). Open it from a copy,
    /// a presigned URL or the bucket's static website; `godiag report` renders it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// TargetsResolved (which pods were selected), BaselineSelected (with `spec.baseline`: which
    /// siblings, or why there are none) and Complete (True once the request is finished;
    /// its reason is the final phase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// One entry per selected pod, fixed when the request starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["pod"]))]
    pub targets: Vec<TargetStatus>,
}

/// Lifecycle of a request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted; targets not resolved yet.
    Pending,
    /// Collecting from the selected pods.
    Running,
    /// Every selected pod was collected.
    Succeeded,
    /// Some pods were collected and some failed; see each target's message.
    PartiallySucceeded,
    /// Nothing was collected; see the conditions and each target's message.
    Failed,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::PartiallySucceeded => "PartiallySucceeded",
            Phase::Failed => "Failed",
        }
    }
}

/// What happened for one pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// Pod name.
    pub pod: String,
    /// Target (diagnosed) or Sibling (collected for `spec.baseline` to compare with).
    #[serde(default, skip_serializing_if = "TargetRole::is_target")]
    pub role: TargetRole,
    /// The pod's owner, `Kind/name` (with `spec.baseline`): targets are compared with the
    /// siblings of the same owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The container whose Go program is diagnosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Pending, Collecting, SessionOpen, Analyzing, Succeeded or Failed.
    pub phase: TargetPhase,
    /// Machine-readable cause of the current phase. Why the pod could not be diagnosed:
    /// PodNotFound, PodTerminating, PodNotRunning, ContainerMissing, ContainerNotRunning,
    /// PortNotFound, PortNotDeclared, NoPodIP, InvalidDuration, KubeApiError, PodDeleted, OperatorRestarted,
    /// AnalysisCrashed or InternalError; CollectionRestarted while godiag collects again after a restart; or,
    /// when an artifact failed, the reason of the first entry in `failures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = REASON_MAX))]
    pub reason: Option<String>,
    /// What happened, in words; says what to change when something failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = TARGET_MESSAGE_MAX))]
    pub message: Option<String>,
    /// How many times collection was started for this pod (an operator restart mid-collection
    /// starts it again once).
    #[serde(default)]
    pub attempts: i32,
    /// Stored artifacts: where each lives, its size and sha256. Never the bytes themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactStatus>,
    /// Artifacts that could not be collected from this pod, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<KindFailureStatus>,
    /// What godiag read in this pod's artifacts: top functions, goroutines by state, trace
    /// figures and findings. Small and bounded; the full analysis is in `summary.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<TargetSummary>,
    /// Where the full analysis (`summary.json`) and the flame graph SVGs of this pod are stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
    /// When this pod's CPU profile and trace window began. The pods of a request start their
    /// windows together (within about a second), so their figures describe the same moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<MicroTime>,
}

/// Lifecycle of one pod's collection: Pending, Collecting, SessionOpen (a Delve session is
/// attached: connect with the commands in `summary.delve.session` until its deadline), Analyzing
/// (everything is stored and listed in `artifacts`; the summary is being computed), Succeeded or
/// Failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TargetPhase {
    Pending,
    Collecting,
    SessionOpen,
    Analyzing,
    Succeeded,
    Failed,
}

impl TargetPhase {
    pub fn is_terminal(self) -> bool {
        matches!(self, TargetPhase::Succeeded | TargetPhase::Failed)
    }
}

/// One stored artifact.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStatus {
    /// What was collected.
    pub kind: ArtifactKind,
    /// How the bytes are encoded: pprof (open with `go tool pprof`), goroutineText (the
    /// `debug=2` dump), trace (open with `go tool trace`) or delveJson (Delve's answers).
    pub format: ArtifactFormat,
    /// Where it is stored.
    pub uri: String,
    /// Size in bytes.
    pub bytes: i64,
    /// Hex sha256 of the stored bytes.
    pub sha256: String,
    /// Something worth knowing about this artifact, e.g. that a block profile is empty because the
    /// program never set a profiling rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An artifact that could not be collected from one pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindFailureStatus {
    /// The artifact that failed.
    pub kind: ArtifactKind,
    /// Machine-readable cause: NoPprofEndpoint, ProfileNotAvailable, ConnectFailed,
    /// CpuProfilerBusy, TracerBusy, DurationExceedsWriteTimeout, PprofError, HttpError,
    /// UnexpectedBody, Timeout, BodyInterrupted, ArtifactTooLarge, HttpProtocolError,
    /// InvalidTarget, InvalidObjectPath, StorageWriteFailed or StorageQuotaExceeded; for the last
    /// crash (kind crash): NoPreviousContainer, NoGoCrashInLog or LogUnavailable; for the Delve
    /// snapshot (kind delveSnapshot) or trace (kind delveTrace): DelveNotEnabled,
    /// PodSecurityRejected, DelveIdentityUnknown, EphemeralContainersUnavailable, DelvePatchFailed,
    /// DelveImagePullFailed, DelveAttachRefused, NoDebugInfo, GoVersionUnsupported, TargetExited,
    /// MaxPauseReached, DelveLocationNotFound, DelveConditionInvalid, DelveTracepointRefused,
    /// DelveConditionFailed, DelveInterrupted, DelveTimedOut, DelveProtocolError, TargetNotResumed,
    /// StorageWriteFailed or KubeApiError.
    #[schemars(length(max = REASON_MAX))]
    pub reason: String,
    /// What happened and what to change.
    #[schemars(length(max = FAILURE_MESSAGE_MAX))]
    pub message: String,
}
