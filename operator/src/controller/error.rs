//! Errors of one reconcile pass. Each has a stable `reason()` used for Events and metric labels.

use super::diagnoser::DiagnoserError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("invalid label selector: {0}")]
    InvalidSelector(String),
    #[error(transparent)]
    Diagnoser(#[from] DiagnoserError),
    #[error("DiagnosisRequest has no {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::InvalidSelector(_) => "InvalidSelector",
            Error::Diagnoser(e) => e.reason(),
            Error::MissingMetadata(_) => "MissingMetadata",
        }
    }
}
