//! Why an artifact has no analysis, with a stable reason for metrics and the note in status.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisFailure {
    /// The analysis code refused the input with a precise error (malformed, too large, …).
    #[error("{kind} could not be analysed: {message}")]
    Refused { kind: String, reason: String, message: String },
    /// The worker hit its memory cap (an allocation failed) or the kernel's OOM killer took it.
    #[error("{kind} analysis skipped: needs more than {limit_mib} MiB")]
    OutOfMemory { kind: String, limit_mib: u64 },
    /// The worker ran past its deadline and was killed.
    #[error("{kind} analysis skipped: took longer than {}s", .timeout.as_secs())]
    TimedOut { kind: String, timeout: Duration },
    /// The worker died any other way (a bug in godiag: the stored artifact reproduces it).
    #[error("{kind} analysis crashed ({status}){detail}")]
    Crashed { kind: String, status: String, detail: String },
    /// The worker could not be started or fed (the artifact is stored; only analysis is lost).
    #[error("{kind} not analysed: {message}")]
    Unavailable { kind: String, message: String },
}

impl AnalysisFailure {
    /// Stable reason for the `godiag_analysis_failures_total` metric and logs (a refusal's own
    /// reason, e.g. `MalformedProfile`, is in [`AnalysisFailure::Refused`]).
    pub fn reason(&self) -> &'static str {
        match self {
            AnalysisFailure::Refused { .. } => "AnalysisRefused",
            AnalysisFailure::OutOfMemory { .. } => "AnalysisOutOfMemory",
            AnalysisFailure::TimedOut { .. } => "AnalysisTimedOut",
            AnalysisFailure::Crashed { .. } => "AnalysisCrashed",
            AnalysisFailure::Unavailable { .. } => "AnalysisUnavailable",
        }
    }
}
