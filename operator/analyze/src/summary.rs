//! The bounded per-pod summary written into a DiagnosisRequest's status, the one-line request
//! summary, and the fuller `summary.json` stored next to the artifacts.

use crate::findings::{Finding, Rule, normalize, percent};
use crate::frames::short_name;
use crate::goroutine::GoroutineSource;
use crate::resources::Resources;
use crate::text::clip;
use crate::units;
use crate::{Analysis, ArtifactKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest serialized size of a [`TargetSummary`], in bytes.
pub const MAX_SUMMARY_BYTES: usize = 2000;
const TOP_PER_PROFILE: usize = 3;
const MAX_FINDINGS: usize = 5;
const MAX_STATES: usize = 6;
const MAX_NAME: usize = 96;

/// One of the program's functions that cost the most in a profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopFunction {
    /// The profile the function was found in.
    pub profile: ArtifactKind,
    /// The program's own function (innermost frame of its code on the sampled stacks).
    pub name: String,
    /// The hot leaf or the library call under it, when that is another function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// Share of the profile's samples (without the profilers' own) attributed to it, in percent.
    pub percent: f64,
}

/// Goroutine counts from the goroutine dump.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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

/// A short, bounded summary of what godiag found in one pod's diagnostics (under 2 KiB).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetSummary {
    /// The top functions of each profile (at most three per profile), by flat value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopFunction>,
    /// Goroutine counts, when a goroutine dump was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines: Option<GoroutineCounts>,
    /// Execution trace figures, when a trace was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceFigures>,
    /// What godiag noticed (goroutine leaks, contention, allocation and CPU hot spots, GC
    /// pressure), most severe first, at most five.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Remarks about the data itself, such as an empty profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Builds the bounded summary of one pod from its analysed artifacts (artifact kind, analysis).
/// `res` are the container's requests and limits, for what the artifacts say together.
pub fn summarize_target(inputs: &[(ArtifactKind, &Analysis)], res: &Resources) -> TargetSummary {
    let mut s = TargetSummary::default();
    let cpu = inputs.iter().find_map(|(k, a)| match a {
        Analysis::Pprof(r) if *k == ArtifactKind::Cpu => Some(r),
        _ => None,
    });
    let trace = inputs.iter().find_map(|(_, a)| match a {
        Analysis::Trace(t) => Some(t),
        _ => None,
    });
    let mut findings: Vec<Finding> = Vec::new();
    let mut goroutine_text_seen = false;
    for (kind, a) in inputs {
        match a {
            Analysis::Pprof(r) => {
                if let Some(n) = &r.note {
                    s.notes.push(clip(&format!("{kind}: {n}"), 120));
                }
                if !matches!(kind, ArtifactKind::Goroutine | ArtifactKind::GoroutineText) {
                    for f in r.own_code.iter().filter(|f| f.value > 0).take(TOP_PER_PROFILE) {
                        s.top.push(TopFunction {
                            profile: *kind,
                            name: clip(&f.name, MAX_NAME),
                            leaf: f.leaf.as_deref().map(|l| clip(short_name(l), MAX_NAME)),
                            percent: round1(percent(f.value, r.own_total)),
                        });
                    }
                    let all = r.own_total.saturating_add(r.profiling);
                    let left_out = percent(r.profiling, all);
                    if left_out >= 1.0 {
                        s.notes.push(clip(
                            &format!(
                                "{kind}: left out {left_out:.0}% ({}) taken inside the profilers (godiag's own collection)",
                                units::scaled(r.profiling, &r.unit)
                            ),
                            120,
                        ));
                    }
                }
                findings.extend(r.findings.iter().cloned().map(|f| refine_contention(f, *kind)));
            }
            // The previous container's crash: its findings, not the live goroutine counts.
            Analysis::Goroutines(r) if *kind == ArtifactKind::Crash => findings.extend(r.findings.iter().cloned()),
            Analysis::Goroutines(r) => {
                let is_text = r.source == GoroutineSource::Text;
                if r.source == GoroutineSource::Goroutineleak {
                    let g = s.goroutines.get_or_insert_with(GoroutineCounts::default);
                    g.leaked = g.leaked.max(r.total);
                } else if is_text || !goroutine_text_seen {
                    let leaked = s.goroutines.as_ref().map_or(0, |g| g.leaked).max(r.leaked);
                    s.goroutines =
                        Some(GoroutineCounts { total: r.total, by_state: bounded_states(&r.by_state), leaked });
                    goroutine_text_seen |= is_text;
                }
                findings.extend(r.findings.iter().cloned());
            }
            Analysis::Trace(r) => {
                let sched = r.blocking.scheduler.as_ref();
                s.trace = Some(TraceFigures {
                    duration_ms: r.duration_ns / 1_000_000,
                    goroutines_created: r.goroutines_created,
                    gc_count: r.gc_count,
                    stw_max_us: r.stw_max_ns / 1000,
                    utilization_percent: round1(r.utilization() * 100.0),
                    sched_latency_tail_us: sched.map(|w| w.p99_ns / 1000),
                    sched_latency_max_us: sched.map(|w| w.max_ns / 1000),
                    gc_cpu_percent: r.gc_cpu_percent,
                    goroutines_max: r.goroutines.as_ref().map(|g| g.max),
                });
                if let Some(n) = &r.note {
                    s.notes.push(clip(&format!("{kind}: {n}"), 120));
                }
                findings.extend(r.findings.iter().cloned());
            }
        }
    }
    if let (Some(cpu), Some(trace)) = (cpu, trace) {
        crate::crosscheck::refine(&mut findings, cpu, trace, res.cpu_limit_cores);
    }
    s.findings = normalize(findings, MAX_FINDINGS);
    s.notes.truncate(4);
    shrink(&mut s);
    s
}

/// Block and mutex profiles are indistinguishable inside; the artifact kind names the rate.
fn refine_contention(mut f: Finding, kind: ArtifactKind) -> Finding {
    if f.rule == Rule::ProfilingRateUnset && f.message.starts_with("contention profile") {
        f.message = match kind {
            ArtifactKind::Block => {
                "block profile is empty: the program never set runtime.SetBlockProfileRate".to_string()
            }
            ArtifactKind::Mutex => {
                "mutex profile is empty: the program never set runtime.SetMutexProfileFraction".to_string()
            }
            _ => f.message,
        };
    }
    f
}

fn bounded_states(all: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut v: Vec<(&String, &u64)> = all.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut out = BTreeMap::new();
    let mut other = 0u64;
    for (i, (k, n)) in v.into_iter().enumerate() {
        if i < MAX_STATES {
            out.insert(clip(k, 40), *n);
        } else {
            other = other.saturating_add(*n);
        }
    }
    if other > 0 {
        *out.entry("other".to_string()).or_insert(0) += other;
    }
    out
}

fn size(s: &TargetSummary) -> usize {
    serde_json::to_string(s).map(|j| j.len()).unwrap_or(usize::MAX)
}

/// Drops the least important entries until the summary fits in [`MAX_SUMMARY_BYTES`].
fn shrink(s: &mut TargetSummary) {
    while size(s) > MAX_SUMMARY_BYTES {
        if s.findings.iter().any(|f| f.evidence.len() > 1) {
            for f in &mut s.findings {
                f.evidence.truncate(1);
            }
        } else if s.notes.len() > 1 {
            s.notes.pop();
        } else if s.top.len() > 3 {
            s.top.pop();
        } else if s.findings.len() > 1 {
            s.findings.pop();
        } else if let Some(g) = s.goroutines.as_mut().filter(|g| !g.by_state.is_empty()) {
            g.by_state.clear();
        } else if !s.top.is_empty() {
            s.top.pop();
        } else if !s.findings.is_empty() {
            s.findings.pop();
        } else if !s.notes.is_empty() {
            s.notes.pop();
        } else {
            break;
        }
    }
}

/// One line for the request's status and printer column, e.g.
/// `cpu: main.hashLoop → sha256.blockSHANI 99%; 481 goroutines blocked in chan send at main.leakOne (leak suspect)`.
pub fn one_line(summary: &TargetSummary) -> String {
    let mut parts: Vec<String> = Vec::new();
    // Compared with its siblings, what differs is the headline: it names the top function already.
    let differs: Vec<&Finding> = summary.findings.iter().filter(|f| f.rule == Rule::DiffersFromSiblings).collect();
    if !differs.is_empty() {
        parts.extend(differs.iter().take(2).map(|f| f.message.clone()));
        // Then one more, about something else (not the same function in other words).
        let subject = |f: &Finding| f.message.split_whitespace().next().unwrap_or("").trim_end_matches(':').to_string();
        let named: Vec<String> = differs.iter().map(|f| subject(f)).collect();
        let other = summary.findings.iter().find(|f| {
            !matches!(f.rule, Rule::DiffersFromSiblings | Rule::CpuDominantFunction) && !named.contains(&subject(f))
        });
        parts.extend(other.map(|f| f.message.clone()));
        return clip(&parts.join("; "), 240);
    }
    if let Some(t) = summary.top.iter().find(|t| t.profile == ArtifactKind::Cpu).or(summary.top.first()) {
        let who = match &t.leaf {
            Some(l) => format!("{} → {l}", t.name),
            None => t.name.clone(),
        };
        parts.push(format!("{}: {who} {:.0}%", t.profile, t.percent));
    }
    for f in summary.findings.iter().filter(|f| f.rule != Rule::CpuDominantFunction).take(2) {
        parts.push(f.message.clone());
    }
    if parts.is_empty()
        && let Some(g) = &summary.goroutines
    {
        parts.push(format!("{} goroutines", g.total));
    }
    if parts.is_empty() {
        parts.push(summary.notes.first().cloned().unwrap_or_else(|| "nothing notable".to_string()));
    }
    clip(&parts.join("; "), 240)
}

/// The fuller `summary.json` stored next to the artifacts: the bounded summary, the one-line
/// text, and every artifact's complete analysis keyed by artifact kind (`goroutine` and
/// `goroutineText` each have their own).
pub fn summary_json(inputs: &[(ArtifactKind, &Analysis)], res: &Resources) -> serde_json::Value {
    let s = summarize_target(inputs, res);
    let mut artifacts = serde_json::Map::new();
    for (kind, a) in inputs {
        artifacts.insert(kind.as_str().to_string(), serde_json::to_value(a).unwrap_or(serde_json::Value::Null));
    }
    serde_json::json!({
        "oneLine": one_line(&s),
        "summary": s,
        "artifacts": artifacts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    fn finding(rule: Rule, message: &str) -> Finding {
        Finding::new(rule, Severity::Warning, message, vec!["evidence".repeat(30); 4])
    }

    #[test]
    fn one_line_leads_with_cpu_and_skips_the_cpu_finding_it_repeats() {
        let s = TargetSummary {
            top: vec![
                TopFunction { profile: ArtifactKind::Heap, name: "main.alloc".into(), leaf: None, percent: 80.0 },
                TopFunction {
                    profile: ArtifactKind::Cpu,
                    name: "main.spin".into(),
                    leaf: Some("sha256.blockSHANI".into()),
                    percent: 61.4,
                },
            ],
            findings: vec![
                finding(Rule::CpuDominantFunction, "main.spin uses 61% of CPU on its own"),
                finding(Rule::GoroutineLeak, "200 goroutines blocked in chan send at main.leak (leak suspect)"),
            ],
            ..TargetSummary::default()
        };
        assert_eq!(
            one_line(&s),
            "cpu: main.spin → sha256.blockSHANI 61%; 200 goroutines blocked in chan send at main.leak (leak suspect)"
        );
        assert_eq!(one_line(&TargetSummary::default()), "nothing notable");
    }

    #[test]
    fn compared_with_siblings_the_difference_is_the_headline() {
        let s = TargetSummary {
            top: vec![TopFunction {
                profile: ArtifactKind::Cpu,
                name: "main.rebuild".into(),
                leaf: None,
                percent: 96.0,
            }],
            findings: vec![
                finding(Rule::DiffersFromSiblings, "main.rebuild: 96% of CPU here vs 0% in 3 healthy siblings"),
                finding(Rule::CpuDominantFunction, "main.rebuild uses 96% of CPU on its own"),
                finding(Rule::GoroutineLeak, "300 goroutines blocked in chan receive at main.wait"),
            ],
            ..TargetSummary::default()
        };
        assert_eq!(
            one_line(&s),
            "main.rebuild: 96% of CPU here vs 0% in 3 healthy siblings; 300 goroutines blocked in chan receive at main.wait"
        );
    }

    #[test]
    fn shrink_keeps_the_summary_under_its_limit() {
        let mut s = TargetSummary {
            top: (0..30)
                .map(|i| TopFunction {
                    profile: ArtifactKind::Cpu,
                    name: format!("github.com/acme/{}", "deep/".repeat(20)) + &i.to_string(),
                    leaf: None,
                    percent: 1.0,
                })
                .collect(),
            findings: (0..5).map(|i| finding(Rule::LockContention, &format!("site {i}"))).collect(),
            notes: vec!["n".repeat(100); 4],
            ..TargetSummary::default()
        };
        shrink(&mut s);
        assert!(size(&s) <= MAX_SUMMARY_BYTES, "{} bytes", size(&s));
        assert!(!s.findings.is_empty(), "findings are the last thing dropped");
    }
}
