//! Why one kind could not be collected, in words a Go developer recognises.

use crate::store::StoreError;
use std::time::Duration;

/// Why collecting one kind from one target failed. Each variant has a stable [`reason`](Self::reason).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Nothing listens at the address (connection refused).
    #[error(
        "nothing accepts connections at {target} (connection refused): the program does not serve net/http/pprof at that port"
    )]
    ConnectionRefused { target: String },
    /// The server answered 404 without Go pprof's `X-Go-Pprof` header: no pprof handler at that path.
    #[error(
        "{target} answered 404 for {path}: the program does not serve net/http/pprof at that path (import _ \"net/http/pprof\" or register its handlers, and check the port and path)"
    )]
    NoPprofEndpoint { target: String, path: String },
    /// Go's pprof answered 404 "Unknown profile": this Go version does not offer the profile.
    #[error("{target} serves net/http/pprof but has no {path} profile (Go said: {message})")]
    ProfileNotAvailable { target: String, path: String, message: String },
    /// The connection could not be opened for another reason (timeout, unreachable, port-forward refused).
    #[error("could not connect to {target}: {message}")]
    Connect { target: String, message: String },
    /// Another CPU profiler held the program's profiler on every attempt.
    #[error(
        "another CPU profiler holds the program's profiler (Go allows one CPU profile per process; a continuous profiler such as Pyroscope or Parca, or another godiag request, is running): Go still answered \"cpu profiling already in use\" after {attempts} attempts over {waited:?}"
    )]
    CpuProfilerBusy { attempts: u32, waited: Duration },
    /// Another execution trace was running on every attempt.
    #[error(
        "another execution trace is running in the program (Go allows one at a time): Go still answered \"tracing is already enabled\" after {attempts} attempts over {waited:?}"
    )]
    TracerBusy { attempts: u32, waited: Duration },
    /// Go pprof refused the duration because the server's WriteTimeout is shorter (HTTP 400).
    #[error(
        "the requested duration ({requested:?}) must be lower than the program's http.Server WriteTimeout: Go answered 400 \"profile duration exceeds server's WriteTimeout\"; ask for a shorter duration or raise WriteTimeout"
    )]
    DurationExceedsWriteTimeout { requested: Duration },
    /// Any other error answered by Go's pprof handler (it sets `X-Go-Pprof: 1`).
    #[error("Go pprof at {target} answered HTTP {status} for {path}: {message}")]
    PprofError { target: String, path: String, status: u16, message: String },
    /// An HTTP error that did not come from Go's pprof handler (no `X-Go-Pprof`): a proxy, a
    /// sidecar or another server.
    #[error(
        "HTTP {status} for {path} from {target}, not from Go's pprof handler (no X-Go-Pprof header: a proxy or another server answered): {snippet}"
    )]
    HttpStatus { target: String, path: String, status: u16, snippet: String },
    /// The body was not what the endpoint serves (e.g. an HTML page instead of gzip pprof).
    #[error("{path} at {target} did not return {expected}: got {content_type} starting with {snippet:?}")]
    UnexpectedBody { target: String, path: String, expected: &'static str, content_type: String, snippet: String },
    /// No complete answer before the deadline (window + grace).
    #[error("{target} did not finish answering {path} within {limit:?} (the requested window plus grace)")]
    Timeout { target: String, path: String, limit: Duration },
    /// The body grew past godiag's cap for this kind; nothing was stored.
    #[error(
        "{path} from {target} grew past {limit} bytes, godiag's cap for this kind (GODIAG_MAX_PROFILE_BYTES / GODIAG_MAX_TRACE_BYTES): the transfer was cut off and nothing was stored; a Go profile this large means a broken or hostile program, or a far too long trace window"
    )]
    ArtifactTooLarge { target: String, path: String, limit: u64 },
    /// The connection broke while the body was streaming.
    #[error(
        "{target} closed or broke the connection while sending {path}: {message} (an http.Server WriteTimeout shorter than the duration does this on older Go versions)"
    )]
    BodyInterrupted { target: String, path: String, message: String },
    /// HTTP/1.1 protocol failure (handshake, malformed response).
    #[error("HTTP exchange with {target} for {path} failed: {message}")]
    Http { target: String, path: String, message: String },
    /// The target URL given to `godiag collect` cannot be used.
    #[error("cannot collect from {url:?}: {message}")]
    InvalidTarget { url: String, message: String },
    /// `lastCrash` was asked for, but the container never restarted: there is no previous log.
    #[error(
        "container {container} of pod {pod} has not restarted (restartCount 0): there is no previous container whose log could hold a crash"
    )]
    NoPreviousContainer { pod: String, container: String },
    /// The previous container's log holds no Go crash output.
    #[error(
        "the previous container {container} of pod {pod} ({ended}) left {bytes} bytes of log without Go crash output (no panic:, fatal error: or signal dump followed by goroutines): it was stopped from outside (OOMKilled, a failed liveness probe, a SIGKILL) or exited on its own, or its log was rotated away"
    )]
    NoGoCrashInLog { pod: String, container: String, ended: String, bytes: usize },
    /// The API server did not give the previous container's log.
    #[error("could not read the previous log of container {container} of pod {pod}: {message}")]
    LogUnavailable { pod: String, container: String, message: String },
    /// The artifact could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one artifact could not be collected: the stable name of each [`CollectError`], as the
/// status, the manifest, Events and metric labels show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
pub enum ArtifactReason {
    /// Nothing serves net/http/pprof at that port or path.
    NoPprofEndpoint,
    /// This Go version does not offer the profile.
    ProfileNotAvailable,
    /// The connection (or the port-forward) could not be opened.
    ConnectFailed,
    /// Another CPU profiler held the profiler on every attempt.
    CpuProfilerBusy,
    /// Another execution trace ran on every attempt.
    TracerBusy,
    /// The duration is longer than the program's http.Server WriteTimeout.
    DurationExceedsWriteTimeout,
    /// Go's pprof handler answered another error.
    PprofError,
    /// Something other than Go's pprof handler answered an HTTP error.
    HttpError,
    /// The body was not what the endpoint serves.
    UnexpectedBody,
    /// No complete answer before the deadline.
    Timeout,
    /// The connection broke while the body streamed.
    BodyInterrupted,
    /// The body grew past godiag's byte cap for its kind.
    ArtifactTooLarge,
    /// The HTTP exchange itself failed.
    HttpProtocolError,
    /// `godiag collect` was given a URL it cannot use.
    InvalidTarget,
    /// The artifact's path in the store is not valid.
    InvalidObjectPath,
    /// The store refused or failed the write.
    StorageWriteFailed,
    /// The `file://` store reached its quota (GODIAG_STORAGE_QUOTA_BYTES).
    StorageQuotaExceeded,
    /// `lastCrash`: the container never restarted.
    NoPreviousContainer,
    /// `lastCrash`: the previous container's log has no Go crash output.
    NoGoCrashInLog,
    /// `lastCrash`: the previous container's log could not be read.
    LogUnavailable,
}

impl ArtifactReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl CollectError {
    /// Stable CamelCase reason for conditions, events, manifests and metric labels.
    pub fn reason(&self) -> &'static str {
        self.cause().as_str()
    }

    /// The typed reason.
    pub fn cause(&self) -> ArtifactReason {
        match self {
            CollectError::ConnectionRefused { .. } | CollectError::NoPprofEndpoint { .. } => {
                ArtifactReason::NoPprofEndpoint
            }
            CollectError::ProfileNotAvailable { .. } => ArtifactReason::ProfileNotAvailable,
            CollectError::Connect { .. } => ArtifactReason::ConnectFailed,
            CollectError::CpuProfilerBusy { .. } => ArtifactReason::CpuProfilerBusy,
            CollectError::TracerBusy { .. } => ArtifactReason::TracerBusy,
            CollectError::DurationExceedsWriteTimeout { .. } => ArtifactReason::DurationExceedsWriteTimeout,
            CollectError::PprofError { .. } => ArtifactReason::PprofError,
            CollectError::HttpStatus { .. } => ArtifactReason::HttpError,
            CollectError::UnexpectedBody { .. } => ArtifactReason::UnexpectedBody,
            CollectError::Timeout { .. } => ArtifactReason::Timeout,
            CollectError::BodyInterrupted { .. } => ArtifactReason::BodyInterrupted,
            CollectError::ArtifactTooLarge { .. } => ArtifactReason::ArtifactTooLarge,
            CollectError::Http { .. } => ArtifactReason::HttpProtocolError,
            CollectError::InvalidTarget { .. } => ArtifactReason::InvalidTarget,
            CollectError::NoPreviousContainer { .. } => ArtifactReason::NoPreviousContainer,
            CollectError::NoGoCrashInLog { .. } => ArtifactReason::NoGoCrashInLog,
            CollectError::LogUnavailable { .. } => ArtifactReason::LogUnavailable,
            // Collection only writes: a bad path, or a write the backend failed.
            CollectError::Store(StoreError::InvalidPath { .. }) => ArtifactReason::InvalidObjectPath,
            CollectError::Store(StoreError::QuotaExceeded { .. }) => ArtifactReason::StorageQuotaExceeded,
            CollectError::Store(_) => ArtifactReason::StorageWriteFailed,
        }
    }

    /// True when another profiler or tracer holds the resource: worth retrying with backoff.
    pub fn is_busy(&self) -> bool {
        matches!(self, CollectError::CpuProfilerBusy { .. } | CollectError::TracerBusy { .. })
    }

    /// Records how many attempts a busy error survived and how long they took.
    pub(crate) fn with_attempts(self, n: u32, elapsed: Duration) -> Self {
        match self {
            CollectError::CpuProfilerBusy { .. } => CollectError::CpuProfilerBusy { attempts: n, waited: elapsed },
            CollectError::TracerBusy { .. } => CollectError::TracerBusy { attempts: n, waited: elapsed },
            other => other,
        }
    }
}
