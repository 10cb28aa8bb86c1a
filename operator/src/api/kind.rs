//! The kinds of Go diagnostics godiag can collect (what a request asks for) and the artifacts
//! they yield (what the status lists).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One kind of diagnostic data served by Go's `net/http/pprof`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// CPU profile over the request's `duration` (`/debug/pprof/profile`).
    Cpu,
    /// Live heap at the moment of collection (`/debug/pprof/heap`).
    Heap,
    /// Every allocation since the program started (`/debug/pprof/allocs`).
    Allocs,
    /// All goroutine stacks, as a pprof profile and as the `debug=2` text dump.
    Goroutine,
    /// Where goroutines blocked on synchronisation; empty unless the program set `runtime.SetBlockProfileRate`.
    Block,
    /// Holders of contended mutexes; empty unless the program set `runtime.SetMutexProfileFraction`.
    Mutex,
    /// Stacks that created OS threads (`/debug/pprof/threadcreate`).
    Threadcreate,
    /// Execution trace over `traceDuration` (`/debug/pprof/trace`); open it with `go tool trace`.
    Trace,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 8] = [
        ProfileKind::Cpu,
        ProfileKind::Heap,
        ProfileKind::Allocs,
        ProfileKind::Goroutine,
        ProfileKind::Block,
        ProfileKind::Mutex,
        ProfileKind::Threadcreate,
        ProfileKind::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Cpu => "cpu",
            ProfileKind::Heap => "heap",
            ProfileKind::Allocs => "allocs",
            ProfileKind::Goroutine => "goroutine",
            ProfileKind::Block => "block",
            ProfileKind::Mutex => "mutex",
            ProfileKind::Threadcreate => "threadcreate",
            ProfileKind::Trace => "trace",
        }
    }

    /// True for the kinds that span a time window (cpu, trace); the rest are snapshots.
    pub fn is_windowed(self) -> bool {
        matches!(self, ProfileKind::Cpu | ProfileKind::Trace)
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProfileKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProfileKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown profile kind {s:?}; expected one of cpu, heap, allocs, goroutine, block, mutex, threadcreate, trace"
                )
            })
    }
}

/// What one stored artifact is. Most requested kinds yield one artifact of the same name;
/// `goroutine` yields two: `goroutine` (the binary profile) and `goroutineText` (the `debug=2`
/// dump with every goroutine's state and wait time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactKind {
    /// CPU profile (`cpu.pb.gz`).
    Cpu,
    /// Live heap (`heap.pb.gz`).
    Heap,
    /// Allocations since the program started (`allocs.pb.gz`).
    Allocs,
    /// Goroutine stacks as a pprof profile (`goroutine.pb.gz`).
    Goroutine,
    /// Every goroutine with its state and wait time, as Go prints them (`goroutine.txt`).
    GoroutineText,
    /// The goroutines the Go runtime's own leak detector found (`goroutineleak.pb.gz`): collected
    /// with `goroutine` when the program serves it (Go 1.27, or 1.26 with
    /// GOEXPERIMENT=goroutineleakprofile).
    Goroutineleak,
    /// Blocking profile (`block.pb.gz`).
    Block,
    /// Mutex contention profile (`mutex.pb.gz`).
    Mutex,
    /// Thread creation profile (`threadcreate.pb.gz`).
    Threadcreate,
    /// Execution trace (`trace.out`).
    Trace,
    /// Every goroutine as Delve read it from the stopped process, in the form Go prints
    /// stacks (`delve-goroutines.txt`).
    DelveGoroutines,
    /// Delve's answers (goroutines, stacks, locals and arguments) as JSON (`delve-snapshot.json`).
    DelveSnapshot,
    /// Every hit of a Delve trace (captured values, goroutine, stack) and every stop, as JSON
    /// (`delve-trace.json`).
    DelveTrace,
    /// A Delve trace for reading: one block per hit (`delve-trace.txt`).
    DelveTraceText,
    /// The Go crash output (the panic or fatal error and the goroutines) found in the previous
    /// container's log (`crash.txt`).
    Crash,
}

/// How a stored artifact is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactFormat {
    /// gzip-compressed protobuf; open it with `go tool pprof`.
    Pprof,
    /// Text in the form Go prints goroutine stacks (`goroutine?debug=2`).
    GoroutineText,
    /// Go execution trace; open it with `go tool trace`.
    Trace,
    /// JSON: Delve's JSON-RPC answers.
    DelveJson,
    /// Plain text for reading.
    Text,
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
}

impl ArtifactFormat {
    pub const ALL: [ArtifactFormat; 5] = [
        ArtifactFormat::Pprof,
        ArtifactFormat::GoroutineText,
        ArtifactFormat::Trace,
        ArtifactFormat::DelveJson,
        ArtifactFormat::Text,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_rejects_unknown() {
        for k in ProfileKind::ALL {
            assert_eq!(k.as_str().parse::<ProfileKind>(), Ok(k));
        }
        let err = "goroutines".parse::<ProfileKind>().unwrap_err();
        assert!(err.contains("unknown profile kind \"goroutines\""), "{err}");
    }
}
