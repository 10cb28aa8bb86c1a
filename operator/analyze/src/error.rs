//! Errors of the analysis code. Each has a stable machine-readable `reason()`.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AnalyzeError {
    /// The bytes are none of the formats godiag reads.
    #[error("unrecognised input: not a pprof profile, goroutine dump or Go execution trace ({0})")]
    UnknownFormat(String),
    /// gzip framing was broken.
    #[error("gzip: {0}")]
    Gzip(String),
    /// The protobuf did not decode as profile.proto, or it is internally inconsistent.
    #[error("malformed pprof profile: {0}")]
    MalformedProfile(String),
    /// The input is larger than godiag is willing to expand into memory.
    #[error("input too large: {0}")]
    TooLarge(String),
    /// A memory limit (the analysis worker's cap) refused an allocation the input needed.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// `--sample-type` names a column the profile does not have.
    #[error("sample type {wanted:?} not in profile (available: {available})")]
    UnknownSampleType { wanted: String, available: String },
    /// A Go execution trace in a format version this scanner does not read.
    #[error("unsupported trace version {0} (godiag reads the Go 1.22+ format: go 1.22, 1.23, 1.25, 1.26)")]
    UnsupportedTraceVersion(u32),
    /// A Go execution trace whose header or batches are broken.
    #[error("malformed execution trace: {0}")]
    MalformedTrace(String),
    /// A goroutine dump with nothing recognisable in it.
    #[error("malformed goroutine dump: {0}")]
    MalformedGoroutines(String),
    /// A `--focus` or `--ignore` expression that does not compile.
    #[error("invalid regular expression {0:?}: {1}")]
    BadRegex(String, String),
    /// `--base` was given for something that is not a pprof profile.
    #[error("cannot compare: {0}")]
    Diff(String),
    /// Rendering the flame graph failed.
    #[error("flame graph: {0}")]
    Flame(String),
}

impl AnalyzeError {
    /// A short, stable identifier for metrics labels and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            AnalyzeError::UnknownFormat(_) => "UnknownFormat",
            AnalyzeError::Gzip(_) => "BadGzip",
            AnalyzeError::MalformedProfile(_) => "MalformedProfile",
            AnalyzeError::TooLarge(_) => "TooLarge",
            AnalyzeError::OutOfMemory(_) => "OutOfMemory",
            AnalyzeError::UnknownSampleType { .. } => "UnknownSampleType",
            AnalyzeError::UnsupportedTraceVersion(_) => "UnsupportedTraceVersion",
            AnalyzeError::MalformedTrace(_) => "MalformedTrace",
            AnalyzeError::MalformedGoroutines(_) => "MalformedGoroutines",
            AnalyzeError::BadRegex(..) => "BadRegex",
            AnalyzeError::Diff(_) => "DiffNotPossible",
            AnalyzeError::Flame(_) => "FlameGraphFailed",
        }
    }
}
