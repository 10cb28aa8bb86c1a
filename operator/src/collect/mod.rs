//! Talking to a Go process: pprof and trace over HTTP/1.1 on any byte stream (plain TCP here;
//! the controller brings a Kubernetes port-forward [`Connector`]), streamed into an
//! [`ArtifactStore`](crate::store::ArtifactStore).

mod body;
pub mod cli;
mod connector;
mod error;
mod http;
mod pipeline;
pub mod plan;
pub mod portforward;
pub mod quirks;
pub mod samples;

pub use crate::store::ArtifactFormat;
pub use connector::{AsyncReadWrite, BoxedIo, Connector, TcpConnector};
pub use error::CollectError;
pub use pipeline::collect_target;
pub use plan::CollectPlan;

use crate::api::ProfileKind;
use crate::store::StoredObject;
use crate::store::manifest::{ArtifactEntry, FailureEntry, TargetEntry};

/// What one target yielded.
#[derive(Debug, Default)]
pub struct TargetOutcome {
    /// Stored artifacts, in plan order.
    pub artifacts: Vec<CollectedArtifact>,
    /// Kinds (or formats of a kind) that failed, in plan order.
    pub failures: Vec<KindFailure>,
}

/// One stored artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectedArtifact {
    /// Profile kind.
    pub kind: ProfileKind,
    /// Encoding of the stored bytes.
    pub format: ArtifactFormat,
    /// Where it is, its size and SHA-256.
    pub object: StoredObject,
    /// Something a reader should know, e.g. "empty: the program never called runtime.SetBlockProfileRate".
    pub note: Option<String>,
}

/// One kind (in one format) that could not be collected.
#[derive(Debug)]
pub struct KindFailure {
    /// Profile kind.
    pub kind: ProfileKind,
    /// The format that was attempted (`goroutine` is fetched as pprof and as text).
    pub format: ArtifactFormat,
    /// Why.
    pub error: CollectError,
}

impl TargetOutcome {
    /// The manifest entry for this target.
    pub fn to_manifest(&self, name: &str, source: &str) -> TargetEntry {
        TargetEntry {
            name: name.to_owned(),
            source: source.to_owned(),
            artifacts: self
                .artifacts
                .iter()
                .map(|a| ArtifactEntry {
                    kind: a.kind,
                    format: a.format,
                    object: a.object.clone(),
                    note: a.note.clone(),
                })
                .collect(),
            failures: self
                .failures
                .iter()
                .map(|f| FailureEntry {
                    kind: f.kind,
                    format: f.format,
                    reason: f.error.reason().to_owned(),
                    message: f.error.to_string(),
                })
                .collect(),
            error: None,
        }
    }
}
