//! Errors of the artifact store, each with a stable `reason()`.

/// What went wrong while opening, writing or reading the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage URL could not be understood.
    #[error("invalid storage URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    /// The local directory of a `file://` store could not be created or resolved.
    #[error("cannot use local storage directory {dir}: {source}")]
    LocalDir { dir: String, source: std::io::Error },
    /// The cloud backend rejected its configuration (bucket, endpoint, credentials settings).
    #[error("cannot configure the {backend} storage backend for {url}: {source}")]
    Configure { backend: &'static str, url: String, source: object_store::Error },
    /// A path inside the store is not a valid object path (empty segment, `.` or `..`).
    #[error("invalid object path {path:?}: {message}")]
    InvalidPath { path: String, message: String },
    /// The object does not exist.
    #[error("{uri} does not exist")]
    NotFound { uri: String },
    /// The backend failed while storing an object.
    #[error("writing {uri} failed: {message}")]
    Write { uri: String, message: String },
    /// The backend failed while reading an object.
    #[error("reading {uri} failed: {source}")]
    Read { uri: String, source: object_store::Error },
    /// The stream that fed `put_stream` failed; nothing was stored.
    #[error("the data for {uri} stopped arriving: {source}")]
    Source { uri: String, source: std::io::Error },
    /// The `file://` store holds as much as its quota allows; nothing was stored.
    #[error("storage quota of {limit} bytes reached writing {uri} (GODIAG_STORAGE_QUOTA_BYTES); nothing was stored")]
    QuotaExceeded { uri: String, limit: u64 },
    /// A manifest could not be encoded or decoded.
    #[error("manifest {uri} is not valid: {source}")]
    Manifest { uri: String, source: serde_json::Error },
}

impl StoreError {
    /// Stable CamelCase reason for conditions, events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::InvalidUrl { .. } => "InvalidStorageUrl",
            StoreError::LocalDir { .. } => "StorageUnavailable",
            StoreError::Configure { .. } => "StorageConfigInvalid",
            StoreError::InvalidPath { .. } => "InvalidObjectPath",
            StoreError::NotFound { .. } => "ObjectNotFound",
            StoreError::Write { .. } => "StorageWriteFailed",
            StoreError::Read { .. } => "StorageReadFailed",
            StoreError::Source { .. } => "SourceReadFailed",
            StoreError::QuotaExceeded { .. } => "StorageQuotaExceeded",
            StoreError::Manifest { .. } => "ManifestInvalid",
        }
    }
}
