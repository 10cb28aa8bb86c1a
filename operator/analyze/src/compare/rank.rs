//! Shares and their changes: the arithmetic of a sibling comparison.

use super::digest::{GoroutineDigest, ProfileDigest, TraceDigest};
use super::{GoroutineComparison, GroupShift, Normalization, ProfileComparison, Shift, TraceComparison, TraceRow};
use crate::ArtifactKind;
use std::collections::{BTreeMap, BTreeSet};

/// Functions whose share grew that a comparison lists.
const GREW: usize = 5;
/// Functions whose share shrank that a comparison lists.
const SHRANK: usize = 3;
/// Changes smaller than this many percentage points are noise, not listed.
const MIN_LISTED_DELTA: f64 = 0.5;
/// Goroutine groups a comparison lists.
const GROUPS: usize = 5;

fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = v.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn share(value: i64, total: i64) -> f64 {
    if total <= 0 { 0.0 } else { value as f64 * 100.0 / total as f64 }
}

/// What one unit of a profile is worth after normalisation, and the unit it is then in.
fn scale(p: &ProfileDigest, normalization: Normalization) -> f64 {
    match (normalization, p.duration_ns) {
        (Normalization::CpuShare, Some(d)) if d > 0 => 1.0 / d as f64,
        _ => 1.0,
    }
}

fn normalization_of(t: &ProfileDigest, siblings: &[&ProfileDigest]) -> Normalization {
    let timed = |p: &ProfileDigest| p.duration_ns.is_some_and(|d| d > 0);
    if t.kind == ArtifactKind::Cpu && timed(t) && siblings.iter().all(|s| timed(s)) {
        Normalization::CpuShare
    } else {
        Normalization::ShareOfTotal
    }
}

/// One profile kind of the target against the same kind in each sibling; `None` without siblings.
pub fn compare_profiles(t: &ProfileDigest, siblings: &[&ProfileDigest]) -> Option<ProfileComparison> {
    if siblings.is_empty() || t.total <= 0 {
        return None;
    }
    let normalization = normalization_of(t, siblings);
    let unit = if normalization == Normalization::CpuShare { "cores".to_string() } else { t.unit.clone() };
    fn index(p: &ProfileDigest) -> BTreeMap<&str, i64> {
        p.functions.iter().map(|f| (f.name.as_str(), f.value)).collect()
    }
    let tv = index(t);
    let sv: Vec<BTreeMap<&str, i64>> = siblings.iter().map(|s| index(s)).collect();
    let names: BTreeSet<&str> = tv.keys().chain(sv.iter().flat_map(|m| m.keys())).copied().collect();
    let mut shifts: Vec<Shift> = names
        .into_iter()
        .map(|name| {
            let of = |m: &BTreeMap<&str, i64>| m.get(name).copied().unwrap_or(0).max(0);
            let sib_shares: Vec<f64> = siblings.iter().zip(&sv).map(|(s, m)| share(of(m), s.total)).collect();
            Shift {
                name: name.to_string(),
                target_percent: share(of(&tv), t.total),
                siblings_percent: mean(sib_shares.iter().copied()),
                siblings_max_percent: sib_shares.iter().copied().fold(0.0, f64::max),
                target_value: of(&tv) as f64 * scale(t, normalization),
                siblings_value: mean(siblings.iter().zip(&sv).map(|(s, m)| of(m) as f64 * scale(s, normalization))),
            }
        })
        .collect();
    shifts.sort_by(|a, b| b.delta().total_cmp(&a.delta()).then_with(|| a.name.cmp(&b.name)));
    let grew: Vec<Shift> = shifts.iter().filter(|s| s.delta() >= MIN_LISTED_DELTA).take(GREW).cloned().collect();
    let shrank: Vec<Shift> =
        shifts.iter().rev().filter(|s| s.delta() <= -MIN_LISTED_DELTA).take(SHRANK).cloned().collect();
    Some(ProfileComparison {
        kind: t.kind,
        sample_type: t.sample_type.clone(),
        unit,
        normalization,
        target_total: t.total as f64 * scale(t, normalization),
        siblings_total: mean(siblings.iter().map(|s| s.total as f64 * scale(s, normalization))),
        siblings: siblings.len(),
        target_samples: t.samples,
        shifts: grew.into_iter().chain(shrank).collect(),
    })
}

/// Goroutine groups (state and site) with more goroutines in the target than in its siblings.
pub fn compare_goroutines(t: &GoroutineDigest, siblings: &[&GoroutineDigest]) -> Option<GoroutineComparison> {
    if siblings.is_empty() {
        return None;
    }
    let count = |g: &GoroutineDigest, state: &str, site: &str| {
        g.groups.iter().filter(|x| x.state == state && x.site == site).map(|x| x.count).sum::<u64>()
    };
    let mut groups: Vec<GroupShift> = t
        .groups
        .iter()
        .map(|g| {
            let sib: Vec<u64> = siblings.iter().map(|s| count(s, &g.state, &g.site)).collect();
            GroupShift {
                state: g.state.clone(),
                site: g.site.clone(),
                target: g.count,
                siblings_mean: mean(sib.iter().map(|&c| c as f64)),
                siblings_max: sib.iter().copied().max().unwrap_or(0),
            }
        })
        .filter(|g| g.target as f64 > g.siblings_mean)
        .collect();
    let excess = |g: &GroupShift| g.target as f64 - g.siblings_mean;
    groups.sort_by(|a, b| excess(b).total_cmp(&excess(a)).then_with(|| a.site.cmp(&b.site)));
    groups.truncate(GROUPS);
    Some(GoroutineComparison {
        target_total: t.total,
        siblings_total: mean(siblings.iter().map(|s| s.total as f64)),
        siblings: siblings.len(),
        groups,
    })
}

/// The trace figures of the target beside the siblings' mean, lowest and highest.
pub fn compare_traces(t: &TraceDigest, siblings: &[&TraceDigest]) -> Option<TraceComparison> {
    if siblings.is_empty() {
        return None;
    }
    type Figure = (&'static str, &'static str, fn(&TraceDigest) -> Option<f64>);
    let figures: [Figure; 7] = [
        ("scheduler latency p99", "µs", |d| d.sched_latency_p99_us.map(|v| v as f64)),
        ("GC CPU", "%", |d| d.gc_cpu_percent),
        ("GC cycles", "per s", |d| Some(d.gc_per_second)),
        ("longest stop-the-world", "µs", |d| Some(d.stw_max_us as f64)),
        ("threads in syscalls", "threads", |d| Some(d.syscall_threads)),
        ("P utilisation", "%", |d| Some(d.utilization_percent)),
        ("most goroutines at once", "goroutines", |d| d.goroutines_max.map(|v| v as f64)),
    ];
    let rows = figures
        .iter()
        .filter_map(|(figure, unit, get)| {
            let target = get(t)?;
            let sib: Vec<f64> = siblings.iter().filter_map(|s| get(s)).collect();
            if sib.is_empty() {
                return None;
            }
            Some(TraceRow {
                figure: (*figure).to_string(),
                unit: (*unit).to_string(),
                target,
                siblings_mean: mean(sib.iter().copied()),
                siblings_min: sib.iter().copied().fold(f64::INFINITY, f64::min),
                siblings_max: sib.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        })
        .collect();
    Some(TraceComparison { siblings: siblings.len(), rows })
}
