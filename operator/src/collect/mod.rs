//! Talking to a Go process: pprof and trace over HTTP/1.1 on any byte stream (plain TCP here;
//! the controller brings a Kubernetes port-forward [`Connector`]), streamed into an
//! [`ArtifactStore`](crate::store::ArtifactStore).

mod body;
mod connector;
mod error;
mod http;
mod pipeline;
pub mod plan;
pub mod portforward;
pub mod quirks;
pub mod window;

pub use connector::{AsyncReadWrite, BoxedIo, Connector, TcpConnector};
pub use error::{ArtifactReason, CollectError};
pub use pipeline::{StoredSender, collect_target};
pub use plan::{ByteCaps, CollectPlan};
pub use window::WindowGate;

use crate::store::StoredObject;
use crate::store::manifest::{ArtifactEntry, FailureEntry, TargetEntry};
use godiag_analyze::ArtifactKind;

/// What one target yielded.
#[derive(Debug, Default)]
pub struct TargetOutcome {
    /// Stored artifacts, in plan order.
    pub artifacts: Vec<CollectedArtifact>,
    /// Artifacts that could not be collected, in plan order.
    pub failures: Vec<KindFailure>,
    /// Optional artifacts the program does not offer (goroutineleak before Go 1.27).
    pub unavailable: Vec<ArtifactKind>,
    /// When the CPU profile and trace window began (none for snapshots only).
    pub window_start: Option<jiff::Timestamp>,
}

/// One stored artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectedArtifact {
    /// What it is (its format follows from the kind).
    pub kind: ArtifactKind,
    /// Where it is, its size and SHA-256.
    pub object: StoredObject,
    /// Something a reader should know, e.g. "empty: the program never called runtime.SetBlockProfileRate".
    pub note: Option<String>,
}

/// One artifact that could not be collected.
#[derive(Debug)]
pub struct KindFailure {
    /// The artifact that was attempted (`goroutine` and `goroutineText` fail separately).
    pub kind: ArtifactKind,
    /// Why.
    pub error: CollectError,
}

/// What a pod's message says about optional artifacts its program does not offer.
pub fn unavailable_note(kinds: &[ArtifactKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    format!(
        "not offered by the program: {} (goroutineleak needs Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile)",
        names.join(", ")
    )
}

impl TargetOutcome {
    /// The manifest entry for this target.
    pub fn to_manifest(&self, name: &str, source: &str) -> TargetEntry {
        TargetEntry {
            name: name.to_owned(),
            source: source.to_owned(),
            sibling: false,
            owner: None,
            artifacts: self
                .artifacts
                .iter()
                .map(|a| ArtifactEntry::new(a.kind, a.object.clone(), a.note.clone()))
                .collect(),
            failures: self
                .failures
                .iter()
                .map(|f| FailureEntry::new(f.kind, f.error.reason(), f.error.to_string()))
                .collect(),
            error: None,
            window_start: self.window_start,
        }
    }
}
