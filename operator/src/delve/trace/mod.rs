//! Mode Trace: tracepoints that record what goes through a function of a live program, bounded
//! so the program keeps serving. The plan (from the request), the record (`delve-trace.json`),
//! the bounds, the loop against Delve, the status summary and the text rendering.

pub mod bounds;
pub mod render;
pub mod run;
pub mod summary;

use super::types::{LoadConfig, Version};
use bounds::EndReason;
use serde::Serialize;
use std::time::Duration;

/// Most bytes of Delve answers one trace reads (each hit's answer holds every thread).
pub const MAX_TRACE_BYTES: u64 = 64 << 20;
/// Longest rendering of one captured value, argument or local.
pub const MAX_VALUE_CHARS: usize = 256;

/// One tracepoint as the loop runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TracepointPlan {
    pub name: String,
    pub location: String,
    pub condition: Option<String>,
    pub capture: Vec<String>,
    pub arguments: bool,
    pub locals: bool,
    pub stack_depth: i64,
    pub max_hits: Option<usize>,
}

/// What the trace does, from the request's `spec.delve` (or `godiag delve trace`).
#[derive(Debug, Clone, PartialEq)]
pub struct TracePlan {
    pub tracepoints: Vec<TracepointPlan>,
    pub window: Duration,
    pub max_hits: usize,
    pub stop_budget: Duration,
    pub load: LoadConfig,
    pub max_bytes: u64,
}

impl TracePlan {
    pub fn bounds(&self) -> bounds::Bounds {
        bounds::Bounds {
            window: self.window,
            max_hits: self.max_hits,
            stop_budget: self.stop_budget,
            per_tracepoint: self.tracepoints.iter().map(|t| t.max_hits).collect(),
        }
    }
}

/// A tracepoint as Delve placed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracepointRecord {
    pub name: String,
    pub location: String,
    /// Where Delve set it: `main.(*Shop).Price at shop/main.go:220`.
    pub resolved: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    pub capture: Vec<String>,
    pub hits: usize,
}

/// One captured expression's value at a hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Captured {
    pub expression: String,
    pub value: String,
}

/// One recorded hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub tracepoint: String,
    /// Milliseconds since the window started.
    pub at_ms: u64,
    pub goroutine: i64,
    pub captured: Vec<Captured>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locals: Vec<String>,
    /// `function (file:line)`, innermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
    /// The stop this hit belongs to (several goroutines can hit at once): an index into `stops`.
    pub stop: usize,
}

/// One time the program was stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    pub at_ms: u64,
    /// From Delve's answer to godiag's next continue (or detach), plus one round trip.
    pub stopped_ms: f64,
    /// What stopped it: hits, or the end.
    pub cause: String,
    /// The end's stop (halt, clear, detach): not a hit's, and outside the stop budget.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// Everything the trace saw: stored as `delve-trace.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRecord {
    pub version: Version,
    pub tracepoints: Vec<TracepointRecord>,
    pub hits: Vec<Hit>,
    pub stops: Vec<Stop>,
    /// When the program was let run with the tracepoints set (RFC 3339).
    pub started: String,
    /// Stopped before the window: checking the locations and setting the tracepoints.
    pub setup_ms: u64,
    /// How long the program ran with the tracepoints set.
    pub window_ms: u64,
    /// One call through the port-forward, measured before the window.
    pub round_trip_ms: f64,
    /// Stopped at hits in all (what the stop budget bounds).
    pub stopped_ms: f64,
    pub longest_stop_ms: f64,
    /// Stopped for the end: the halt when the window ended while it ran, clearing the
    /// tracepoints, and Delve's detach.
    pub end_ms: f64,
    pub ended_by: EndReason,
    /// What ended it, in words.
    pub ended: String,
    /// The hit that reached the bound, if a hit did: an index into `hits`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaking_hit: Option<usize>,
    /// Hits Delve reported past a limit (several goroutines at once): seen, not recorded.
    pub dropped_hits: usize,
    /// Delve acknowledged the detach.
    pub detached: bool,
}

/// Why a trace could not start, or broke off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("the target's {target} is outside what Delve {delve} reads (Go {min} to {max}); use a newer Delve image")]
    GoVersionUnsupported { target: String, delve: String, min: String, max: String },
    #[error("the target process has exited (status {status})")]
    TargetExited { status: i64 },
    #[error("Delve found no Go version in the program's debug information (a stripped binary?)")]
    NoDebugInfo,
    #[error(
        "the target is running under this dlv (started with --continue?): godiag sets tracepoints only in a target that dlv holds stopped"
    )]
    TargetRunning,
    #[error("tracepoint {tracepoint}: Delve cannot find {location:?}: {message}; nothing was left in the program")]
    LocationNotFound { tracepoint: String, location: String, message: String },
    #[error(
        "tracepoint {tracepoint}: the condition {condition:?} is not a Go expression Delve accepts: {message}; nothing was left in the program"
    )]
    ConditionInvalid { tracepoint: String, condition: String, message: String },
    #[error("tracepoint {tracepoint} at {location:?}: Delve refused it: {message}; nothing was left in the program")]
    TracepointRefused { tracepoint: String, location: String, message: String },
    #[error(transparent)]
    Rpc(#[from] super::rpc::RpcError),
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}
