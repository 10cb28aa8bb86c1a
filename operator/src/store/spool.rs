//! Riding out an object-storage outage: every artifact is first streamed to a local spool file
//! (bounded by the collector's byte caps, hashed on the way), then uploaded from that file,
//! again and again with backoff until the store takes it or the retry window is over. A target
//! pod's window is collected once, whatever the store does meanwhile.

use super::{ArtifactStore, StoreError, StoredObject};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How the note of an artifact that needed upload retries begins.
pub const RETRIED_NOTE: &str = "stored after ";

/// File name ending of spool files (removed at start-up: a file left by a killed process has no
/// upload waiting for it any more).
const SPOOL_SUFFIX: &str = ".spool";

/// A store that spools each upload locally and retries it; reads go straight to `inner`.
pub struct SpoolingStore {
    inner: Arc<dyn ArtifactStore>,
    dir: PathBuf,
    /// How long uploads are retried before the artifact fails with StorageWriteFailed.
    retry_window: Duration,
    next: AtomicU64,
    /// Uploads from the spool at a time. Each holds up to three 5 MiB parts (S3's minimum part
    /// size) while it runs; the collections themselves only ever wait on the local disk.
    uploads: tokio::sync::Semaphore,
}

/// Uploads from the spool at a time: the operator's memory stays flat however many pods stream
/// large artifacts at once (each upload holds up to ~15 MiB).
pub const UPLOADS_AT_ONCE: usize = 2;

/// Errors an upload is retried after: the store or the network failed. A bad path, a quota or a
/// failing source are not the store's passing trouble.
fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Write { .. } | StoreError::Read { .. })
}

impl SpoolingStore {
    /// Spools under `dir` (created; spool files an earlier process left are removed).
    pub fn new(inner: Arc<dyn ArtifactStore>, dir: &Path, retry_window: Duration) -> Result<Self, StoreError> {
        let local = |source| StoreError::LocalDir { dir: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(local)?;
        for entry in std::fs::read_dir(dir).map_err(local)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(SPOOL_SUFFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(SpoolingStore {
            inner,
            dir: dir.to_path_buf(),
            retry_window,
            next: AtomicU64::new(0),
            uploads: tokio::sync::Semaphore::new(UPLOADS_AT_ONCE),
        })
    }

    fn spool_path(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}-{n}{SPOOL_SUFFIX}", std::process::id()))
    }

    /// Retries `attempt` while it fails transiently (backoff 1s doubling to 10s, no retry whose
    /// wait would end past the retry window); says how it went.
    async fn with_retries<T, F, Fut>(&self, uri: &str, mut attempt: F) -> Result<(T, Option<String>), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(10))
            .with_factor(2.0)
            .without_max_times();
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            attempt()
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(transient)
        .adjust(|_, delay| delay.filter(|d| started.elapsed() + *d < self.retry_window))
        .notify(|e, retry_in| {
            let attempts = attempts.load(Ordering::Relaxed);
            tracing::warn!(%uri, error = %e, ?retry_in, attempts, "object storage failed; retrying from the spool");
        })
        .await;
        let attempts = attempts.load(Ordering::Relaxed);
        match result {
            Ok(v) => {
                let note = (attempts > 1).then(|| {
                    format!(
                        "{RETRIED_NOTE}{attempts} attempts over {}s: object storage failed meanwhile",
                        started.elapsed().as_secs()
                    )
                });
                if let Some(n) = &note {
                    tracing::warn!(%uri, "{n}");
                }
                Ok((v, note))
            }
            Err(e) if transient(&e) => {
                let message =
                    format!("{e} (tried {attempts} times over {}s, GODIAG_STORAGE_RETRY)", started.elapsed().as_secs());
                Err(StoreError::Write { uri: uri.to_string(), message })
            }
            Err(e) => Err(e),
        }
    }

    async fn spool(
        &self,
        file: &Path,
        uri: &str,
        mut body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<(u64, String), StoreError> {
        let local =
            |e: std::io::Error| StoreError::Write { uri: uri.to_string(), message: format!("spooling locally: {e}") };
        let mut out = tokio::fs::File::create(file).await.map_err(local)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| StoreError::Source { uri: uri.to_string(), source })?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(local)?;
        }
        out.flush().await.map_err(local)?;
        Ok((size, hex::encode(hasher.finalize())))
    }

    async fn put_stream_inner(
        &self,
        path: &str,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<StoredObject, StoreError> {
        let uri = self.inner.uri(path);
        let file = self.spool_path();
        let result = async {
            let (size, sha256) = self.spool(&file, &uri, body).await?;
            let _upload = self.uploads.acquire().await;
            let (mut object, note) = self
                .with_retries(&uri, || async {
                    let f = tokio::fs::File::open(&file).await.map_err(|e| StoreError::Write {
                        uri: uri.clone(),
                        message: format!("reading the spool: {e}"),
                    })?;
                    self.inner.put_stream(path, tokio_util::io::ReaderStream::new(f).boxed()).await
                })
                .await?;
            if object.bytes != size || object.sha256 != sha256 {
                return Err(StoreError::Write {
                    uri: uri.clone(),
                    message: "the stored object differs from the spool".into(),
                });
            }
            object.note = note;
            Ok(object)
        }
        .await;
        let _ = tokio::fs::remove_file(&file).await;
        result
    }
}

impl ArtifactStore for SpoolingStore {
    fn uri(&self, path: &str) -> String {
        self.inner.uri(path)
    }

    fn put_stream<'a>(
        &'a self,
        path: &'a str,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> BoxFuture<'a, Result<StoredObject, StoreError>> {
        Box::pin(self.put_stream_inner(path, body))
    }

    fn put_bytes<'a>(&'a self, path: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<StoredObject, StoreError>> {
        Box::pin(async move {
            let uri = self.inner.uri(path);
            let (mut object, note) = self.with_retries(&uri, || self.inner.put_bytes(path, bytes.clone())).await?;
            object.note = note;
            Ok(object)
        })
    }

    fn get_bytes<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        self.inner.get_bytes(path)
    }

    fn get_stream<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError>> {
        self.inner.get_stream(path)
    }
}
