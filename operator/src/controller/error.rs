//! Errors of one reconcile pass. Each has a stable `reason()` used for Events and metric labels.

use super::collector::CollectorError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("invalid label selector: {0}")]
    InvalidSelector(String),
    #[error(transparent)]
    Collector(#[from] CollectorError),
    #[error("DiagnosisRequest has no {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::InvalidSelector(_) => "InvalidSelector",
            Error::Collector(e) => e.reason(),
            Error::MissingMetadata(_) => "MissingMetadata",
        }
    }
}
