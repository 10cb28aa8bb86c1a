//! What one pod's artifact contributes to a comparison with its siblings, bounded: a profile's
//! totals, the program's functions and its heaviest folded stacks; goroutine counts by state and
//! site; trace figures. Built by the analysis (in the worker, from untrusted bytes) and stored as
//! `<kind>.digest.json` next to the artifact, so a comparison never parses a profile again.

use crate::goroutine::group::site_of;
use crate::{Analysis, ArtifactKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most functions one profile digest keeps (largest first); the rest are summed in the total.
pub const DIGEST_FUNCTIONS: usize = 1000;
/// Most folded stacks one digest keeps for the differential flame graph (heaviest first); the
/// rest are folded into one `[other-stacks]` frame.
pub const DIGEST_STACKS: usize = 2000;
/// Most bytes of stack text one digest keeps (deep stacks are long).
pub const DIGEST_STACK_BYTES: usize = 2 << 20;
/// Most goroutine groups (state, site) one digest keeps.
pub const DIGEST_GROUPS: usize = 500;
/// The frame the stacks beyond [`DIGEST_STACKS`] are folded into.
pub const OTHER_STACKS: &str = "[other-stacks]";

/// A function of the program and the value the profile attributes to it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Valued {
    pub name: String,
    pub value: i64,
}

/// A pprof profile, reduced to what a comparison needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProfileDigest {
    pub kind: ArtifactKind,
    pub sample_type: String,
    pub unit: String,
    /// Value of every sample but the profilers' own.
    pub total: i64,
    /// The profile's window (CPU), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<i64>,
    /// Sampled events (a CPU profile's `samples` total; else the number of samples).
    pub samples: u64,
    /// The program's own functions by attributed value, largest first.
    pub functions: Vec<Valued>,
    /// Folded stacks (`root;…;leaf`), heaviest first.
    pub stacks: Vec<Valued>,
}

/// Goroutines of one state parked at one site of the program.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GroupCount {
    pub state: String,
    pub site: String,
    pub count: u64,
}

/// A goroutine dump, reduced to counts by state and site.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineDigest {
    pub kind: ArtifactKind,
    pub total: u64,
    /// Largest first.
    pub groups: Vec<GroupCount>,
}

/// The figures of an execution trace that compare between pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TraceDigest {
    pub duration_ms: u64,
    /// Scheduler latency, 99th percentile, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched_latency_p99_us: Option<u64>,
    /// Share of the CPU taken by the garbage collector, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_cpu_percent: Option<f64>,
    /// GC cycles per second of trace.
    pub gc_per_second: f64,
    pub stw_max_us: u64,
    /// Threads in syscalls on average over the trace.
    pub syscall_threads: f64,
    /// Average P utilisation, in percent.
    pub utilization_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines_max: Option<u64>,
}

/// One artifact's digest, tagged by what it holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "digest", rename_all = "lowercase")]
pub enum Digest {
    Profile(ProfileDigest),
    Goroutines(GoroutineDigest),
    Trace(TraceDigest),
}

impl Digest {
    pub fn kind(&self) -> Option<ArtifactKind> {
        match self {
            Digest::Profile(p) => Some(p.kind),
            Digest::Goroutines(g) => Some(g.kind),
            Digest::Trace(_) => Some(ArtifactKind::Trace),
        }
    }
}

/// The heaviest `max` stacks within [`DIGEST_STACK_BYTES`], the rest folded into [`OTHER_STACKS`].
pub fn bounded_stacks(mut stacks: Vec<(String, i64)>, max: usize) -> Vec<Valued> {
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut bytes = 0usize;
    let keep = stacks
        .iter()
        .take(max)
        .take_while(|(s, _)| {
            bytes += s.len();
            bytes <= DIGEST_STACK_BYTES
        })
        .count();
    let rest: i64 = stacks.iter().skip(keep).fold(0i64, |s, (_, v)| s.saturating_add(*v));
    stacks.truncate(keep);
    let mut out: Vec<Valued> = stacks.into_iter().map(|(name, value)| Valued { name, value }).collect();
    if rest > 0 {
        out.push(Valued { name: OTHER_STACKS.into(), value: rest });
    }
    out
}

/// The digest of an analysed artifact (its analysis must have been run with at least
/// [`DIGEST_FUNCTIONS`] / [`DIGEST_GROUPS`] as `top`); `stacks` are the profile's folded stacks.
/// `None` for what does not compare (a crash, an empty profile).
pub fn digest(kind: ArtifactKind, analysis: &Analysis, stacks: Vec<(String, i64)>) -> Option<Digest> {
    match analysis {
        Analysis::Pprof(r) if r.own_total > 0 && !matches!(kind, ArtifactKind::Goroutine) => {
            Some(Digest::Profile(ProfileDigest {
                kind,
                sample_type: r.sample_type.clone(),
                unit: r.unit.clone(),
                total: r.own_total,
                duration_ns: r.duration_ns,
                // The sampled events (CPU: 100 a second), not the distinct stacks that hold them.
                samples: r
                    .sample_types
                    .iter()
                    .find(|t| t.name == "samples")
                    .map_or(r.samples as u64, |t| u64::try_from(t.total).unwrap_or(0)),
                functions: r
                    .own_code
                    .iter()
                    .take(DIGEST_FUNCTIONS)
                    .map(|f| Valued { name: f.name.clone(), value: f.value })
                    .collect(),
                stacks: bounded_stacks(stacks, DIGEST_STACKS),
            }))
        }
        Analysis::Goroutines(r)
            if matches!(kind, ArtifactKind::Goroutine | ArtifactKind::GoroutineText) && r.total > 0 =>
        {
            let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
            for g in &r.groups {
                let e = by.entry((g.state.clone(), site_of(&g.stack))).or_default();
                *e = e.saturating_add(g.count);
            }
            let mut groups: Vec<GroupCount> =
                by.into_iter().map(|((state, site), count)| GroupCount { state, site, count }).collect();
            groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.site.cmp(&b.site)));
            groups.truncate(DIGEST_GROUPS);
            Some(Digest::Goroutines(GoroutineDigest { kind, total: r.total, groups }))
        }
        Analysis::Trace(t) if t.duration_ns > 0 => {
            let secs = t.duration_ns as f64 / 1e9;
            Some(Digest::Trace(TraceDigest {
                duration_ms: t.duration_ns / 1_000_000,
                sched_latency_p99_us: t.blocking.scheduler.as_ref().map(|w| w.p99_ns / 1000),
                gc_cpu_percent: t.gc_cpu_percent,
                gc_per_second: t.gc_count as f64 / secs,
                stw_max_us: t.stw_max_ns / 1000,
                syscall_threads: t.syscall_ns as f64 / t.duration_ns as f64,
                utilization_percent: t.utilization() * 100.0,
                goroutines_max: t.goroutines.as_ref().map(|g| g.max),
            }))
        }
        _ => None,
    }
}
