//! Where artifacts go: a small trait of ours over `object_store`, chosen by one URL.
//!
//! No Kubernetes types here: the `godiag collect` CLI uses this module too.

mod backend;
mod error;
pub mod layout;
pub mod local_dir;
pub mod manifest;
pub mod spool;
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
    /// How storing it went, when that is worth saying (it took retries through an outage).
    #[serde(skip)]
    pub note: Option<String>,
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

/// How the operator's store behaves beyond its URL.
#[derive(Debug, Clone, Default)]
pub struct OperatorStorage {
    /// Most bytes a `file://` store may hold.
    pub quota: Option<u64>,
    /// Where uploads to object storage are spooled before they are sent (and re-sent).
    pub spool_dir: Option<std::path::PathBuf>,
    /// How long an upload to object storage is retried.
    pub retry_window: std::time::Duration,
}

/// Opens the operator's store. For `file://`: first deletes the staging files an interrupted
/// upload left behind (returned as files and bytes removed), then applies the quota, if any.
/// For object storage: spools every upload locally and retries it through outages.
pub fn open_for_operator(url: &str, opts: &OperatorStorage) -> Result<(SharedStore, (u64, u64)), StoreError> {
    let parsed = self::url::StoreUrl::parse(url)?;
    // With a spool, the spool retries (for the whole window, and says so); the client itself
    // gives up on a request quickly so that a retry is seen and reported.
    let client_retry = opts.spool_dir.as_ref().map(|_| object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    });
    let mut backend = ObjectStoreBackend::open_with_retry(&parsed, client_retry)?;
    let local = ObjectStoreBackend::local_dir(&parsed);
    let cleaned = local.as_deref().map_or((0, 0), local_dir::remove_staging_files);
    if let Some(limit) = opts.quota {
        backend = backend.with_quota(&parsed, limit);
    }
    let store: SharedStore = Arc::new(backend);
    match (&opts.spool_dir, parsed.backend) {
        (Some(dir), url::Backend::S3 | url::Backend::Gcs | url::Backend::Azure) => {
            Ok((Arc::new(spool::SpoolingStore::new(store, dir, opts.retry_window)?), cleaned))
        }
        _ => Ok((store, cleaned)),
    }
}

/// Opens the store a URL names: `file://`, `s3://`, `gs://`, `az://` or `memory://`
/// (see [`url`] for the forms and settings). A `file://` directory is created if missing.
/// Cloud backends do no network I/O here; credentials are resolved on first use.
pub fn open(url: &str) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let parsed = self::url::StoreUrl::parse(url)?;
    Ok(Arc::new(ObjectStoreBackend::open(&parsed)?))
}
