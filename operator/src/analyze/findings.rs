//! The rule set that turns numbers into findings. Every finding names its rule, carries the
//! evidence (function or stack and the numbers) and is bounded in size; lists are sorted
//! in a stable order (severity, rule, message).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most findings one report or summary carries.
pub const MAX_FINDINGS: usize = 8;
const MAX_EVIDENCE: usize = 4;
const MAX_TEXT: usize = 160;

/// Rule names, as they appear in `Finding::rule`.
pub mod rule {
    pub const GOROUTINE_LEAK: &str = "goroutine-leak";
    pub const LOCK_CONTENTION: &str = "lock-contention";
    pub const ALLOCATION_HOT_SPOT: &str = "allocation-hot-spot";
    pub const GC_PRESSURE: &str = "gc-pressure";
    pub const CPU_DOMINANT_FUNCTION: &str = "cpu-dominant-function";
    pub const PROFILING_RATE_UNSET: &str = "profiling-rate-unset";
}

/// How much a finding matters: `high` (almost certainly a problem, e.g. goroutines the runtime
/// itself reports as leaked), `warning` (likely a problem worth a look) or `info` (context, or
/// why some data is missing).
// Variants carry no doc comments on purpose: schemars would turn documented variants into a
// `oneOf`, which is not a structural schema; plain variants become a string `enum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Warning,
    #[default]
    Info,
}

/// Something godiag noticed in the collected data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The rule that fired: `goroutine-leak`, `lock-contention`, `allocation-hot-spot`, `gc-pressure`,
    /// `cpu-dominant-function` or `profiling-rate-unset`.
    pub rule: String,
    /// How much it matters: `high`, `warning` or `info`.
    pub severity: Severity,
    /// One sentence for humans.
    pub message: String,
    /// The function or stack and the numbers behind the finding (at most 4 short lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// Rules in order of how much a reader needs them first.
fn rule_rank(r: &str) -> usize {
    [
        rule::GOROUTINE_LEAK,
        rule::LOCK_CONTENTION,
        rule::GC_PRESSURE,
        rule::CPU_DOMINANT_FUNCTION,
        rule::ALLOCATION_HOT_SPOT,
        rule::PROFILING_RATE_UNSET,
    ]
    .iter()
    .position(|x| *x == r)
    .unwrap_or(usize::MAX)
}

/// Truncates to at most `max` bytes on a char boundary, marking the cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Finding {
    pub fn new(rule: &str, severity: Severity, message: impl Into<String>, evidence: Vec<String>) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity,
            message: clip(&message.into(), MAX_TEXT),
            evidence: evidence.iter().take(MAX_EVIDENCE).map(|e| clip(e, MAX_TEXT)).collect(),
        }
    }
}

/// Sorts findings into their stable order, drops exact duplicates and keeps at most `max`.
pub fn normalize(mut v: Vec<Finding>, max: usize) -> Vec<Finding> {
    v.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| rule_rank(&a.rule).cmp(&rule_rank(&b.rule)))
            .then_with(|| a.message.cmp(&b.message))
    });
    v.dedup();
    // The same rule about the same subject (first word of the message) from two profiles, e.g.
    // an allocation hot spot seen in both heap and allocs: keep the first.
    let mut seen = std::collections::HashSet::new();
    v.retain(|f| {
        let subject = f.message.split_whitespace().next().unwrap_or("").to_string();
        seen.insert((f.rule.clone(), subject))
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
        }
    }
}

/// Formats a value in its unit for messages: `1.23s`, `45.6MB`, `7`.
pub fn human(v: i64, unit: &str) -> String {
    let f = v as f64;
    match unit {
        "nanoseconds" => {
            let a = f.abs();
            if a >= 1e9 {
                format!("{:.2}s", f / 1e9)
            } else if a >= 1e6 {
                format!("{:.2}ms", f / 1e6)
            } else if a >= 1e3 {
                format!("{:.2}µs", f / 1e3)
            } else {
                format!("{v}ns")
            }
        }
        "bytes" => {
            let a = f.abs();
            if a >= 1024.0 * 1024.0 * 1024.0 {
                format!("{:.2}GB", f / (1024.0 * 1024.0 * 1024.0))
            } else if a >= 1024.0 * 1024.0 {
                format!("{:.2}MB", f / (1024.0 * 1024.0))
            } else if a >= 1024.0 {
                format!("{:.2}kB", f / 1024.0)
            } else {
                format!("{v}B")
            }
        }
        _ => v.to_string(),
    }
}
