//! What godiag read in one pod's artifacts, as the status publishes it: small and bounded (under
//! 2 KiB per pod). The full analysis of every artifact is in the pod's `summary.json`.

use super::kind::ArtifactKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A short, bounded summary of what godiag found in one pod's diagnostics (under 2 KiB).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetSummary {
    /// The program's functions that cost the most in each profile (at most three per profile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopFunction>,
    /// Goroutine counts, when a goroutine dump was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines: Option<GoroutineCounts>,
    /// Execution trace figures, when a trace was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceFigures>,
    /// What godiag noticed (goroutine leaks, contention, allocation and CPU hot spots, GC
    /// pressure), most severe first, at most five; with `spec.baseline`, what differs from the
    /// siblings comes first (at most eight in all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Remarks about the data itself, such as an empty profile or an artifact that could not be
    /// analysed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// This pod against its healthy siblings, with `spec.baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<super::BaselineSummary>,
    /// The Delve snapshot, when `spec.delve` asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delve: Option<DelveSummary>,
}

/// What the Delve snapshot of one pod read and what the program paid for it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DelveSummary {
    /// The ephemeral container godiag added to the pod (it stays in the pod, terminated).
    pub container: String,
    /// SysPtrace or SameUser.
    pub privilege: String,
    /// Delve's version and the target's Go version, e.g. `1.27.2 / go1.26.8`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub versions: String,
    /// Goroutines read (with their stacks) by a snapshot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub goroutines_read: u64,
    /// Set when the snapshot stopped early: MaxPause, MaxGoroutines or MaxBytes (Delve's answers
    /// reached 24 MiB; lower maxGoroutines, stackDepth or the load limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// How long the program was stopped while godiag read it, in milliseconds (from godiag's first
    /// call to Delve's answer to the detach).
    pub paused_ms: u64,
    /// How long dlv ran, in milliseconds: the attach (loading the binary's debug info, with the
    /// program stopped) plus the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlv_ran_ms: Option<u64>,
    /// The program runs again: after the detach the wrapper found it not stopped
    /// (`/proc/<pid>/status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    /// The program answered an HTTP request on its pprof port after the detach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded: Option<bool>,
    /// Values of locals in the largest goroutine groups (when `locals` was set), one per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locals: Vec<String>,
    /// The live session (mode Session): how to connect, and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<DelveSession>,
    /// What the trace recorded (mode Trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<DelveTraceSummary>,
}

/// What a trace recorded and what the program paid for it. Every hit is in the
/// `delveTrace` artifact (JSON) and `delveTraceText` (one line per hit).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DelveTraceSummary {
    /// When the tracepoints were set and the program let run (RFC 3339).
    pub started: String,
    /// How long the program ran with the tracepoints set, in milliseconds.
    pub window_ms: u64,
    /// Hits recorded, over every tracepoint.
    pub hits: u64,
    /// Why the trace ended: WindowEnded, MaxHits, TracepointHits or StopBudget (a bound of
    /// `trace`), or ConditionFailed, TargetExited, ProgramStopped, MaxBytes or Cancelled.
    pub ended_by: String,
    /// What ended it, in words.
    pub ended: String,
    /// The hit that reached the bound, if a hit did, on one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaking_hit: Option<String>,
    /// The time the program spent stopped at hits, in milliseconds (what `trace.stopBudget`
    /// bounds): each stop from Delve's answer to godiag's next continue, plus one round trip
    /// through the port-forward. Delve's own work before it answers (reading the values, and
    /// evaluating a condition at calls it does not record) is not in it.
    pub stopped_ms: f64,
    /// The longest stop at one hit, in milliseconds.
    pub longest_stop_ms: f64,
    /// Stopped for the end, in milliseconds: the halt if the window ended while the program
    /// ran, clearing the tracepoints, and Delve's detach.
    pub end_ms: f64,
    /// Stopped before the window, in milliseconds: checking the locations and setting the
    /// tracepoints (the attach itself is in `dlvRanMs`).
    pub setup_ms: u64,
    /// One call to Delve through the port-forward, in milliseconds.
    pub round_trip_ms: f64,
    /// Each tracepoint's hits and the values it captured.
    pub tracepoints: Vec<TracepointSummary>,
}

/// One tracepoint's part of a trace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TracepointSummary {
    pub name: String,
    /// Where Delve set it: `main.(*Shop).Price at shop/main.go:220`.
    pub location: String,
    pub hits: u64,
    /// Time stopped at this tracepoint's hits, in milliseconds.
    pub stopped_ms: f64,
    /// The slowest stop at one of its hits, in milliseconds.
    pub slowest_stop_ms: f64,
    /// Per captured expression: its most frequent values with their counts (for the first 12
    /// expressions over all tracepoints; the `delveTrace` artifact has every value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<CapturedValues>,
}

/// The values one captured expression had.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CapturedValues {
    pub expression: String,
    /// Distinct values seen (counted up to 1000).
    pub distinct: u64,
    /// The three most frequent values, most frequent first, as `count× value`.
    pub top: Vec<String>,
}

/// How to reach a Delve session.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DelveSession {
    /// Run this first: it forwards the pod's dlv port (loopback in the pod) to your machine.
    pub port_forward: String,
    /// Then this, in another terminal. Leave with `exit -c`: the program runs on. A plain `exit`
    /// asks "kill the headless instance?": `n` leaves the program stopped until godiag detaches at
    /// the deadline, `y` kills it.
    pub connect: String,
    /// When godiag detaches (RFC 3339).
    pub deadline: String,
    /// Delve's API is code execution in the program: anyone who can port-forward to the pod can
    /// use it until the deadline.
    pub warning: String,
}

/// One of the program's functions that cost the most in a profile.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopFunction {
    /// The profile the function was found in: cpu, heap, allocs, block, mutex or threadcreate.
    pub profile: ArtifactKind,
    /// The program's own function (the innermost frame of its code on the sampled stacks, not
    /// the runtime's or the standard library's), as `go tool pprof` names it.
    pub name: String,
    /// Where most of that cost was spent, when it is another function: the hot leaf (CPU) or
    /// the library call that allocated (heap), e.g. `sha256.blockSHANI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// Share of the profile's samples attributed to the function and what it called below the
    /// program's code, in percent (samples taken inside the profilers are left out).
    pub percent: f64,
}

/// Goroutine counts from the goroutine dump.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineCounts {
    /// Number of goroutines in the dump.
    pub total: u64,
    /// Goroutines per state (wait reason), the largest few; the rest are counted under `other`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_state: BTreeMap<String, u64>,
    /// Goroutines the Go runtime itself reported as leaked (Go 1.26+ leak detection).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leaked: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Headline numbers from the execution trace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TraceFigures {
    /// Length of the trace in milliseconds.
    pub duration_ms: u64,
    /// Goroutines created during the trace.
    pub goroutines_created: u64,
    /// Garbage collection cycles that started during the trace.
    pub gc_count: u64,
    /// Longest stop-the-world pause, in microseconds.
    pub stw_max_us: u64,
    /// Average P utilisation over the trace, in percent.
    pub utilization_percent: f64,
    /// Scheduler latency (time goroutines waited for a CPU after becoming runnable) at its
    /// tail: the 99th percentile, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched_latency_tail_us: Option<u64>,
    /// The longest scheduler latency, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched_latency_max_us: Option<u64>,
    /// Share of the CPU the garbage collector took over the trace, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_cpu_percent: Option<f64>,
    /// The most goroutines alive at once during the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines_max: Option<u64>,
}

/// Something godiag noticed in the collected data.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The rule that fired.
    pub rule: FindingRule,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence for humans.
    pub message: String,
    /// The function or stack and the numbers behind the finding (at most 4 short lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// The rule behind a finding.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FindingRule {
    /// The program crashed: a panic or fatal error (from the previous container's log), with
    /// the goroutine and the function of the program where it happened.
    Crash,
    /// Many goroutines parked in a channel, select or sync wait with the same stack, or
    /// goroutines the runtime's own leak detector reports.
    GoroutineLeak,
    /// A function, allocation site or goroutine group takes a much larger share of this pod
    /// than of its healthy siblings profiled in the same window (`spec.baseline`).
    DiffersFromSiblings,
    /// One call site causes most of the block or mutex delay.
    LockContention,
    /// Garbage collection takes a large share of CPU, or stops the world for long.
    GcPressure,
    /// One function uses a large share of CPU on its own.
    CpuDominantFunction,
    /// One allocation site accounts for most in-use or allocated memory.
    AllocationHotSpot,
    /// The container used (nearly) all of its CPU limit over the window: the kernel throttles it.
    CpuThrottling,
    /// GOMAXPROCS (from the trace) is above what the CPU limit lets the container run.
    GomaxprocsAboveLimit,
    /// The live heap is a large share of the container's memory limit.
    HeapNearLimit,
    /// Goroutines waited long for a CPU after becoming runnable (scheduler latency, from the
    /// execution trace), with what the Ps' utilisation says about why.
    SchedulerLatency,
    /// Goroutines spent much of the trace in syscalls (threads in the kernel on average).
    SyscallTime,
    /// Allocating goroutines spent much of their running time assisting the GC.
    GcAssist,
    /// A block or mutex profile is empty because the program never set its rate.
    ProfilingRateUnset,
}

/// How much a finding matters.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Almost certainly a problem, e.g. goroutines the runtime itself reports as leaked.
    High,
    /// Likely a problem worth a look.
    Warning,
    /// Context, or why some data is missing.
    Info,
}

impl FindingRule {
    pub const ALL: [FindingRule; 14] = [
        FindingRule::Crash,
        FindingRule::GoroutineLeak,
        FindingRule::DiffersFromSiblings,
        FindingRule::LockContention,
        FindingRule::GcPressure,
        FindingRule::CpuDominantFunction,
        FindingRule::AllocationHotSpot,
        FindingRule::CpuThrottling,
        FindingRule::GomaxprocsAboveLimit,
        FindingRule::HeapNearLimit,
        FindingRule::SchedulerLatency,
        FindingRule::SyscallTime,
        FindingRule::GcAssist,
        FindingRule::ProfilingRateUnset,
    ];
}
