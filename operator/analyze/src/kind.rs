//! What an artifact is and how its bytes are encoded. One name per kind and per format, used
//! for file names, `manifest.json`, `summary.json` and (through the API's copy of these
//! enums) the DiagnosisRequest status.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One collected artifact's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactKind {
    /// CPU profile over a window.
    Cpu,
    /// Live heap.
    Heap,
    /// Every allocation since the program started.
    Allocs,
    /// Binary goroutine profile (stacks grouped, no states).
    Goroutine,
    /// The `goroutine?debug=2` text dump: every goroutine with its state and wait time.
    GoroutineText,
    /// The runtime's own leak detector (`/debug/pprof/goroutineleak`, Go 1.27): goroutines
    /// blocked on something no other goroutine can reach.
    Goroutineleak,
    /// Where goroutines blocked on synchronisation.
    Block,
    /// Holders of contended mutexes.
    Mutex,
    /// Stacks that created OS threads.
    Threadcreate,
    /// Go execution trace.
    Trace,
    /// Every goroutine as Delve read it from the stopped process, rendered like `debug=2`.
    DelveGoroutines,
    /// Delve's own answers (goroutines, stacks, locals) as JSON.
    DelveSnapshot,
    /// A Delve trace's hits (captured values, goroutines, stacks) and stops, as JSON.
    DelveTrace,
    /// A Delve trace for people: one block per hit.
    DelveTraceText,
    /// The Go crash output (panic or fatal error and the goroutines) from the previous
    /// container's log.
    Crash,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 15] = [
        ArtifactKind::Cpu,
        ArtifactKind::Heap,
        ArtifactKind::Allocs,
        ArtifactKind::Goroutine,
        ArtifactKind::GoroutineText,
        ArtifactKind::Goroutineleak,
        ArtifactKind::Block,
        ArtifactKind::Mutex,
        ArtifactKind::Threadcreate,
        ArtifactKind::Trace,
        ArtifactKind::DelveGoroutines,
        ArtifactKind::DelveSnapshot,
        ArtifactKind::DelveTrace,
        ArtifactKind::DelveTraceText,
        ArtifactKind::Crash,
    ];

    /// The stable name: `cpu`, `heap`, `allocs`, `goroutine`, `goroutineText`, `goroutineleak`, `block`, `mutex`,
    /// `threadcreate`, `trace`, `delveGoroutines`, `delveSnapshot`, `delveTrace`, `delveTraceText`, `crash`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Cpu => "cpu",
            ArtifactKind::Heap => "heap",
            ArtifactKind::Allocs => "allocs",
            ArtifactKind::Goroutine => "goroutine",
            ArtifactKind::GoroutineText => "goroutineText",
            ArtifactKind::Goroutineleak => "goroutineleak",
            ArtifactKind::Block => "block",
            ArtifactKind::Mutex => "mutex",
            ArtifactKind::Threadcreate => "threadcreate",
            ArtifactKind::Trace => "trace",
            ArtifactKind::DelveGoroutines => "delveGoroutines",
            ArtifactKind::DelveSnapshot => "delveSnapshot",
            ArtifactKind::DelveTrace => "delveTrace",
            ArtifactKind::DelveTraceText => "delveTraceText",
            ArtifactKind::Crash => "crash",
        }
    }

    /// How this kind's bytes are encoded.
    pub fn format(self) -> ArtifactFormat {
        match self {
            ArtifactKind::GoroutineText | ArtifactKind::DelveGoroutines | ArtifactKind::Crash => {
                ArtifactFormat::GoroutineText
            }
            ArtifactKind::Trace => ArtifactFormat::Trace,
            ArtifactKind::DelveSnapshot | ArtifactKind::DelveTrace => ArtifactFormat::DelveJson,
            ArtifactKind::DelveTraceText => ArtifactFormat::Text,
            _ => ArtifactFormat::Pprof,
        }
    }

    /// The file an artifact of this kind is stored as: `cpu.pb.gz`, `goroutine.txt`, `trace.out`.
    pub fn file_name(self) -> &'static str {
        match self {
            ArtifactKind::Cpu => "cpu.pb.gz",
            ArtifactKind::Heap => "heap.pb.gz",
            ArtifactKind::Allocs => "allocs.pb.gz",
            ArtifactKind::Goroutine => "goroutine.pb.gz",
            ArtifactKind::GoroutineText => "goroutine.txt",
            ArtifactKind::Goroutineleak => "goroutineleak.pb.gz",
            ArtifactKind::Block => "block.pb.gz",
            ArtifactKind::Mutex => "mutex.pb.gz",
            ArtifactKind::Threadcreate => "threadcreate.pb.gz",
            ArtifactKind::Trace => "trace.out",
            ArtifactKind::DelveGoroutines => "delve-goroutines.txt",
            ArtifactKind::DelveSnapshot => "delve-snapshot.json",
            ArtifactKind::DelveTrace => "delve-trace.json",
            ArtifactKind::DelveTraceText => "delve-trace.txt",
            ArtifactKind::Crash => "crash.txt",
        }
    }

    /// True for the kinds that span a time window (cpu, trace); the rest are snapshots.
    pub fn is_windowed(self) -> bool {
        matches!(self, ArtifactKind::Cpu | ArtifactKind::Trace)
    }

    /// True for pprof profiles that `go tool pprof` draws as a flame graph of where time or
    /// memory goes (goroutine and threadcreate stacks are counts, not costs).
    pub fn has_flame_graph(self) -> bool {
        matches!(
            self,
            ArtifactKind::Cpu | ArtifactKind::Heap | ArtifactKind::Allocs | ArtifactKind::Block | ArtifactKind::Mutex
        )
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An artifact kind name that is not one of [`ArtifactKind::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown artifact kind {0:?}; expected one of cpu, heap, allocs, goroutine, goroutineText, block, mutex, threadcreate, trace, delveGoroutines, delveSnapshot, delveTrace, delveTraceText, crash"
)]
pub struct UnknownArtifactKind(pub String);

impl FromStr for ArtifactKind {
    type Err = UnknownArtifactKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArtifactKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownArtifactKind(s.to_string()))
    }
}

/// How an artifact's bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactFormat {
    /// gzip-compressed profile.proto, readable by `go tool pprof`.
    Pprof,
    /// The `goroutine?debug=2` text dump (panic-style stacks).
    GoroutineText,
    /// A Go execution trace, readable by `go tool trace`.
    Trace,
    /// Delve's JSON-RPC answers, as JSON (not analysed; the rendered dump is).
    DelveJson,
    /// Plain text for people (not analysed).
    Text,
}

impl ArtifactFormat {
    pub const ALL: [ArtifactFormat; 5] = [
        ArtifactFormat::Pprof,
        ArtifactFormat::GoroutineText,
        ArtifactFormat::Trace,
        ArtifactFormat::DelveJson,
        ArtifactFormat::Text,
    ];

    /// The stable name: `pprof`, `goroutineText`, `trace`, `delveJson`, `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactFormat::Pprof => "pprof",
            ArtifactFormat::GoroutineText => "goroutineText",
            ArtifactFormat::Trace => "trace",
            ArtifactFormat::DelveJson => "delveJson",
            ArtifactFormat::Text => "text",
        }
    }
}

impl fmt::Display for ArtifactFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for k in ArtifactKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.as_str().parse::<ArtifactKind>(), Ok(k));
        }
        for f in ArtifactFormat::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        assert!("goroutine-text".parse::<ArtifactKind>().is_err());
    }

    #[test]
    fn every_kind_has_its_own_file() {
        let mut names: Vec<&str> = ArtifactKind::ALL.iter().map(|k| k.file_name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ArtifactKind::ALL.len());
    }
}
