//! Findings of a sibling comparison: only what stands out from every sibling, in the words an
//! engineer would use ("41% of CPU here vs 6% in 3 healthy siblings"). Conservative on purpose:
//! a function must hold a real share of the target, have grown by a real margin, and be well
//! above the highest sibling; a profile with few samples says nothing.

use super::{Comparison, Normalization, ProfileComparison, Shift};
use crate::findings::{Finding, Rule, Severity};
use crate::{ArtifactKind, units};

/// Share of the target a function must hold, in percent.
const MIN_SHARE: f64 = 10.0;
/// Percentage points its share must have grown by.
const MIN_DELTA: f64 = 10.0;
/// How many times the highest sibling's share it must reach.
const OVER_MAX_SIBLING: f64 = 2.0;
/// Fewest samples a CPU profile needs for shares worth comparing (100 Hz: one CPU second).
const MIN_CPU_SAMPLES: u64 = 100;
/// Least a byte-valued site must hold or allocate in the target.
const MIN_BYTES: f64 = (1 << 20) as f64;
/// Fewest goroutines of one group in the target, and how many times the highest sibling's.
const MIN_GOROUTINES: u64 = 50;
const GOROUTINES_OVER_MAX_SIBLING: f64 = 4.0;

fn siblings_phrase(n: usize) -> String {
    if n == 1 { "1 healthy sibling".into() } else { format!("{n} healthy siblings") }
}

/// "of CPU", "of in-use heap", …: what the share is a share of.
fn share_of(p: &ProfileComparison) -> String {
    match (p.kind, p.sample_type.as_str()) {
        (ArtifactKind::Cpu, _) => "of CPU".into(),
        (ArtifactKind::Heap, "inuse_space") => "of in-use heap".into(),
        (ArtifactKind::Heap | ArtifactKind::Allocs, "alloc_space") => "of allocated bytes".into(),
        (ArtifactKind::Block, _) => "of blocking delay".into(),
        (ArtifactKind::Mutex, _) => "of mutex delay".into(),
        (kind, st) => format!("of the {kind} profile's {st}"),
    }
}

fn value(v: f64, p: &ProfileComparison) -> String {
    match (p.normalization, p.unit.as_str()) {
        (Normalization::CpuShare, _) => format!("{v:.2}"),
        (_, "bytes") if v.round() == 0.0 => "0B".into(),
        (_, unit) => units::scaled(v.round() as i64, unit),
    }
}

fn stands_out(s: &Shift, p: &ProfileComparison) -> bool {
    let enough_data = match p.kind {
        ArtifactKind::Cpu => p.target_samples >= MIN_CPU_SAMPLES,
        _ if p.unit == "bytes" => s.target_value >= MIN_BYTES,
        _ => true,
    };
    enough_data
        && s.target_percent >= MIN_SHARE
        && s.delta() >= MIN_DELTA
        && s.target_percent >= OVER_MAX_SIBLING * s.siblings_max_percent
}

fn profile_finding(s: &Shift, p: &ProfileComparison, siblings: &[String]) -> Finding {
    let values = match p.normalization {
        Normalization::CpuShare => {
            format!("{} vs {} cores", value(s.target_value, p), value(s.siblings_value, p))
        }
        Normalization::ShareOfTotal => {
            format!("{} vs {} on average", value(s.target_value, p), value(s.siblings_value, p))
        }
    };
    Finding::new(
        Rule::DiffersFromSiblings,
        Severity::Warning,
        format!(
            "{}: {:.0}% {} here vs {:.0}% in {} ({values})",
            s.name,
            s.target_percent,
            share_of(p),
            s.siblings_percent,
            siblings_phrase(p.siblings)
        ),
        vec![
            format!("highest sibling: {:.0}%", s.siblings_max_percent),
            format!("compared: {}", p.normalization.describe()),
            format!("siblings: {}", siblings.join(", ")),
        ],
    )
}

pub(super) fn findings(c: &Comparison) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &c.profiles {
        // The one function that stands out most per profile: the rest are in the comparison.
        if let Some(s) = p.shifts.iter().find(|s| stands_out(s, p)) {
            out.push(profile_finding(s, p, &c.siblings));
        }
    }
    if let Some(g) = &c.goroutines
        && let Some(x) = g.groups.iter().find(|x| {
            x.target >= MIN_GOROUTINES && x.target as f64 >= GOROUTINES_OVER_MAX_SIBLING * x.siblings_max.max(1) as f64
        })
    {
        let state = if x.state == "unknown" { String::new() } else { format!(" in {}", x.state) };
        out.push(Finding::new(
            Rule::DiffersFromSiblings,
            Severity::Warning,
            format!(
                "{} goroutines{state} at {} here vs {:.0} in {}",
                x.target,
                x.site,
                x.siblings_mean,
                siblings_phrase(g.siblings)
            ),
            vec![
                format!("highest sibling: {}", x.siblings_max),
                format!("goroutines in all: {} here vs {:.0} on average", g.target_total, g.siblings_total),
                format!("siblings: {}", c.siblings.join(", ")),
            ],
        ));
    }
    out
}
