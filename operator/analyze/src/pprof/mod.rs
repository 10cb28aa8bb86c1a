//! pprof profiles: decoding, top-N, folded stacks, diffs and the profile-level findings.

pub mod decode;
pub mod diff;
pub mod filter;
pub mod folded;
pub mod proto;
pub mod sample_count;
pub mod top;

use crate::findings::{Finding, MAX_FINDINGS, Rule, Severity, Thresholds, normalize, percent};
use crate::frames::{is_machinery, is_profiler};
use crate::units;
use crate::{AnalyzeError, AnalyzeOptions};
pub use decode::{Profile, ProfileType, ValueKind};
pub use diff::{Diff, FunctionDelta};
pub use filter::Filter;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
pub use top::FunctionValue;

/// Total of one sample type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleTotal {
    #[serde(rename = "type")]
    pub name: String,
    pub unit: String,
    pub total: i64,
}

/// The analysis of one pprof profile (`"kind": "pprof"` in JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PprofReport {
    /// Which Go endpoint the profile most likely came from.
    pub profile: ProfileType,
    /// The sample type reported (`go tool pprof`'s default unless one was asked for).
    pub sample_type: String,
    pub unit: String,
    /// Sum of the reported sample type over all samples (after focus/ignore).
    pub total: i64,
    /// Top functions by flat value, in `go tool pprof -top` order.
    pub functions: Vec<FunctionValue>,
    /// Totals of every sample type in the profile.
    pub sample_types: Vec<SampleTotal>,
    /// Number of samples in the profile.
    pub samples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<i64>,
    /// Set when the profile has no samples (or nothing survived focus/ignore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub findings: Vec<Finding>,
    /// Present when a base profile was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
}

/// Value per call site: the innermost frame that is not runtime/sync machinery.
pub fn site_values(p: &Profile, col: usize, filter: &filter::CompiledFilter) -> Vec<(String, i64)> {
    attributed_values(p, col, filter, is_machinery)
}

/// Like [`site_values`], without the samples whose stack runs through the profilers; also returns
/// the total of the samples kept.
pub fn program_site_values(p: &Profile, col: usize, filter: &filter::CompiledFilter) -> (Vec<(String, i64)>, i64) {
    let profiler: Vec<bool> = p.names.iter().map(|n| is_profiler(n)).collect();
    let mut total = 0i64;
    let sites =
        attributed_values_where(p, col, filter, is_machinery, |frames| !frames.iter().any(|&f| profiler[f as usize]));
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if filter.keeps(frames) && !frames.iter().any(|&f| profiler[f as usize]) {
            total = total.saturating_add(v);
        }
    });
    (sites, total)
}

/// Value per innermost frame for which `skip` is false (or the leaf when all are skipped).
pub fn attributed_values(
    p: &Profile,
    col: usize,
    filter: &filter::CompiledFilter,
    skip: impl Fn(&str) -> bool,
) -> Vec<(String, i64)> {
    attributed_values_where(p, col, filter, skip, |_| true)
}

fn attributed_values_where(
    p: &Profile,
    col: usize,
    filter: &filter::CompiledFilter,
    skip: impl Fn(&str) -> bool,
    keep_stack: impl Fn(&[u32]) -> bool,
) -> Vec<(String, i64)> {
    let machinery: Vec<bool> = p.names.iter().map(|n| skip(n)).collect();
    let mut acc: HashMap<u32, i64> = HashMap::new();
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if v == 0 || !filter.keeps(frames) || !keep_stack(frames) {
            return;
        }
        let site = frames.iter().copied().find(|&f| !machinery[f as usize]).or(frames.first().copied());
        if let Some(s) = site {
            let e = acc.entry(s).or_insert(0);
            *e = e.saturating_add(v);
        }
    });
    let mut v: Vec<(String, i64)> = acc.into_iter().map(|(f, v)| (p.names[f as usize].clone(), v)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Analyses a decoded profile.
pub fn analyze_profile(p: &Profile, opts: &AnalyzeOptions) -> Result<PprofReport, AnalyzeError> {
    let col = p.column(opts.sample_type.as_deref())?;
    let filter = Filter::new(opts.focus.as_deref(), opts.ignore.as_deref())?;
    let cf = filter.compile_for(p);
    let (all, total) = top::function_values(p, col, &cf);
    let vk = &p.sample_types[col];
    let kind = p.guess_type().refined_by(opts.kind);
    let sample_types = p
        .sample_types
        .iter()
        .enumerate()
        .map(|(i, v)| SampleTotal { name: v.name.clone(), unit: v.unit.clone(), total: p.column_total(i) })
        .collect();
    let note = if p.sample_count() == 0 || p.is_all_zero() {
        Some(format!("empty profile: no {kind} samples"))
    } else if total == 0 {
        Some("empty profile: no samples left after focus/ignore".to_string())
    } else {
        None
    };
    let findings = profile_findings(p, col, &cf, &all, total, kind, &opts.thresholds);
    Ok(PprofReport {
        profile: kind,
        sample_type: vk.name.clone(),
        unit: vk.unit.clone(),
        total,
        functions: all.into_iter().take(opts.top).collect(),
        sample_types,
        samples: p.sample_count(),
        duration_ns: (p.duration_nanos > 0).then_some(p.duration_nanos),
        note,
        findings,
        diff: None,
    })
}

fn profile_findings(
    p: &Profile,
    col: usize,
    cf: &filter::CompiledFilter,
    funcs: &[FunctionValue],
    total: i64,
    kind: ProfileType,
    th: &Thresholds,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let unit = p.sample_types[col].unit.as_str();
    match kind {
        ProfileType::Cpu if total > 0 => {
            // A sample that lands in runtime.asyncPreempt belongs to the loop that was preempted.
            let sites = attributed_values(p, col, cf, |n| n == "runtime.asyncPreempt");
            if let Some((name, v)) = sites.first() {
                let pct = percent(*v, total);
                if pct >= th.cpu_dominant_percent {
                    let cum = funcs.iter().find(|f| &f.name == name).map_or(0, |f| f.cum);
                    out.push(Finding::new(
                        Rule::CpuDominantFunction,
                        Severity::Warning,
                        format!("{name} uses {pct:.0}% of CPU on its own"),
                        vec![format!(
                            "{name}: flat {} ({pct:.1}%), cum {} of {}",
                            units::scaled(*v, unit),
                            units::scaled(cum, unit),
                            units::scaled(total, unit)
                        )],
                    ));
                }
            }
            let gc_fns = ["runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge"];
            let mut gc = 0i64;
            let mut ev = Vec::new();
            for f in funcs_named(p, col, cf, &gc_fns) {
                gc = gc.saturating_add(f.cum);
                ev.push(format!("{}: cum {} ({:.1}%)", f.name, units::scaled(f.cum, unit), percent(f.cum, total)));
            }
            let pct = percent(gc, total);
            if pct >= th.gc_cpu_percent {
                out.push(Finding::new(
                    Rule::GcPressure,
                    Severity::Warning,
                    format!("garbage collection uses {pct:.0}% of CPU"),
                    ev,
                ));
            }
        }
        ProfileType::Heap | ProfileType::Allocs if total > 0 => {
            // The profiles and trace godiag takes in the same window allocate too: leave them out.
            let (sites, total) = program_site_values(p, col, cf);
            if let Some((name, v)) = sites.first().filter(|_| total > 0) {
                let pct = percent(*v, total);
                if pct >= th.alloc_site_percent {
                    let sev = if pct >= 50.0 { Severity::Warning } else { Severity::Info };
                    let what = match p.sample_types[col].name.as_str() {
                        "inuse_space" => "in-use bytes",
                        "inuse_objects" => "in-use objects",
                        "alloc_objects" => "allocated objects",
                        _ => "allocated bytes",
                    };
                    out.push(Finding::new(
                        Rule::AllocationHotSpot,
                        sev,
                        format!("{name} accounts for {pct:.0}% of {what}"),
                        vec![format!(
                            "{name}: {} of {} ({pct:.1}%)",
                            units::scaled(*v, unit),
                            units::scaled(total, unit)
                        )],
                    ));
                }
            }
        }
        ProfileType::Block | ProfileType::Mutex | ProfileType::Contention => {
            if total == 0 && p.sample_count() == 0 {
                let (msg, ev) = match kind {
                    ProfileType::Block => (
                        "block profile is empty: the program never set runtime.SetBlockProfileRate",
                        "call runtime.SetBlockProfileRate(n) with n > 0 (e.g. 10000 ns) early in main",
                    ),
                    ProfileType::Mutex => (
                        "mutex profile is empty: the program never set runtime.SetMutexProfileFraction",
                        "call runtime.SetMutexProfileFraction(n) with n > 0 (e.g. 100) early in main",
                    ),
                    _ => (
                        "contention profile is empty: the program never set runtime.SetBlockProfileRate (block) / runtime.SetMutexProfileFraction (mutex)",
                        "set the rate early in main; a rate of 0 records nothing",
                    ),
                };
                out.push(Finding::new(Rule::ProfilingRateUnset, Severity::Info, msg, vec![ev.to_string()]));
            } else if total > 0 {
                let sites = site_values(p, col, cf);
                let counts = p.sample_types.iter().position(|v| v.name == "contentions");
                if let Some((name, v)) = sites.first() {
                    let pct = percent(*v, total);
                    if pct >= th.contention_site_percent {
                        let mut ev = vec![format!(
                            "{name}: {} of {} ({pct:.1}%)",
                            units::scaled(*v, unit),
                            units::scaled(total, unit)
                        )];
                        if let Some(ci) = counts
                            && ci != col
                        {
                            let c =
                                site_values(p, ci, cf).into_iter().find(|(n, _)| n == name).map(|x| x.1).unwrap_or(0);
                            ev.push(format!("{c} contention events at this site"));
                        }
                        let what = match kind {
                            ProfileType::Mutex => "mutex contention",
                            ProfileType::Block => "blocking",
                            _ => "contention",
                        };
                        out.push(Finding::new(
                            Rule::LockContention,
                            Severity::Warning,
                            format!("{name} causes {pct:.0}% of {what} delay"),
                            ev,
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    normalize(out, MAX_FINDINGS)
}

fn funcs_named(p: &Profile, col: usize, cf: &filter::CompiledFilter, names: &[&str]) -> Vec<FunctionValue> {
    if !p.names.iter().any(|n| names.contains(&n.as_str())) {
        return Vec::new();
    }
    let (all, _) = top::function_values(p, col, cf);
    all.into_iter().filter(|f| names.contains(&f.name.as_str())).collect()
}

/// Adds the comparison against `base` to a report.
pub fn add_diff(
    report: &mut PprofReport,
    base: &Profile,
    new: &Profile,
    opts: &AnalyzeOptions,
) -> Result<(), AnalyzeError> {
    let filter = Filter::new(opts.focus.as_deref(), opts.ignore.as_deref())?;
    let d = diff::diff(base, new, &report.sample_type, &filter.compile_for(base), &filter.compile_for(new), opts.top)?;
    report.diff = Some(d);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pprof::decode::tests::profile_bytes;

    fn report(raw: &[u8], kind: Option<crate::ArtifactKind>) -> PprofReport {
        let opts = AnalyzeOptions { kind, ..AnalyzeOptions::default() };
        analyze_profile(&decode::decode(raw).unwrap(), &opts).unwrap()
    }

    #[test]
    fn allocation_sites_are_the_first_frame_past_the_allocator() {
        // 90 bytes allocated by main.build through runtime.mallocgc, 10 by main.other.
        let raw = profile_bytes(
            &["", "alloc_space", "bytes", "inuse_space", "runtime.mallocgc", "main.build", "main.other"],
            &[(1, 2), (3, 2)],
            &[(1, 4), (2, 5), (3, 6)],
            &[(1, &[1]), (2, &[2]), (3, &[3])],
            &[(&[1, 2], &[90, 90]), (&[3], &[10, 10])],
        );
        let r = report(&raw, None);
        assert_eq!(r.profile, ProfileType::Heap);
        assert_eq!(r.functions[0].name, "runtime.mallocgc", "top is by flat, like pprof");
        let f = r.findings.iter().find(|f| f.rule == Rule::AllocationHotSpot).expect("hot spot");
        assert!(f.message.starts_with("main.build accounts for 90% of in-use bytes"), "{}", f.message);
        assert_eq!(f.evidence[0], "main.build: 90B of 100B (90.0%)");
    }

    #[test]
    fn an_empty_contention_profile_names_the_rate_of_its_kind() {
        let raw =
            profile_bytes(&["", "contentions", "count", "delay", "nanoseconds"], &[(1, 2), (3, 4)], &[], &[], &[]);
        let block = report(&raw, Some(crate::ArtifactKind::Block));
        assert_eq!(block.profile, ProfileType::Block);
        assert!(block.findings[0].message.contains("runtime.SetBlockProfileRate"), "{:?}", block.findings);
        let mutex = report(&raw, Some(crate::ArtifactKind::Mutex));
        assert!(mutex.findings[0].message.contains("runtime.SetMutexProfileFraction"), "{:?}", mutex.findings);
        let unknown = report(&raw, None);
        assert_eq!(unknown.profile, ProfileType::Contention);
        assert_eq!(unknown.note.as_deref(), Some("empty profile: no contention samples"));
    }

    #[test]
    fn a_small_cpu_share_is_not_a_finding() {
        let raw = profile_bytes(
            &["", "samples", "count", "cpu", "nanoseconds", "main.a", "main.b", "main.c"],
            &[(1, 2), (3, 4)],
            &[(1, 5), (2, 6), (3, 7)],
            &[(1, &[1]), (2, &[2]), (3, &[3])],
            &[(&[1], &[1, 34]), (&[2], &[1, 33]), (&[3], &[1, 33])],
        );
        let r = report(&raw, None);
        assert!(r.findings.iter().all(|f| f.rule != Rule::CpuDominantFunction), "34% is under 40%: {:?}", r.findings);
    }
}
