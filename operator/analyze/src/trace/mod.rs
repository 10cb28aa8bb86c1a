//! Go execution traces (the Go 1.22+ format): duration, goroutines created and alive, GC
//! cycles and their CPU, stop-the-world, per-P utilisation; where goroutines waited (scheduler
//! latency, syscalls, network, sync, GC assist) with the stacks that waited longest; and the
//! program's own `runtime/trace` tasks, regions and logs.

pub mod annotations;
mod findings;
pub mod header;
pub mod scan;
pub mod tables;
pub mod timeline;
pub mod waits;

pub use annotations::AnnotationReport;
pub use timeline::{Blocking, GoroutineCounts};
pub use waits::{WaitReport, WaitStack};

use crate::AnalyzeError;
use crate::findings::{Finding, Thresholds};
use crate::resources::Resources;
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
    /// Share of the CPU (GOMAXPROCS × duration) the garbage collector took: its dedicated and
    /// fractional mark workers, mark assists, and stop-the-world pauses (idle-time marking,
    /// which only uses Ps that had nothing else to do, is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_cpu_percent: Option<f64>,
    /// Time goroutines spent running, summed over goroutines.
    #[serde(default)]
    pub running_ns: u64,
    /// Goroutines alive over the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutines: Option<GoroutineCounts>,
    /// Where goroutines waited.
    #[serde(default)]
    pub blocking: Blocking,
    /// The largest heap the runtime recorded during the trace (live and garbage), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_alloc_max_bytes: Option<u64>,
    /// The heap size at which the next GC starts, as last recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_goal_bytes: Option<u64>,
    /// The program's `runtime/trace` tasks, regions and logs, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationReport>,
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
    let dropped = s.timeline.dropped + s.timeline.names.dropped + s.table_dropped;
    if dropped > 0 {
        notes.push(format!("{dropped} events, strings or stacks beyond godiag's bounds were not counted"));
    }
    if s.skipped_batches > 0 {
        notes.push(format!("{} batches had events this scanner cannot read and were skipped", s.skipped_batches));
    }
    let tl = &s.timeline;
    // Idle-priority marking is left out: it runs only on Ps with nothing else to do.
    let gc_cpu_percent = s.gomaxprocs.filter(|p| *p > 0 && duration_ns > 0).map(|procs| {
        let gc =
            ns(tl.gc_worker_ns) as f64 + tl.assist.total() as f64 * ns_per_tick + ns(s.stw_total) as f64 * procs as f64;
        // Stop-the-world and a worker running through it overlap: never more than all of it.
        ((gc * 100.0 / (duration_ns as f64 * procs as f64)).min(100.0) * 10.0).round() / 10.0
    });
    let mut blocking = tl.waits();
    for w in [
        &mut blocking.scheduler,
        &mut blocking.syscall,
        &mut blocking.network,
        &mut blocking.sync,
        &mut blocking.gc_assist,
    ]
    .into_iter()
    .flatten()
    {
        w.total_ns = ns(w.total_ns);
        w.p50_ns = ns(w.p50_ns);
        w.p99_ns = ns(w.p99_ns);
        w.max_ns = ns(w.max_ns);
        w.left_out_ns = ns(w.left_out_ns);
        for t in &mut w.top {
            t.total_ns = ns(t.total_ns);
            t.max_ns = ns(t.max_ns);
        }
    }
    let mut annotations = tl.annotations();
    if let Some(a) = annotations.as_mut() {
        for l in a.tasks.iter_mut().map(|t| &mut t.latency).chain(a.regions.iter_mut()) {
            l.p50_ns = ns(l.p50_ns);
            l.p99_ns = ns(l.p99_ns);
            l.max_ns = ns(l.max_ns);
            l.total_ns = ns(l.total_ns);
        }
        for b in a.tasks.iter_mut().filter_map(|t| t.slowest.as_mut()) {
            for v in [
                &mut b.running_ns,
                &mut b.runnable_ns,
                &mut b.syscall_ns,
                &mut b.network_ns,
                &mut b.sync_ns,
                &mut b.other_wait_ns,
            ] {
                *v = ns(*v);
            }
        }
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
        gc_cpu_percent,
        running_ns: ns(tl.running_ns),
        goroutines: tl.goroutine_counts(),
        blocking,
        heap_alloc_max_bytes: s.heap_alloc_max,
        heap_goal_bytes: s.heap_goal_last.map(|g| g.1),
        annotations,
        generations: s.generations,
        batches: s.batches,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        findings: Vec::new(),
    };
    r.findings = findings::findings(&r, th, res);
    Ok(r)
}

impl TraceReport {
    /// Average P utilisation, between 0 and 1.
    pub fn utilization(&self) -> f64 {
        if self.proc_utilization.is_empty() {
            0.0
        } else {
            self.proc_utilization.iter().map(|p| p.utilization).sum::<f64>() / self.proc_utilization.len() as f64
        }
    }
}
