//! A pod compared with its healthy siblings (pods of the same owner, profiled in the same
//! window). Load differs between replicas, so nothing is compared in absolute terms: every
//! function, allocation site and goroutine group is a share of its own pod's total, and the
//! siblings' share is the mean of each sibling's own share (a busier sibling weighs no more).
//! CPU is also given per second of wall time (cores), allocation sites in bytes, so the numbers
//! read as a person would act on them. Pure: digests in, comparison out.

pub mod digest;
mod findings;
mod rank;

pub use digest::{Digest, GoroutineDigest, GroupCount, ProfileDigest, TraceDigest, Valued, digest};
pub use rank::{compare_goroutines, compare_profiles, compare_traces};

use crate::ArtifactKind;
use crate::findings::Finding;
use serde::{Deserialize, Serialize};

/// How values of one profile kind are made comparable between pods.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum Normalization {
    /// Share of each pod's CPU time; values in cores (CPU seconds per second of wall time).
    CpuShare,
    /// Share of each pod's sample total (bytes, objects, delay, goroutines).
    ShareOfTotal,
}

impl Normalization {
    /// How the comparison of this kind reads, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Normalization::CpuShare => {
                "each function's share of its pod's CPU time; cores = CPU seconds per second of wall time"
            }
            Normalization::ShareOfTotal => "each site's share of its pod's sample total",
        }
    }
}

/// One function (or allocation site) in the target and in the siblings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    pub name: String,
    /// Share of the target's total, in percent.
    pub target_percent: f64,
    /// Mean of the siblings' shares, in percent.
    pub siblings_percent: f64,
    /// The largest share among the siblings, in percent.
    pub siblings_max_percent: f64,
    /// The target's value: cores for CPU, else the profile's unit.
    pub target_value: f64,
    /// The siblings' mean value, in the same unit.
    pub siblings_value: f64,
}

impl Shift {
    /// Percentage points the share grew by (negative: shrank).
    pub fn delta(&self) -> f64 {
        self.target_percent - self.siblings_percent
    }
}

/// One profile kind, target against siblings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProfileComparison {
    pub kind: ArtifactKind,
    pub sample_type: String,
    /// Unit of `targetValue` and `siblingsValue`: `cores` for CPU, else the profile's.
    pub unit: String,
    pub normalization: Normalization,
    /// The target's total, in `unit`.
    pub target_total: f64,
    /// The siblings' mean total, in `unit`.
    pub siblings_total: f64,
    /// How many siblings had this profile.
    pub siblings: usize,
    /// Samples in the target's profile (few samples make shares noisy).
    pub target_samples: u64,
    /// The largest changes of share: grown first (largest first), then shrunk.
    pub shifts: Vec<Shift>,
}

/// Goroutines of one state and site, target against siblings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupShift {
    pub state: String,
    pub site: String,
    pub target: u64,
    pub siblings_mean: f64,
    pub siblings_max: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineComparison {
    pub target_total: u64,
    pub siblings_total: f64,
    pub siblings: usize,
    /// Groups with more goroutines in the target than in its siblings, largest excess first.
    pub groups: Vec<GroupShift>,
}

/// One trace figure, side by side.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceRow {
    pub figure: String,
    pub unit: String,
    pub target: f64,
    pub siblings_mean: f64,
    pub siblings_min: f64,
    pub siblings_max: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceComparison {
    pub siblings: usize,
    pub rows: Vec<TraceRow>,
}

/// A pod compared with its siblings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The siblings' names.
    pub siblings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileComparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines: Option<GoroutineComparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceComparison>,
    /// What differs enough from every sibling to be worth a look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// The siblings' folded stacks of one profile as one baseline: each sibling scaled to the
/// target's total before they are summed, so each weighs the same whatever its load.
pub fn baseline_stacks(target: &ProfileDigest, siblings: &[&ProfileDigest]) -> Vec<(String, i64)> {
    let mut sum: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for s in siblings.iter().filter(|s| s.total > 0) {
        let k = target.total as f64 / s.total as f64 / siblings.len() as f64;
        for st in &s.stacks {
            *sum.entry(st.name.as_str()).or_default() += st.value as f64 * k;
        }
    }
    sum.into_iter().map(|(s, v)| (s.to_string(), v.round() as i64)).filter(|(_, v)| *v > 0).collect()
}

/// The target's digests against each sibling's (name, digests).
pub fn compare(target: &[Digest], siblings: &[(String, Vec<Digest>)]) -> Comparison {
    let mut c = Comparison { siblings: siblings.iter().map(|(n, _)| n.clone()).collect(), ..Comparison::default() };
    for t in target {
        match t {
            Digest::Profile(tp) => {
                let sib: Vec<&ProfileDigest> = siblings
                    .iter()
                    .flat_map(|(_, ds)| ds.iter())
                    .filter_map(|d| match d {
                        Digest::Profile(p) if p.kind == tp.kind && p.sample_type == tp.sample_type => Some(p),
                        _ => None,
                    })
                    .collect();
                if let Some(pc) = compare_profiles(tp, &sib) {
                    c.profiles.push(pc);
                }
            }
            Digest::Goroutines(tg) => {
                // The text dump (with states) wins over the binary profile when both are there.
                if c.goroutines.is_some() && tg.kind != ArtifactKind::GoroutineText {
                    continue;
                }
                let sib: Vec<&GoroutineDigest> = siblings
                    .iter()
                    .flat_map(|(_, ds)| ds.iter())
                    .filter_map(|d| match d {
                        Digest::Goroutines(g) if g.kind == tg.kind => Some(g),
                        _ => None,
                    })
                    .collect();
                if let Some(gc) = compare_goroutines(tg, &sib) {
                    c.goroutines = Some(gc);
                }
            }
            Digest::Trace(tt) => {
                let sib: Vec<&TraceDigest> = siblings
                    .iter()
                    .flat_map(|(_, ds)| ds.iter())
                    .filter_map(|d| match d {
                        Digest::Trace(t) => Some(t),
                        _ => None,
                    })
                    .collect();
                c.trace = compare_traces(tt, &sib);
            }
        }
    }
    c.findings = findings::findings(&c);
    c
}
