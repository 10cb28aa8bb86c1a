//! Where artifacts go: a small trait of ours over `object_store`, chosen by one URL.
//!
//! No Kubernetes types here: the `godiag collect` CLI uses this module too.

mod backend;
mod error;
pub mod layout;
pub mod local_dir;
pub mod manifest;
pub mod url;

pub use backend::ObjectStoreBackend;
pub use error::StoreError;
pub use manifest::Manifest;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An object written to the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// Path relative to the store's prefix, e.g. `shop/checkout-slow/pod-a/cpu.pb.gz`.
    pub path: String,
    /// Full URI a user can open, e.g. `s3://bucket/prefix/shop/checkout-slow/pod-a/cpu.pb.gz`.
    pub uri: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// Artifact storage. Dyn-compatible: the methods return boxed futures, and callers simply
/// `.await` them.
pub trait ArtifactStore: Send + Sync {
    /// Full URI a user can open, e.g. `s3://bucket/prefix/ns/req/pod/cpu.pb.gz` or
    /// `file:///var/lib/godiag/ns/req/pod/cpu.pb.gz`.
    fn uri(&self, path: &str) -> String;

    /// Streams `body` to `path` (relative to the store's prefix) with bounded memory (multipart
    /// above a few MiB) and returns its size and SHA-256, computed on the fly. If `body` yields
    /// an error, the upload is aborted, nothing is stored, and [`StoreError::Source`] carries it.
    fn put_stream<'a>(
        &'a self,
        path: &'a str,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> BoxFuture<'a, Result<StoredObject, StoreError>>;

    /// Stores a small object held in memory (a manifest, a summary).
    fn put_bytes<'a>(&'a self, path: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<StoredObject, StoreError>>;

    /// Reads a whole object back (manifests, tests).
    fn get_bytes<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>>;

    /// Reads an object as a stream of chunks, with bounded memory (analysis feeds artifacts to
    /// its worker process this way).
    fn get_stream<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError>>;
}

/// A store shared by the operator's tasks.
pub type SharedStore = Arc<dyn ArtifactStore>;

/// Opens the operator's store: for `file://`, first deletes the staging files an interrupted
/// upload left behind (returned as files and bytes removed), then applies the quota, if any.
pub fn open_for_operator(url: &str, quota: Option<u64>) -> Result<(SharedStore, (u64, u64)), StoreError> {
    let parsed = self::url::StoreUrl::parse(url)?;
    let mut backend = ObjectStoreBackend::open(&parsed)?;
    let cleaned = ObjectStoreBackend::local_dir(&parsed).map_or((0, 0), |d| local_dir::remove_staging_files(&d));
    if let Some(limit) = quota {
        backend = backend.with_quota(&parsed, limit);
    }
    Ok((Arc::new(backend), cleaned))
}

/// Opens the store a URL names: `file://`, `s3://`, `gs://`, `az://` or `memory://`
/// (see [`url`] for the forms and settings). A `file://` directory is created if missing.
/// Cloud backends do no network I/O here; credentials are resolved on first use.
pub fn open(url: &str) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let parsed = self::url::StoreUrl::parse(url)?;
    Ok(Arc::new(ObjectStoreBackend::open(&parsed)?))
}
