//! The rule set that turns numbers into findings. Every finding names its rule, carries the
//! evidence (function or stack and the numbers) and is bounded in size; lists are sorted
//! in a stable order (severity, rule, message).

use crate::text::clip;
use serde::{Deserialize, Serialize};

/// Most findings one report or summary carries.
pub const MAX_FINDINGS: usize = 8;
pub(crate) const MAX_EVIDENCE: usize = 4;
const MAX_TEXT: usize = 160;

/// The rule that produced a finding, in the order a reader needs them first. Serialized as
/// its [`reason`](Rule::reason): `goroutine-leak`, `lock-contention`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The program crashed: a panic or a fatal error, with the goroutine that caused it.
    Crash,
    /// Many goroutines parked with one stack, or the runtime's own leak detector.
    GoroutineLeak,
    /// A function, allocation site or goroutine group takes a much larger share here than in
    /// the pod's healthy siblings profiled in the same window.
    DiffersFromSiblings,
    /// One site causes most of the block or mutex delay.
    LockContention,
    /// Garbage collection takes a large share of CPU or of the trace.
    GcPressure,
    /// One function burns most of the CPU on its own.
    CpuDominantFunction,
    /// One allocation site holds or allocates most of the bytes.
    AllocationHotSpot,
    /// The container used (nearly) all of its CPU limit: the kernel throttles it.
    CpuThrottling,
    /// GOMAXPROCS is above what the CPU limit lets the container run.
    GomaxprocsAboveLimit,
    /// The live heap is a large share of the container's memory limit.
    HeapNearLimit,
    /// Goroutines wait long for a CPU after becoming runnable (from the trace).
    SchedulerLatency,
    /// Goroutines spend much of the trace in syscalls.
    SyscallTime,
    /// Allocating goroutines spend much of their running time assisting the GC.
    GcAssist,
    /// A block or mutex profile is empty because its rate was never set.
    #[default]
    ProfilingRateUnset,
}

impl Rule {
    pub const ALL: [Rule; 14] = [
        Rule::Crash,
        Rule::GoroutineLeak,
        Rule::DiffersFromSiblings,
        Rule::LockContention,
        Rule::GcPressure,
        Rule::CpuDominantFunction,
        Rule::AllocationHotSpot,
        Rule::CpuThrottling,
        Rule::GomaxprocsAboveLimit,
        Rule::HeapNearLimit,
        Rule::SchedulerLatency,
        Rule::SyscallTime,
        Rule::GcAssist,
        Rule::ProfilingRateUnset,
    ];

    /// The stable name of the rule.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Crash => "crash",
            Rule::GoroutineLeak => "goroutine-leak",
            Rule::DiffersFromSiblings => "differs-from-siblings",
            Rule::LockContention => "lock-contention",
            Rule::GcPressure => "gc-pressure",
            Rule::CpuDominantFunction => "cpu-dominant-function",
            Rule::AllocationHotSpot => "allocation-hot-spot",
            Rule::CpuThrottling => "cpu-throttling",
            Rule::GomaxprocsAboveLimit => "gomaxprocs-above-limit",
            Rule::HeapNearLimit => "heap-near-limit",
            Rule::SchedulerLatency => "scheduler-latency",
            Rule::SyscallTime => "syscall-time",
            Rule::GcAssist => "gc-assist",
            Rule::ProfilingRateUnset => "profiling-rate-unset",
        }
    }
}

/// How much a finding matters: `high` (almost certainly a problem, e.g. goroutines the runtime
/// itself reports as leaked), `warning` (likely a problem worth a look) or `info` (context, or
/// why some data is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Warning,
    #[default]
    Info,
}

/// Something godiag noticed in the collected data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The rule that fired.
    pub rule: Rule,
    /// How much it matters: `high`, `warning` or `info`.
    pub severity: Severity,
    /// One sentence for humans.
    pub message: String,
    /// The function or stack and the numbers behind the finding (at most 4 short lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(rule: Rule, severity: Severity, message: impl Into<String>, evidence: Vec<String>) -> Finding {
        Finding {
            rule,
            severity,
            message: clip(&message.into(), MAX_TEXT),
            evidence: evidence.iter().take(MAX_EVIDENCE).map(|e| clip(e, MAX_TEXT)).collect(),
        }
    }
}

/// Sorts findings into their stable order, drops exact duplicates and keeps at most `max`.
pub fn normalize(mut v: Vec<Finding>, max: usize) -> Vec<Finding> {
    v.sort_by(|a, b| {
        a.severity.cmp(&b.severity).then_with(|| a.rule.cmp(&b.rule)).then_with(|| a.message.cmp(&b.message))
    });
    v.dedup();
    // The same rule about the same subject (first word of the message) from two profiles, e.g.
    // an allocation hot spot seen in both heap and allocs: keep the first.
    let mut seen = std::collections::HashSet::new();
    v.retain(|f| {
        let subject = f.message.split_whitespace().next().unwrap_or("").to_string();
        seen.insert((f.rule, subject))
    });
    v.truncate(max);
    v
}

/// Share of `part` in `total`, in percent (0 when the total is 0).
pub fn percent(part: i64, total: i64) -> f64 {
    if total == 0 { 0.0 } else { (part as f64) * 100.0 / (total as f64) }
}

/// Thresholds of the rules; the defaults are deliberately conservative.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// A group of goroutines parked with the same stack in a channel/select/sync state is a
    /// leak suspect from this many goroutines on…
    pub leak_min_group: u64,
    /// …or from `leak_min_group_waited` goroutines that have waited at least this many minutes.
    pub leak_min_minutes: u64,
    pub leak_min_group_waited: u64,
    /// One function with at least this share of CPU (flat) dominates.
    pub cpu_dominant_percent: f64,
    /// GC work (background mark workers, assists, sweeping) above this share of CPU is pressure.
    pub gc_cpu_percent: f64,
    /// Stop-the-world time above this share of a trace's duration is GC pressure.
    pub stw_percent: f64,
    /// An allocation site with at least this share of allocated bytes is a hot spot.
    pub alloc_site_percent: f64,
    /// A contention site with at least this share of delay is a hot spot.
    pub contention_site_percent: f64,
    /// CPU used over the window, as a share of the CPU limit, from which the container is
    /// reported as throttled.
    pub cpu_limit_percent: f64,
    /// Live heap, as a share of the memory limit, from which it is reported (with GOGC=100
    /// the heap grows to twice the live heap, so 50% already reaches the limit).
    pub heap_limit_percent: f64,
    /// Scheduler latency (runnable → running) whose p99 reaches this many milliseconds.
    pub sched_latency_p99_ms: f64,
    /// Time in syscalls, as threads in the kernel on average over the trace, from which it is
    /// reported.
    pub syscall_threads: f64,
    /// GC mark assist, as a share of goroutine running time, from which it is reported.
    pub gc_assist_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            leak_min_group: 100,
            leak_min_minutes: 10,
            leak_min_group_waited: 10,
            cpu_dominant_percent: 40.0,
            gc_cpu_percent: 20.0,
            stw_percent: 5.0,
            alloc_site_percent: 25.0,
            contention_site_percent: 20.0,
            cpu_limit_percent: 90.0,
            heap_limit_percent: 50.0,
            sched_latency_p99_ms: 10.0,
            syscall_threads: 0.5,
            gc_assist_percent: 10.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_sort_by_severity_then_rule_and_drop_repeats() {
        let f = |rule, sev, msg: &str| Finding::new(rule, sev, msg, vec![]);
        let v = normalize(
            vec![
                f(Rule::AllocationHotSpot, Severity::Info, "main.a accounts for 30% of allocated bytes"),
                f(Rule::CpuDominantFunction, Severity::Warning, "main.b uses 50% of CPU on its own"),
                f(Rule::GoroutineLeak, Severity::High, "200 goroutines leaked"),
                f(Rule::AllocationHotSpot, Severity::Info, "main.a accounts for 31% of in-use bytes"),
            ],
            8,
        );
        let rules: Vec<Rule> = v.iter().map(|f| f.rule).collect();
        assert_eq!(rules, [Rule::GoroutineLeak, Rule::CpuDominantFunction, Rule::AllocationHotSpot]);
        assert_eq!(normalize(v, 1).len(), 1);
    }

    #[test]
    fn a_finding_is_bounded_whatever_its_input() {
        let long = "x".repeat(10_000);
        let f = Finding::new(Rule::GcPressure, Severity::Warning, long.clone(), vec![long; 20]);
        assert!(f.message.len() <= MAX_TEXT);
        assert_eq!(f.evidence.len(), MAX_EVIDENCE);
        assert!(f.evidence.iter().all(|e| e.len() <= MAX_TEXT));
        assert_eq!(serde_json::to_value(Rule::GcPressure).unwrap(), "gc-pressure");
    }
}
