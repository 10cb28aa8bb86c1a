//! [`ArtifactStore`] over `object_store`: one implementation for every backend.

use super::layout::join;
use super::local_dir::Quota;
use super::url::{Backend, StoreUrl};
use super::{ArtifactStore, StoreError, StoredObject};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::buffered::BufWriter;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Bytes buffered before an upload to object storage switches to multipart, and the size of
/// each part. S3 requires parts of at least 5 MiB (except the last one).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// The same for a `file://` store, which has no minimum part: each part is written to the
/// staging file as it fills, so 20 artifacts streaming at once hold 20 small buffers, not 20
/// parts of 5 MiB.
const LOCAL_PART_SIZE: usize = 256 * 1024;
/// Parts in flight per upload: with [`PART_SIZE`], at most ~15 MiB per artifact in memory.
const PARTS_IN_FLIGHT: usize = 2;

/// An [`ArtifactStore`] backed by any `object_store` implementation.
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    /// Prefix inside the bucket, prepended to every path.
    prefix: String,
    /// URI of the store's root, without a trailing `/` (`s3://bucket/prefix`, `file:///abs/dir`).
    root_uri: String,
    /// The byte quota of a `file://` store, when one is set.
    quota: Option<Quota>,
    /// Bytes buffered per part of a streamed upload.
    part_size: usize,
}

impl ObjectStoreBackend {
    /// Wraps an existing object store. `root_uri` is what [`ArtifactStore::uri`] prepends.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, root_uri: &str) -> Self {
        ObjectStoreBackend {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            root_uri: root_uri.trim_end_matches('/').to_owned(),
            quota: None,
            part_size: PART_SIZE,
        }
    }

    /// The local directory of a `file://` store.
    pub fn local_dir(url: &StoreUrl) -> Option<std::path::PathBuf> {
        (url.backend == Backend::File).then(|| std::path::PathBuf::from(&url.bucket))
    }

    /// Limits a `file://` store to `limit` bytes (what it already holds counts).
    pub fn with_quota(mut self, url: &StoreUrl, limit: u64) -> Self {
        if let Some(dir) = Self::local_dir(url) {
            self.quota = Some(Quota::new(std::fs::canonicalize(&dir).unwrap_or(dir), limit));
        }
        self
    }

    /// Builds the backend a parsed URL names. Creates the directory of a `file://` store.
    pub fn open(url: &StoreUrl) -> Result<Self, StoreError> {
        Self::open_with_retry(url, None)
    }

    /// Like [`open`](Self::open), with the cloud client's own request retries set (`None`:
    /// object_store's defaults, up to 10 retries over 3 minutes per request).
    pub fn open_with_retry(url: &StoreUrl, retry: Option<RetryConfig>) -> Result<Self, StoreError> {
        let configure = |source| StoreError::Configure { backend: url.backend.name(), url: url.display(), source };
        match url.backend {
            Backend::File => {
                let dir = &url.bucket;
                let local_dir = |source| StoreError::LocalDir { dir: dir.clone(), source };
                std::fs::create_dir_all(dir).map_err(local_dir)?;
                let abs = std::fs::canonicalize(dir).map_err(local_dir)?;
                let store = LocalFileSystem::new_with_prefix(&abs).map_err(configure)?;
                let backend = Self::new(Arc::new(store), "", &format!("file://{}", abs.display()));
                Ok(Self { part_size: LOCAL_PART_SIZE, ..backend })
            }
            Backend::Memory => Ok(Self::new(Arc::new(InMemory::new()), &url.prefix, &url.display())),
            Backend::S3 => {
                let mut b = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
                if let Some(r) = &retry {
                    b = b.with_retry(r.clone());
                }
                for (k, v) in &url.options {
                    b = b.with_config(AmazonS3ConfigKey::from_str(k).map_err(configure)?, v);
                }
                Ok(Self::new(Arc::new(b.build().map_err(configure)?), &url.prefix, &url.display()))
            }
            Backend::Gcs => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(&url.bucket);
                if let Some(r) = &retry {
                    b = b.with_retry(r.clone());
                }
                for (k, v) in &url.options {
                    b = b.with_config(GoogleConfigKey::from_str(k).map_err(configure)?, v);
                }
                Ok(Self::new(Arc::new(b.build().map_err(configure)?), &url.prefix, &url.display()))
            }
            Backend::Azure => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(&url.bucket);
                if let Some(r) = &retry {
                    b = b.with_retry(r.clone());
                }
                for (k, v) in &url.options {
                    b = b.with_config(AzureConfigKey::from_str(k).map_err(configure)?, v);
                }
                Ok(Self::new(Arc::new(b.build().map_err(configure)?), &url.prefix, &url.display()))
            }
        }
    }

    fn location(&self, path: &str) -> Result<Path, StoreError> {
        let full = join(&self.prefix, path);
        Path::parse(&full).map_err(|e| StoreError::InvalidPath { path: path.to_owned(), message: e.to_string() })
    }

    async fn put_stream_inner(
        &self,
        path: &str,
        mut body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<StoredObject, StoreError> {
        let uri = self.uri(path);
        let location = self.location(path)?;
        let mut writer = BufWriter::with_capacity(Arc::clone(&self.store), location, self.part_size)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let release = |size: u64| {
            if let Some(q) = &self.quota {
                q.release(size);
            }
        };
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(source) => {
                    abort(&mut writer).await;
                    release(size);
                    return Err(StoreError::Source { uri, source });
                }
            };
            if chunk.is_empty() {
                continue;
            }
            if let Some(q) = &self.quota
                && !q.reserve(chunk.len() as u64)
            {
                abort(&mut writer).await;
                release(size);
                return Err(StoreError::QuotaExceeded { uri, limit: q.limit });
            }
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = writer.put(chunk).await {
                abort(&mut writer).await;
                release(size);
                return Err(StoreError::Write { uri, message: e.to_string() });
            }
        }
        if let Err(e) = writer.shutdown().await {
            release(size);
            return Err(StoreError::Write { uri: uri.clone(), message: e.to_string() });
        }
        if let Some(q) = &self.quota {
            q.commit(size);
        }
        Ok(StoredObject { path: path.to_owned(), uri, bytes: size, sha256: hex::encode(hasher.finalize()), note: None })
    }
}

/// Best-effort cleanup of a partial multipart upload; the original error is what matters.
async fn abort(writer: &mut BufWriter) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "aborting a partial upload failed");
    }
}

impl ArtifactStore for ObjectStoreBackend {
    fn uri(&self, path: &str) -> String {
        // `root_uri` already ends in the prefix.
        let path = path.trim_matches('/');
        if path.is_empty() { self.root_uri.clone() } else { format!("{}/{path}", self.root_uri) }
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
            let uri = self.uri(path);
            let location = self.location(path)?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let size = bytes.len() as u64;
            if let Some(q) = &self.quota
                && !q.reserve(size)
            {
                return Err(StoreError::QuotaExceeded { uri, limit: q.limit });
            }
            let put = self.store.put(&location, bytes.into()).await;
            if let Some(q) = &self.quota {
                if put.is_ok() { q.commit(size) } else { q.release(size) }
            }
            put.map_err(|e| StoreError::Write { uri: uri.clone(), message: e.to_string() })?;
            Ok(StoredObject { path: path.to_owned(), uri, bytes: size, sha256, note: None })
        })
    }

    fn get_bytes<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let (uri, result) = self.get(path).await?;
            result.bytes().await.map_err(|source| read_error(&uri, source))
        })
    }

    fn get_stream<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError>> {
        Box::pin(async move {
            let (uri, result) = self.get(path).await?;
            Ok(result.into_stream().map(move |r| r.map_err(|source| read_error(&uri, source))).boxed())
        })
    }
}

impl ObjectStoreBackend {
    /// Starts reading an object: its URI (for errors) and the backend's answer.
    async fn get(&self, path: &str) -> Result<(String, object_store::GetResult), StoreError> {
        let uri = self.uri(path);
        let location = self.location(path)?;
        let result = self.store.get(&location).await.map_err(|source| read_error(&uri, source))?;
        Ok((uri, result))
    }
}

/// A read failure: a missing object is [`StoreError::NotFound`], anything else a read error.
fn read_error(uri: &str, source: object_store::Error) -> StoreError {
    match source {
        object_store::Error::NotFound { .. } => StoreError::NotFound { uri: uri.to_string() },
        source => StoreError::Read { uri: uri.to_string(), source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn chunks(parts: Vec<&'static [u8]>) -> BoxStream<'static, std::io::Result<Bytes>> {
        stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p)))).boxed()
    }

    #[tokio::test]
    async fn memory_stream_roundtrip_with_sha256() {
        let store = super::super::open("memory:///pre").unwrap();
        let obj = store.put_stream("ns/r/p/cpu.pb.gz", chunks(vec![b"hello ", b"", b"world"])).await.unwrap();
        assert_eq!(obj.bytes, 11);
        // sha256("hello world")
        assert_eq!(obj.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(obj.uri, "memory:///pre/ns/r/p/cpu.pb.gz");
        assert_eq!(store.get_bytes("ns/r/p/cpu.pb.gz").await.unwrap(), Bytes::from_static(b"hello world"));
    }

    #[tokio::test]
    async fn memory_stream_multipart_above_part_size() {
        let store = super::super::open("memory://").unwrap();
        let big = Bytes::from(vec![7u8; PART_SIZE + 123]);
        let parts: Vec<std::io::Result<Bytes>> = big.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let obj = store.put_stream("big.bin", stream::iter(parts).boxed()).await.unwrap();
        assert_eq!(obj.bytes, big.len() as u64);
        assert_eq!(obj.sha256, hex::encode(Sha256::digest(&big)));
        assert_eq!(store.get_bytes("big.bin").await.unwrap(), big);
        let chunks: Vec<Bytes> = store.get_stream("big.bin").await.unwrap().map(|c| c.unwrap()).collect().await;
        assert_eq!(chunks.concat(), big, "streamed back whole");
    }

    /// A file:// upload goes multipart at a small part size (its memory per stream stays small):
    /// the many parts make the whole object, in order.
    #[tokio::test]
    async fn file_stream_of_many_small_parts_is_stored_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let store = super::super::open(&format!("file://{}", tmp.path().display())).unwrap();
        let big: Bytes = (0..LOCAL_PART_SIZE * 4 + 77).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
        let parts: Vec<std::io::Result<Bytes>> = big.chunks(50_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let obj = store.put_stream("ns/r/p/trace.out", stream::iter(parts).boxed()).await.unwrap();
        assert_eq!((obj.bytes, obj.sha256.as_str()), (big.len() as u64, hex::encode(Sha256::digest(&big)).as_str()));
        assert_eq!(std::fs::read(tmp.path().join("ns/r/p/trace.out")).unwrap(), big);
    }

    #[tokio::test]
    async fn failing_source_stores_nothing() {
        let store = super::super::open("memory://").unwrap();
        let body = stream::iter(vec![Ok(Bytes::from_static(b"partial")), Err(std::io::Error::other("reset"))]).boxed();
        let err = store.put_stream("x/cpu.pb.gz", body).await.unwrap_err();
        assert_eq!(err.reason(), "SourceReadFailed", "{err}");
        let err = store.get_bytes("x/cpu.pb.gz").await.unwrap_err();
        assert_eq!(err.reason(), "ObjectNotFound", "{err}");
    }

    #[tokio::test]
    async fn file_store_creates_relative_dir_and_writes_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/out");
        let store = super::super::open(&format!("file://{}", dir.display())).unwrap();
        let obj = store.put_bytes("ns/r/manifest.json", Bytes::from_static(b"{}")).await.unwrap();
        let canon = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(obj.uri, format!("file://{}/ns/r/manifest.json", canon.display()));
        let obj = store.put_stream("ns/r/p/trace.out", chunks(vec![b"go 1.26 trace\0\0\0"])).await.unwrap();
        assert_eq!(std::fs::read(canon.join("ns/r/p/trace.out")).unwrap(), b"go 1.26 trace\0\0\0");
        assert_eq!(obj.bytes, 16);
        assert_eq!(store.get_bytes("ns/r/manifest.json").await.unwrap(), Bytes::from_static(b"{}"));
    }

    #[tokio::test]
    async fn file_store_quota_refuses_the_upload_that_would_pass_it() {
        let tmp = tempfile::tempdir().unwrap();
        let url = StoreUrl::parse(&format!("file://{}", tmp.path().display())).unwrap();
        let store = ObjectStoreBackend::open(&url).unwrap().with_quota(&url, 10 << 20);
        let big = Bytes::from(vec![1u8; 6 << 20]);
        let parts = |b: &Bytes| -> BoxStream<'static, std::io::Result<Bytes>> {
            let v: Vec<std::io::Result<Bytes>> = b.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            futures::stream::iter(v).boxed()
        };
        store.put_stream("ns/r/a/trace.out", parts(&big)).await.unwrap();
        let err = store.put_stream("ns/r/b/trace.out", parts(&big)).await.unwrap_err();
        assert_eq!(err.reason(), "StorageQuotaExceeded", "{err}");
        assert!(!tmp.path().join("ns/r/b/trace.out").exists(), "nothing of the refused upload is stored");
        assert_eq!(super::super::local_dir::disk_usage(tmp.path()), 6 << 20, "no staging file left");
        // The refused upload's bytes were given back: 4 MiB still fit.
        store.put_bytes("ns/r/c/cpu.pb.gz", big.slice(..4 << 20)).await.unwrap();
    }

    #[test]
    fn rejects_paths_that_climb() {
        let store = super::super::open("memory://").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = rt.block_on(store.put_bytes("a/../b", Bytes::new())).unwrap_err();
        assert_eq!(err.reason(), "InvalidObjectPath");
    }

    #[test]
    fn cloud_backends_build_from_url_without_network() {
        // Building a client does no I/O; these check bucket/container and option handling.
        let s3 = super::super::open("s3://bkt/pre/fix?region=eu-west-1&endpoint=http://127.0.0.1:1&allow_http=true")
            .unwrap();
        assert_eq!(s3.uri("ns/r/p/cpu.pb.gz"), "s3://bkt/pre/fix/ns/r/p/cpu.pb.gz");
        let gs = super::super::open("gs://bkt/pre?service_account_key={}").map(|s| s.uri("a"));
        // An invalid service account key must be refused at configuration time…
        assert!(gs.is_err(), "{gs:?}");
        // …and application-default credentials are resolved lazily.
        let gs = super::super::open("gs://bkt/pre").unwrap();
        assert_eq!(gs.uri("a/b.txt"), "gs://bkt/pre/a/b.txt");
        let az = super::super::open("az://cont/pre?account_name=acct&use_emulator=true").unwrap();
        assert_eq!(az.uri("x"), "az://cont/pre/x");
        let err = super::super::open("s3://bkt?no_such_option=1").map(|_| ()).unwrap_err();
        assert_eq!(err.reason(), "StorageConfigInvalid", "{err}");
    }
}
