//! Why a Delve snapshot of one pod failed: typed, each with a stable [`reason`](DelveFailure::reason)
//! and a message that says what to change. The target is left running in every case.

use crate::api::delve::{DELVE_OPT_IN_LABEL, DELVE_OPT_IN_VALUE};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelveFailure {
    #[error(
        "namespace {namespace} has not opted in to Delve (its API is unauthenticated code execution): label it with `kubectl label namespace {namespace} {DELVE_OPT_IN_LABEL}={DELVE_OPT_IN_VALUE}`; nothing was added to the pod"
    )]
    NotEnabled { namespace: String },
    #[error(
        "Pod Security level {level} of namespace {namespace} refuses the {profile} debugger container. {advice}. It objected: {violations}"
    )]
    PodSecurityRejected { namespace: String, level: String, profile: &'static str, violations: String, advice: String },
    #[error("{0}")]
    IdentityUnknown(String),
    #[error("the API server does not offer ephemeral containers (pods/ephemeralcontainers): {detail}")]
    EphemeralContainersUnavailable { detail: String },
    #[error("cannot add the debugger container: {detail}")]
    PatchFailed { detail: String },
    #[error(
        "the debugger image {image} cannot be pulled: {detail}; set spec.delve.image or the operator's delve image"
    )]
    ImagePullFailed { image: String, detail: String },
    #[error("Delve could not attach: {message}")]
    AttachRefused { message: String },
    #[error(
        "the program has no debug information (built with -ldflags=\"-s -w\" or stripped): Delve cannot read it. Rebuild without -s -w (the DWARF costs disk, not memory or speed). Delve said: {message}"
    )]
    NoDebugInfo { message: String },
    #[error("{0}")]
    GoVersionUnsupported(String),
    #[error("the target process has exited: {detail}")]
    TargetExited { detail: String },
    #[error(
        "the pause reached maxPause ({max_pause}) after {read} goroutines: the partial snapshot is stored and the target was detached"
    )]
    MaxPauseReached { max_pause: String, read: usize },
    #[error(
        "godiag restarted while Delve was attached: the debugger container {container} is already in the pod, and an ephemeral container cannot be added twice; godiag waited for it to end. Create a new request for a new snapshot.{outcome}"
    )]
    Interrupted { container: String, outcome: String },
    #[error("dlv did not answer within {waited_s}s: {detail}")]
    TimedOut { waited_s: u64, detail: String },
    #[error("talking to Delve failed: {detail}")]
    ProtocolError { detail: String },
    #[error("the target process was left stopped after Delve detached: {detail}")]
    TargetNotResumed { detail: String },
    #[error("{0}")]
    LocationNotFound(String),
    #[error("{0}")]
    ConditionInvalid(String),
    #[error("{0}")]
    TracepointRefused(String),
    #[error(
        "the trace ended early after {hits} hits: {detail}; the hits so far are stored, the tracepoints cleared and the program detached"
    )]
    ConditionFailed { hits: usize, detail: String },
    #[error("cannot store the snapshot: {detail}")]
    StorageFailed { detail: String },
    #[error("cannot read the pod or namespace: {detail}")]
    KubeApiError { detail: String },
}

/// The stable reasons of [`DelveFailure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
pub enum DelveReason {
    DelveNotEnabled,
    PodSecurityRejected,
    DelveIdentityUnknown,
    EphemeralContainersUnavailable,
    DelvePatchFailed,
    DelveImagePullFailed,
    DelveAttachRefused,
    NoDebugInfo,
    GoVersionUnsupported,
    TargetExited,
    MaxPauseReached,
    DelveLocationNotFound,
    DelveConditionInvalid,
    DelveTracepointRefused,
    DelveConditionFailed,
    DelveInterrupted,
    DelveTimedOut,
    DelveProtocolError,
    TargetNotResumed,
    StorageWriteFailed,
    KubeApiError,
}

impl DelveReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl DelveFailure {
    pub fn reason(&self) -> DelveReason {
        match self {
            DelveFailure::NotEnabled { .. } => DelveReason::DelveNotEnabled,
            DelveFailure::PodSecurityRejected { .. } => DelveReason::PodSecurityRejected,
            DelveFailure::IdentityUnknown(_) => DelveReason::DelveIdentityUnknown,
            DelveFailure::EphemeralContainersUnavailable { .. } => DelveReason::EphemeralContainersUnavailable,
            DelveFailure::PatchFailed { .. } => DelveReason::DelvePatchFailed,
            DelveFailure::ImagePullFailed { .. } => DelveReason::DelveImagePullFailed,
            DelveFailure::AttachRefused { .. } => DelveReason::DelveAttachRefused,
            DelveFailure::NoDebugInfo { .. } => DelveReason::NoDebugInfo,
            DelveFailure::GoVersionUnsupported(_) => DelveReason::GoVersionUnsupported,
            DelveFailure::TargetExited { .. } => DelveReason::TargetExited,
            DelveFailure::MaxPauseReached { .. } => DelveReason::MaxPauseReached,
            DelveFailure::LocationNotFound(_) => DelveReason::DelveLocationNotFound,
            DelveFailure::ConditionInvalid(_) => DelveReason::DelveConditionInvalid,
            DelveFailure::TracepointRefused(_) => DelveReason::DelveTracepointRefused,
            DelveFailure::ConditionFailed { .. } => DelveReason::DelveConditionFailed,
            DelveFailure::Interrupted { .. } => DelveReason::DelveInterrupted,
            DelveFailure::TimedOut { .. } => DelveReason::DelveTimedOut,
            DelveFailure::ProtocolError { .. } => DelveReason::DelveProtocolError,
            DelveFailure::TargetNotResumed { .. } => DelveReason::TargetNotResumed,
            DelveFailure::StorageFailed { .. } => DelveReason::StorageWriteFailed,
            DelveFailure::KubeApiError { .. } => DelveReason::KubeApiError,
        }
    }

    /// What dlv printed when it exited, classified: the attach refusals name their cause.
    pub fn from_dlv_output(output: &str) -> DelveFailure {
        let message = godiag_analyze::text::clip(output.trim(), 400);
        let lower = output.to_ascii_lowercase();
        if lower.contains("could not find debug info")
            || lower.contains("no debug info")
            || lower.contains("could not open debug info")
            || lower.contains("debuggee must not be built")
            || lower.contains("decoding dwarf section")
        {
            DelveFailure::NoDebugInfo { message }
        } else if lower.contains("has exited") || lower.contains("no such process") {
            DelveFailure::TargetExited { detail: message }
        } else {
            DelveFailure::AttachRefused { message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlv_messages_are_classified_and_quoted() {
        let f = DelveFailure::from_dlv_output(
            "could not attach to pid 1: this could be caused by a kernel security setting, try writing \"0\" to /proc/sys/kernel/yama/ptrace_scope",
        );
        assert_eq!(f.reason(), DelveReason::DelveAttachRefused);
        assert!(f.to_string().contains("ptrace_scope"), "{f}");
        let f = DelveFailure::from_dlv_output(
            "could not attach to pid 1: could not open debug info - debuggee must not be built with 'go run' or -ldflags='-s -w', which strip debug info",
        );
        assert_eq!(f.reason(), DelveReason::NoDebugInfo);
        assert!(f.to_string().contains("Rebuild without -s -w"), "{f}");
        let f = DelveFailure::NotEnabled { namespace: "shop".into() };
        assert!(f.to_string().contains("kubectl label namespace shop godiag.dev/delve=enabled"), "{f}");
    }
}
