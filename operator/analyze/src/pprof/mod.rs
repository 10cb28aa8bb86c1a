//! pprof profiles: decoding, top-N, folded stacks, diffs and the profile-level findings.

pub mod attribute;
pub mod decode;
pub mod filter;
pub mod folded;
pub mod proto;
pub mod sample_count;
pub mod top;

use crate::findings::{Finding, MAX_FINDINGS, Rule, Severity, Thresholds, normalize, percent};
use crate::frames::short_name;
use crate::resources::{Resources, cores, mebibytes};
use crate::units;
use crate::{AnalyzeError, AnalyzeOptions};
pub use attribute::{Attribution, Leaf, OwnCode};
pub use decode::{FrameVisitor, Profile, ProfileType, ValueKind};
pub use filter::Filter;
use serde::{Deserialize, Serialize};
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
    /// The program's own functions by the value attributed to them (each sample goes to the
    /// innermost frame of the program's code, not the runtime's or the standard library's),
    /// largest first, without the samples taken inside the profilers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_code: Vec<OwnCode>,
    /// Total of the samples attributed in `ownCode`.
    #[serde(default)]
    pub own_total: i64,
    /// Value of the samples left out because they were taken inside the profilers (the CPU
    /// profile's and trace's buffers, net/http/pprof handlers): what collecting cost.
    #[serde(default)]
    pub profiling: i64,
    pub findings: Vec<Finding>,
}

/// The two tallies of a profile's analysis (top-N by function, and the program's own code), fed
/// by one walk over its stacks: the decode's own pass over them (see
/// [`decode::decode_visiting`]) or [`analyze_profile`]'s.
pub struct Tallies {
    tally: top::Tally,
    attributor: attribute::Attributor,
}

impl Tallies {
    fn new(p: &Profile, opts: &AnalyzeOptions) -> Self {
        let kind = p.guess_type().refined_by(opts.kind);
        let leaf = if kind == ProfileType::Cpu { Leaf::Sampled } else { Leaf::CallSite };
        Tallies { tally: top::Tally::new(p), attributor: attribute::Attributor::new(p, leaf) }
    }

    /// The tallies the analysis of `p` with `opts` needs, and the column they walk, for a walk
    /// frame by frame; `None` when that cannot feed them (a focus or ignore filter must see each
    /// whole stack first) or when `opts` do not fit the profile (the analysis says why).
    pub fn for_walk(p: &Profile, opts: &AnalyzeOptions) -> Option<(usize, Tallies)> {
        let col = p.column(opts.sample_type.as_deref()).ok()?;
        if opts.focus.is_some() || opts.ignore.is_some() {
            return None;
        }
        Some((col, Tallies::new(p, opts)))
    }
}

impl FrameVisitor for Tallies {
    type Walk = (top::TallyWalk, attribute::Walk);
    #[inline(always)]
    fn begin(&mut self, value: i64) -> Self::Walk {
        (self.tally.begin(value), self.attributor.begin(value))
    }
    #[inline(always)]
    fn frame(&mut self, walk: &mut Self::Walk, func: u32) {
        self.tally.frame(&mut walk.0, func);
        self.attributor.frame(&mut walk.1, func);
    }
    #[inline(always)]
    fn end(&mut self, walk: Self::Walk, value: i64) {
        self.tally.end(walk.0, value);
        self.attributor.end(walk.1, value);
    }
}

/// Analyses a decoded profile.
pub fn analyze_profile(p: &Profile, opts: &AnalyzeOptions) -> Result<PprofReport, AnalyzeError> {
    analyze_walked(p, opts, None)
}

/// [`analyze_profile`], with the tallies [`Tallies::for_walk`] gave when the decode has already
/// fed them.
pub fn analyze_walked(
    p: &Profile,
    opts: &AnalyzeOptions,
    walked: Option<Tallies>,
) -> Result<PprofReport, AnalyzeError> {
    let col = p.column(opts.sample_type.as_deref())?;
    let filter = Filter::new(opts.focus.as_deref(), opts.ignore.as_deref())?;
    let cf = filter.compile_for(p);
    let kind = p.guess_type().refined_by(opts.kind);
    // One walk over the stacks feeds both tallies; frame by frame, without copying a stack,
    // unless a filter needs to see each whole stack first.
    let Tallies { tally, attributor } = match walked {
        Some(t) => t,
        None => {
            let mut t = Tallies::new(p, opts);
            if cf.keeps_all() {
                p.visit_frames(col, &mut t);
            } else {
                p.for_each_kept(col, &cf, |frames, v| t.add(frames, v));
            }
            t
        }
    };
    // The findings read the first function and site; the report lists `top` of each.
    let (all, total) = tally.top(p, opts.top.max(1));
    let own = attributor.top(p, opts.top.max(1));
    let vk = &p.sample_types[col];
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
    let ctx = Context { p, col, cf: &cf, total, kind, th: &opts.thresholds, res: &opts.resources };
    let findings = profile_findings(&ctx, &own);
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
        own_total: own.total,
        profiling: own.profiling,
        own_code: own.sites.into_iter().take(opts.top).collect(),
        findings,
    })
}

/// What the rules of one profile look at.
struct Context<'a> {
    p: &'a Profile,
    col: usize,
    cf: &'a filter::CompiledFilter,
    total: i64,
    kind: ProfileType,
    th: &'a Thresholds,
    res: &'a Resources,
}

/// `main.hashLoop → sha256.blockSHANI`, or just the function when the leaf is itself.
pub fn own_label(site: &OwnCode) -> String {
    match &site.leaf {
        Some(l) => format!("{} → {}", site.name, short_name(l)),
        None => site.name.clone(),
    }
}

/// Fewest CPU samples (10 ms each at Go's default rate) behind a finding about one function:
/// below this the shares are noise.
const MIN_CPU_SAMPLES: i64 = 20;
/// Least CPU a dominant function must use to be a finding, in cores.
const MIN_DOMINANT_CORES: f64 = 0.1;

fn profile_findings(c: &Context, own: &Attribution) -> Vec<Finding> {
    let mut out = Vec::new();
    match c.kind {
        ProfileType::Cpu if c.total > 0 => cpu_findings(c, own, &mut out),
        ProfileType::Heap | ProfileType::Allocs if c.total > 0 => heap_findings(c, own, &mut out),
        ProfileType::Block | ProfileType::Mutex | ProfileType::Contention => contention_findings(c, own, &mut out),
        _ => {}
    }
    normalize(out, MAX_FINDINGS)
}

fn cpu_findings(c: &Context, own: &Attribution, out: &mut Vec<Finding>) {
    let (p, th) = (c.p, c.th);
    let unit = p.sample_types[c.col].unit.as_str();
    // Cores come from the `cpu` column (nanoseconds) over the profile's wall-clock duration.
    let cpu_col = p.sample_types.iter().position(|v| v.name == "cpu" && v.unit == "nanoseconds");
    let cpu_ns = cpu_col.map_or(0, |i| p.column_total(i));
    let secs = p.duration_nanos as f64 / 1e9;
    let used = (secs > 0.0 && cpu_ns > 0).then(|| cpu_ns as f64 / 1e9 / secs);
    let samples = p.sample_types.iter().position(|v| v.name == "samples").map_or(i64::MAX, |i| p.column_total(i));
    if let Some(site) = own.sites.first().filter(|_| own.total > 0 && samples >= MIN_CPU_SAMPLES) {
        let pct = percent(site.value, own.total);
        // An idle program's CPU is the scheduler's own (runtime.park_m …), and a function of an
        // almost idle one dominates nothing worth an incident: neither is a finding.
        let runtime_own = crate::frames::origin(&site.name) == crate::frames::FrameOrigin::Runtime;
        let site_cores = used.map(|u| u * pct / 100.0);
        if pct >= th.cpu_dominant_percent && !runtime_own && site_cores.is_none_or(|c| c >= MIN_DOMINANT_CORES) {
            let share = match used {
                Some(u) => format!(" ({} cores over {secs:.0}s)", cores(u * pct / 100.0)),
                None => String::new(),
            };
            let mut ev = vec![format!(
                "{}: {} of {} attributed to the program ({pct:.1}%)",
                site.name,
                units::scaled(site.value, unit),
                units::scaled(own.total, unit)
            )];
            if let Some(l) = &site.leaf {
                ev.push(format!("hottest leaf {l}: {}", units::scaled(site.leaf_value, unit)));
            }
            out.push(Finding::new(
                Rule::CpuDominantFunction,
                Severity::Warning,
                format!("{} uses {pct:.0}% of CPU samples{share}", own_label(site)),
                ev,
            ));
        }
    }
    if let (Some(u), Some(limit)) = (used, c.res.cpu_limit_cores.filter(|l| *l > 0.0)) {
        let pct = u * 100.0 / limit;
        if pct >= th.cpu_limit_percent {
            let mut ev = vec![
                format!("{} of CPU in {secs:.1}s of wall time", units::nanoseconds(cpu_ns)),
                "once the limit is spent in a 100ms CFS period, every thread waits for the next one: latency spikes"
                    .to_string(),
                "raise resources.limits.cpu, or remove the CPU limit and keep the request".to_string(),
            ];
            if let Some(site) = own.sites.first() {
                ev.insert(1, format!("largest consumer: {} ({:.0}%)", own_label(site), percent(site.value, own.total)));
            }
            out.push(Finding::new(
                Rule::CpuThrottling,
                Severity::Warning,
                format!(
                    "used {} cores over {secs:.0}s: {pct:.0}% of its {}-core CPU limit; the container is throttled",
                    cores(u),
                    cores(limit)
                ),
                ev,
            ));
        }
    }
    let gc_fns = ["runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge"];
    let mut gc = 0i64;
    let mut ev = Vec::new();
    for f in funcs_named(p, c.col, c.cf, &gc_fns) {
        gc = gc.saturating_add(f.cum);
        ev.push(format!("{}: cum {} ({:.1}%)", f.name, units::scaled(f.cum, unit), percent(f.cum, c.total)));
    }
    let pct = percent(gc, c.total);
    if pct >= th.gc_cpu_percent && samples >= MIN_CPU_SAMPLES {
        out.push(Finding::new(
            Rule::GcPressure,
            Severity::Warning,
            format!("garbage collection uses {pct:.0}% of CPU"),
            ev,
        ));
    }
}

fn heap_findings(c: &Context, own: &Attribution, out: &mut Vec<Finding>) {
    let p = c.p;
    let vk = &p.sample_types[c.col];
    let unit = vk.unit.as_str();
    let what = match vk.name.as_str() {
        "inuse_space" => "in-use bytes",
        "inuse_objects" => "in-use objects",
        "alloc_objects" => "allocated objects",
        _ => "allocated bytes",
    };
    // The profiles and trace godiag takes in the same window allocate too: they are left out.
    if let Some(site) = own.sites.first().filter(|_| own.total > 0) {
        let pct = percent(site.value, own.total);
        if pct >= c.th.alloc_site_percent {
            let sev = if pct >= 50.0 { Severity::Warning } else { Severity::Info };
            out.push(Finding::new(
                Rule::AllocationHotSpot,
                sev,
                format!("{} accounts for {pct:.0}% of {what}", own_label(site)),
                vec![format!(
                    "{}: {} of {} ({pct:.1}%)",
                    site.name,
                    units::scaled(site.value, unit),
                    units::scaled(own.total, unit)
                )],
            ));
        }
    }
    let inuse = p.sample_types.iter().position(|v| v.name == "inuse_space" && v.unit == "bytes");
    if let (Some(i), Some(limit)) = (inuse, c.res.memory_limit_bytes.filter(|l| *l > 0)) {
        let live = p.column_total(i).max(0) as u64;
        let pct = live as f64 * 100.0 / limit as f64;
        if pct >= c.th.heap_limit_percent {
            let sev = if pct >= 80.0 { Severity::High } else { Severity::Warning };
            let mut ev = vec![
                format!(
                    "with GOGC=100 the heap grows to about twice the live heap ({}) before the next collection",
                    mebibytes(live.saturating_mul(2))
                ),
                format!(
                    "set GOMEMLIMIT to about 90% of the limit ({}) so the GC collects harder before the kernel OOM-kills the container",
                    mebibytes(limit / 10 * 9)
                ),
            ];
            if let Some(site) = own.sites.first() {
                ev.insert(0, format!("largest holder: {} ({:.0}%)", own_label(site), percent(site.value, own.total)));
            }
            out.push(Finding::new(
                Rule::HeapNearLimit,
                sev,
                format!("live heap {} of a {} memory limit ({pct:.0}%)", mebibytes(live), mebibytes(limit)),
                ev,
            ));
        }
    }
}

fn contention_findings(c: &Context, own: &Attribution, out: &mut Vec<Finding>) {
    let (p, kind) = (c.p, c.kind);
    let unit = p.sample_types[c.col].unit.as_str();
    if c.total == 0 && p.sample_count() == 0 {
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
        return;
    }
    let Some(site) = own.sites.first().filter(|_| own.total > 0) else { return };
    let pct = percent(site.value, own.total);
    if pct < c.th.contention_site_percent {
        return;
    }
    let mut ev = vec![format!(
        "{}: {} of {} ({pct:.1}%)",
        site.name,
        units::scaled(site.value, unit),
        units::scaled(own.total, unit)
    )];
    if let Some(ci) = p.sample_types.iter().position(|v| v.name == "contentions")
        && ci != c.col
    {
        let counts = attribute::attribute(p, ci, c.cf, Leaf::CallSite);
        let n = counts.sites.iter().find(|s| s.name == site.name).map_or(0, |s| s.value);
        ev.push(format!("{n} contention events at this site"));
    }
    let what = match kind {
        ProfileType::Mutex => "mutex contention",
        ProfileType::Block => "blocking",
        _ => "contention",
    };
    out.push(Finding::new(
        Rule::LockContention,
        Severity::Warning,
        format!("{} causes {pct:.0}% of {what} delay", own_label(site)),
        ev,
    ));
}

fn funcs_named(p: &Profile, col: usize, cf: &filter::CompiledFilter, names: &[&str]) -> Vec<FunctionValue> {
    if !p.names.iter().any(|n| names.contains(&n.as_str())) {
        return Vec::new();
    }
    let (all, _) = top::function_values(p, col, cf);
    all.into_iter().filter(|f| names.contains(&f.name.as_str())).collect()
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

    #[test]
    fn an_idle_programs_scheduler_is_not_a_dominant_function() {
        let cpu = |hot: &str| {
            profile_bytes(
                &["", "samples", "count", "cpu", "nanoseconds", hot, "main.b"],
                &[(1, 2), (3, 4)],
                &[(1, 5), (2, 6)],
                &[(1, &[1]), (2, &[2])],
                &[(&[1], &[90, 900]), (&[2], &[10, 100])],
            )
        };
        let idle = report(&cpu("runtime.park_m"), None);
        assert!(idle.findings.iter().all(|f| f.rule != Rule::CpuDominantFunction), "{:?}", idle.findings);
        let busy = report(&cpu("main.a"), None);
        assert!(busy.findings.iter().any(|f| f.rule == Rule::CpuDominantFunction), "{:?}", busy.findings);
    }
}
