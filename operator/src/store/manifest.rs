//! The per-request `manifest.json`: what was collected from which target, sizes, SHA-256,
//! and the failures with their reason and message.

use super::{ArtifactStore, StoreError, StoredObject};
use bytes::Bytes;
use godiag_analyze::{ArtifactFormat, ArtifactKind};
use serde::{Deserialize, Serialize};

/// Version of the manifest layout; bumped on incompatible changes.
pub const MANIFEST_VERSION: u32 = 1;

/// Everything one request collected. Written next to the targets' directories.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Layout version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Namespace of the DiagnosisRequest (absent for `godiag collect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the DiagnosisRequest (absent for `godiag collect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// When collection started.
    pub started: jiff::Timestamp,
    /// When the manifest was written.
    pub finished: jiff::Timestamp,
    /// One entry per target (pod, or the URL given to `godiag collect`).
    pub targets: Vec<TargetEntry>,
}

/// What was collected from one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetEntry {
    /// Pod name, or the directory name used by `godiag collect`.
    pub name: String,
    /// How it was reached, e.g. `127.0.0.1:6060` or `port-forward to pod port 6060`.
    pub source: String,
    /// A healthy sibling collected to compare the targets with (`spec.baseline`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sibling: bool,
    /// The pod's owner, `Kind/name`, with `spec.baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Stored artifacts.
    pub artifacts: Vec<ArtifactEntry>,
    /// Kinds that could not be collected.
    #[serde(default)]
    pub failures: Vec<FailureEntry>,
    /// Why nothing could be collected from this target at all (e.g. the pod was deleted), as
    /// `Reason: message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When its CPU profile and trace window began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<jiff::Timestamp>,
}

/// One stored artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactEntry {
    /// What the artifact is.
    pub kind: ArtifactKind,
    /// Encoding of the bytes.
    pub format: ArtifactFormat,
    /// Where and how big.
    #[serde(flatten)]
    pub object: StoredObject,
    /// Something a reader should know, e.g. why a profile is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One kind that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureEntry {
    /// The artifact that could not be collected.
    pub kind: ArtifactKind,
    /// Which encoding was attempted.
    pub format: ArtifactFormat,
    /// Stable CamelCase reason, e.g. `NoPprofEndpoint`.
    pub reason: String,
    /// Readable explanation.
    pub message: String,
}

impl ArtifactEntry {
    /// The entry of a stored artifact; the format follows from the kind.
    pub fn new(kind: ArtifactKind, object: StoredObject, note: Option<String>) -> Self {
        ArtifactEntry { kind, format: kind.format(), object, note }
    }
}

impl FailureEntry {
    /// The entry of an artifact that could not be collected.
    pub fn new(kind: ArtifactKind, reason: &str, message: String) -> Self {
        FailureEntry { kind, format: kind.format(), reason: reason.to_owned(), message }
    }
}

impl Manifest {
    /// An empty manifest started at `started`.
    pub fn new(namespace: Option<String>, request: Option<String>, started: jiff::Timestamp) -> Self {
        Manifest { version: MANIFEST_VERSION, namespace, request, started, finished: started, targets: Vec::new() }
    }

    /// Number of stored artifacts over all targets.
    pub fn artifact_count(&self) -> usize {
        self.targets.iter().map(|t| t.artifacts.len()).sum()
    }

    /// Pretty JSON bytes.
    pub fn to_json(&self) -> Result<Bytes, serde_json::Error> {
        serde_json::to_vec_pretty(self).map(Bytes::from)
    }

    /// Writes the manifest to `path` in `store`.
    pub async fn write(&self, store: &dyn ArtifactStore, path: &str) -> Result<StoredObject, StoreError> {
        let json = self.to_json().map_err(|source| StoreError::Manifest { uri: store.uri(path), source })?;
        store.put_bytes(path, json).await
    }

    /// Reads a manifest back from `path` in `store`.
    pub async fn read(store: &dyn ArtifactStore, path: &str) -> Result<Manifest, StoreError> {
        let bytes = store.get_bytes(path).await?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Manifest { uri: store.uri(path), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let t = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let mut m = Manifest::new(Some("shop".into()), Some("checkout-slow".into()), t);
        m.targets.push(TargetEntry {
            name: "pod-a".into(),
            source: "127.0.0.1:6060".into(),
            sibling: false,
            owner: None,
            artifacts: vec![ArtifactEntry::new(
                ArtifactKind::Block,
                StoredObject {
                    path: "shop/checkout-slow/pod-a/block.pb.gz".into(),
                    uri: "memory:///shop/checkout-slow/pod-a/block.pb.gz".into(),
                    bytes: 42,
                    sha256: "ab".repeat(32),
                    note: None,
                },
                Some("empty".into()),
            )],
            failures: vec![FailureEntry::new(ArtifactKind::GoroutineText, "Timeout", "too slow".into())],
            error: None,
            window_start: Some(t),
        });
        m
    }

    #[test]
    fn json_shape_is_flat_and_camel_case() {
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json().unwrap()).unwrap();
        let a = &v["targets"][0]["artifacts"][0];
        assert_eq!(a["kind"], "block");
        assert_eq!(a["format"], "pprof");
        assert_eq!(a["bytes"], 42);
        assert_eq!(a["path"], "shop/checkout-slow/pod-a/block.pb.gz");
        let f = &v["targets"][0]["failures"][0];
        assert_eq!(
            (&f["kind"], &f["format"], &f["reason"]),
            (&"goroutineText".into(), &"goroutineText".into(), &"Timeout".into())
        );
        assert_eq!(v["namespace"], "shop");
    }

    #[tokio::test]
    async fn roundtrip_through_a_store() {
        let store = super::super::open("memory://").unwrap();
        let m = sample();
        m.write(store.as_ref(), "shop/checkout-slow/manifest.json").await.unwrap();
        let back = Manifest::read(store.as_ref(), "shop/checkout-slow/manifest.json").await.unwrap();
        assert_eq!(back, m);
        assert_eq!(back.artifact_count(), 1);
    }
}
