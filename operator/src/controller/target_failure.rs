//! Why a pod could not be diagnosed at all, as opposed to one artifact failing
//! ([`ArtifactReason`](crate::collect::ArtifactReason)). Each failure has a stable
//! [`reason`](TargetFailure::reason) and a message that says what to change.

/// The pod-level reasons a target's `reason` field can hold (per-artifact reasons are
/// [`ArtifactReason`](crate::collect::ArtifactReason)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
pub enum TargetReason {
    /// A named pod does not exist.
    PodNotFound,
    /// The pod is being deleted.
    PodTerminating,
    /// The pod is not Running (Pending, Succeeded, Failed, Unknown).
    PodNotRunning,
    /// The requested container is not in the pod.
    ContainerMissing,
    /// The container exists but is waiting or terminated.
    ContainerNotRunning,
    /// `pprof.portName` names no port of the container, or the port is out of range.
    PortNotFound,
    /// The pod does not declare the port godiag would connect to as its pprof port.
    PortNotDeclared,
    /// `access: PodIP` but the pod has no IP yet.
    #[strum(serialize = "NoPodIP")]
    NoPodIp,
    /// A duration in the spec cannot be parsed (only objects older than the schema).
    InvalidDuration,
    /// The API server failed while godiag read the pod.
    KubeApiError,
    /// The pod was deleted while godiag collected from it.
    PodDeleted,
    /// The operator restarted during collection more often than godiag retries.
    OperatorRestarted,
    /// A bug in godiag: the collection panicked.
    InternalError,
    /// godiag stopped while it analysed the pod's stored artifacts: they are kept, the summary is
    /// missing (nothing is collected again).
    AnalysisCrashed,
    /// Progress, not a failure: the operator restarted mid-collection and collection started again.
    CollectionRestarted,
}

impl TargetReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A pod that cannot be diagnosed, with the details its message needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetFailure {
    #[error("pod {pod} does not exist in namespace {namespace}")]
    PodNotFound { pod: String, namespace: String },
    #[error("pod {pod} is being deleted")]
    PodTerminating { pod: String },
    #[error("pod {pod} is {phase}, not Running: nothing to profile")]
    PodNotRunning { pod: String, phase: String },
    #[error("pod {pod}: {detail}")]
    ContainerMissing { pod: String, detail: String },
    #[error("container {container} of pod {pod} is {state}")]
    ContainerNotRunning { pod: String, container: String, state: String },
    #[error("pod {pod}: {detail}")]
    PortNotFound { pod: String, detail: String },
    #[error("pod {pod}: {detail}")]
    PortNotDeclared { pod: String, detail: String },
    #[error("pod {pod} has no IP yet; use access: PortForward")]
    NoPodIp { pod: String },
    #[error("{0}")]
    InvalidDuration(String),
    #[error("cannot read pod {pod}: {error}")]
    KubeApiError { pod: String, error: String },
    #[error("pod {pod} was {} during collection; nothing was stored for it", if *.gone { "deleted" } else { "being deleted" })]
    PodDeleted { pod: String, gone: bool },
    #[error("godiag restarted {attempts} times while collecting from this pod; nothing was collected")]
    OperatorRestarted { attempts: i32 },
    #[error("collection panicked; see the operator log")]
    InternalError,
}

impl TargetFailure {
    pub fn reason(&self) -> TargetReason {
        match self {
            TargetFailure::PodNotFound { .. } => TargetReason::PodNotFound,
            TargetFailure::PodTerminating { .. } => TargetReason::PodTerminating,
            TargetFailure::PodNotRunning { .. } => TargetReason::PodNotRunning,
            TargetFailure::ContainerMissing { .. } => TargetReason::ContainerMissing,
            TargetFailure::ContainerNotRunning { .. } => TargetReason::ContainerNotRunning,
            TargetFailure::PortNotFound { .. } => TargetReason::PortNotFound,
            TargetFailure::PortNotDeclared { .. } => TargetReason::PortNotDeclared,
            TargetFailure::NoPodIp { .. } => TargetReason::NoPodIp,
            TargetFailure::InvalidDuration(_) => TargetReason::InvalidDuration,
            TargetFailure::KubeApiError { .. } => TargetReason::KubeApiError,
            TargetFailure::PodDeleted { .. } => TargetReason::PodDeleted,
            TargetFailure::OperatorRestarted { .. } => TargetReason::OperatorRestarted,
            TargetFailure::InternalError => TargetReason::InternalError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_published_names() {
        assert_eq!(TargetReason::NoPodIp.as_str(), "NoPodIP");
        assert_eq!(
            TargetFailure::PodNotFound { pod: "a".into(), namespace: "shop".into() }.reason().as_str(),
            "PodNotFound"
        );
        let gone = TargetFailure::PodDeleted { pod: "a".into(), gone: true };
        assert_eq!(gone.to_string(), "pod a was deleted during collection; nothing was stored for it");
        let going = TargetFailure::PodDeleted { pod: "a".into(), gone: false };
        assert_eq!(going.to_string(), "pod a was being deleted during collection; nothing was stored for it");
    }
}
