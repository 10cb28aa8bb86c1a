//! Go execution traces (the Go 1.22+ format): duration, goroutines created, GC cycles,
//! stop-the-world, syscalls and per-P utilisation.

pub mod header;
pub mod scan;

use crate::AnalyzeError;
use crate::findings::{Finding, MAX_FINDINGS, Rule, Severity, Thresholds, normalize};
use crate::resources::{Resources, cores};
use serde::{Deserialize, Serialize};

/// Most Ps listed in `procUtilization`.
const MAX_PROCS_LISTED: usize = 256;

/// How busy one P was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcUtilization {
    pub p: u64,
    /// Time the P was started on an M (running Go code or holding a syscall).
    pub busy_ns: u64,
    /// `busyNs / durationNs`, between 0 and 1.
    pub utilization: f64,
}

/// The analysis of an execution trace (`"kind": "trace"` in JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceReport {
    /// Trace format version from the header, e.g. `go1.26` (Go 1.27 still writes go1.26).
    pub version: String,
    pub duration_ns: u64,
    pub goroutines_created: u64,
    pub gc_count: u64,
    pub stw_count: u64,
    pub stw_total_ns: u64,
    pub stw_max_ns: u64,
    pub syscall_count: u64,
    pub syscall_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gomaxprocs: Option<u64>,
    pub proc_utilization: Vec<ProcUtilization>,
    pub generations: usize,
    pub batches: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub findings: Vec<Finding>,
}

/// Scans a trace.
pub fn analyze(data: &[u8], th: &Thresholds, res: &Resources) -> Result<TraceReport, AnalyzeError> {
    let ver = header::read_header(data)?;
    let s = scan::scan(data, ver)?;
    let mut notes = Vec::new();
    let ns_per_tick = if s.freq > 0 {
        1e9 / s.freq as f64
    } else {
        notes.push("no clock frequency in the trace: durations are in raw ticks".to_string());
        1.0
    };
    let ns = |ticks: u64| -> u64 { ((ticks as f64) * ns_per_tick).min(u64::MAX as f64) as u64 };
    let duration_ns = ns(s.max_ts.saturating_sub(s.min_ts.unwrap_or(s.max_ts)));
    let mut procs: Vec<(u64, u64)> = s.proc_busy.iter().map(|(&p, &b)| (p, b)).collect();
    procs.sort_unstable();
    procs.truncate(MAX_PROCS_LISTED);
    let proc_utilization = procs
        .into_iter()
        .map(|(p, b)| {
            let busy_ns = ns(b).min(duration_ns);
            let utilization =
                if duration_ns == 0 { 0.0 } else { ((busy_ns as f64 / duration_ns as f64) * 1000.0).round() / 1000.0 };
            ProcUtilization { p, busy_ns, utilization }
        })
        .collect();
    if let Some(why) = &s.stopped_early {
        notes.push(format!("scan stopped early: {why}"));
    }
    if s.untracked > 0 {
        notes.push(format!(
            "{} events concern Ps or Ms beyond the first {} and were not counted (a Go program has a few thousand at most)",
            s.untracked,
            scan::MAX_TRACKED
        ));
    }
    if s.skipped_batches > 0 {
        notes.push(format!("{} batches had events this scanner cannot read and were skipped", s.skipped_batches));
    }
    let mut r = TraceReport {
        version: format!("go1.{ver}"),
        duration_ns,
        goroutines_created: s.goroutines_created,
        gc_count: s.gc_count,
        stw_count: s.stw_count,
        stw_total_ns: ns(s.stw_total),
        stw_max_ns: ns(s.stw_max),
        syscall_count: s.syscall_count,
        syscall_ns: ns(s.syscall_total),
        gomaxprocs: s.gomaxprocs,
        proc_utilization,
        generations: s.generations,
        batches: s.batches,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        findings: Vec::new(),
    };
    r.findings = findings(&r, th, res);
    Ok(r)
}

/// The GOMAXPROCS Go 1.25+ picks itself under a CPU limit: the limit rounded up, at least 2
/// (and at most the machine's CPUs, which the trace does not tell).
fn go_default_procs(limit: f64) -> u64 {
    (limit.ceil() as u64).max(2)
}

fn findings(r: &TraceReport, th: &Thresholds, res: &Resources) -> Vec<Finding> {
    let mut out = Vec::new();
    if let (Some(procs), Some(limit)) = (r.gomaxprocs, res.cpu_limit_cores.filter(|l| *l > 0.0))
        && procs > go_default_procs(limit)
    {
        let want = go_default_procs(limit);
        out.push(Finding::new(
            Rule::GomaxprocsAboveLimit,
            Severity::Warning,
            format!("GOMAXPROCS is {procs} but the CPU limit is {} cores: bursts are throttled", cores(limit)),
            vec![
                format!(
                    "up to {procs} threads run Go code at once and spend the {}-core CFS quota early in each 100ms period; then every goroutine waits for the next period (latency spikes, not CPU use)",
                    cores(limit)
                ),
                format!(
                    "fix: build with Go 1.25+ (GOMAXPROCS follows the limit: {want} here) and do not set GOMAXPROCS yourself; on older Go set GOMAXPROCS={want} in the pod's env or use go.uber.org/automaxprocs"
                ),
            ],
        ));
    }
    if r.duration_ns > 0 {
        let secs = r.duration_ns as f64 / 1e9;
        let stw_pct = r.stw_total_ns as f64 * 100.0 / r.duration_ns as f64;
        let rate = r.gc_count as f64 / secs;
        if stw_pct >= th.stw_percent || (r.gc_count >= 10 && rate >= 10.0) {
            out.push(Finding::new(
                Rule::GcPressure,
                Severity::Warning,
                format!("{} GC cycles in {secs:.2}s; the world was stopped {stw_pct:.1}% of the time", r.gc_count),
                vec![
                    format!("{:.1} GC cycles per second", rate),
                    format!("stop-the-world total {}µs, longest {}µs", r.stw_total_ns / 1000, r.stw_max_ns / 1000),
                ],
            ));
        }
    }
    normalize(out, MAX_FINDINGS)
}
