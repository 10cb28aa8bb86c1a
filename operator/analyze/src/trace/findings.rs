//! What an execution trace says is out of line: GOMAXPROCS above the CPU limit, goroutines
//! waiting long for a CPU (and why, from the Ps' own utilisation), time in syscalls while the
//! CPU idles, allocations paying for the GC, and the GC's share of the CPU.

use super::TraceReport;
use crate::findings::{Finding, MAX_FINDINGS, Rule, Severity, Thresholds, normalize};
use crate::resources::{Resources, cores};
use crate::units::{bytes_u64, nanoseconds_u64 as ns};

/// Fewest runnable intervals before scheduler latency is judged (a trace of an idle program
/// has a handful, and one slow one says nothing).
const MIN_SCHED_SAMPLES: u64 = 50;
/// Fewest milliseconds of goroutine running time before GC assists are judged.
const MIN_RUNNING_MS: u64 = 50;
/// Shortest trace whose waits are judged: a few milliseconds of a program say nothing about
/// its habits.
const MIN_JUDGED_NS: u64 = 1_000_000_000;

/// The GOMAXPROCS Go 1.25+ picks itself under a CPU limit: the limit rounded up, at least 2
/// (and at most the machine's CPUs, which the trace does not tell).
fn go_default_procs(limit: f64) -> u64 {
    (limit.ceil() as u64).max(2)
}

pub(super) fn findings(r: &TraceReport, th: &Thresholds, res: &Resources) -> Vec<Finding> {
    let mut out = Vec::new();
    let limit = res.cpu_limit_cores.filter(|l| *l > 0.0);
    if let (Some(procs), Some(limit)) = (r.gomaxprocs, limit)
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
    if r.duration_ns == 0 {
        return normalize(out, MAX_FINDINGS);
    }
    let secs = r.duration_ns as f64 / 1e9;
    let util = r.utilization() * 100.0;
    let procs = r.gomaxprocs.unwrap_or(r.proc_utilization.len() as u64);
    let judged = r.duration_ns >= MIN_JUDGED_NS;
    let window = ns(r.duration_ns);
    if let Some(s) = r.blocking.scheduler.as_ref().filter(|_| judged)
        && s.count >= MIN_SCHED_SAMPLES
        && s.p99_ns as f64 >= th.sched_latency_p99_ms * 1e6
    {
        let mut evidence = vec![if util >= 90.0 {
            format!(
                "all {procs} Ps were busy {util:.0}% of the trace: more runnable goroutines than GOMAXPROCS={procs} can run; the program needs more CPU or less work per request"
            )
        } else {
            format!(
                "the Ps were busy only {util:.0}% while goroutines waited: the threads themselves were not running, which points at CPU throttling (the container's CFS quota) or an overloaded node, not at the Go scheduler"
            )
        }];
        if let Some(l) = limit {
            evidence.push(format!("CPU limit {} cores, GOMAXPROCS {procs}", cores(l)));
        }
        if let Some(t) = s.top.first() {
            evidence.push(format!(
                "longest waits after {}: {} in {} waits (longest {})",
                t.who(),
                ns(t.total_ns),
                t.count,
                ns(t.max_ns)
            ));
        }
        out.push(Finding::new(
            Rule::SchedulerLatency,
            Severity::Warning,
            format!(
                "goroutines waited up to {} for a CPU after becoming runnable (p99 {}, p50 {})",
                ns(s.max_ns),
                ns(s.p99_ns),
                ns(s.p50_ns)
            ),
            evidence,
        ));
    }
    if let Some(s) = r.blocking.syscall.as_ref().filter(|_| judged) {
        let threads = s.total_ns as f64 / r.duration_ns as f64;
        if threads >= th.syscall_threads {
            let idle = util < 50.0;
            let mut evidence = Vec::new();
            if let Some(t) = s.top.first() {
                evidence.push(format!("most in {}: {} in {} syscalls", t.who(), ns(t.total_ns), t.count));
            }
            evidence.push(if idle {
                format!("the Ps were busy only {util:.0}%: the program waits on the kernel (file or blocking I/O, cgo), not on CPU")
            } else {
                format!("the Ps were busy {util:.0}% as well")
            });
            out.push(Finding::new(
                Rule::SyscallTime,
                if idle && threads >= 1.0 { Severity::Warning } else { Severity::Info },
                format!(
                    "goroutines spent {} in syscalls over {window}: {threads:.1} threads in the kernel on average",
                    ns(s.total_ns)
                ),
                evidence,
            ));
        }
    }
    if let Some(a) = r.blocking.gc_assist.as_ref().filter(|_| judged)
        && r.running_ns >= MIN_RUNNING_MS * 1_000_000
    {
        let share = a.total_ns as f64 * 100.0 / r.running_ns as f64;
        if share >= th.gc_assist_percent {
            let mut evidence = vec![format!(
                "{} of mark assist in {} assists, against {} of running goroutines",
                ns(a.total_ns),
                a.count,
                ns(r.running_ns)
            )];
            if let Some(t) = a.top.first() {
                evidence.push(format!("most assists in {}", t.who()));
            }
            evidence.push(
                "fix: allocate less on that path (reuse buffers, sync.Pool), or give the heap room (GOGC, GOMEMLIMIT)"
                    .into(),
            );
            out.push(Finding::new(
                Rule::GcAssist,
                Severity::Warning,
                format!("allocating goroutines spent {share:.0}% of their running time assisting the GC"),
                evidence,
            ));
        }
    }
    let stw_pct = r.stw_total_ns as f64 * 100.0 / r.duration_ns as f64;
    let rate = r.gc_count as f64 / secs;
    let gc_cpu = r.gc_cpu_percent.unwrap_or(0.0);
    if gc_cpu >= th.gc_cpu_percent || stw_pct >= th.stw_percent || (r.gc_count >= 10 && rate >= 10.0) {
        let message = if gc_cpu >= th.gc_cpu_percent {
            format!("the GC used {gc_cpu:.0}% of the CPU over {window} ({} cycles)", r.gc_count)
        } else {
            format!("{} GC cycles in {secs:.2}s; the world was stopped {stw_pct:.1}% of the time", r.gc_count)
        };
        let mut evidence = vec![
            format!("{rate:.1} GC cycles per second"),
            format!("stop-the-world total {}, longest {}", ns(r.stw_total_ns), ns(r.stw_max_ns)),
        ];
        if let (Some(peak), Some(goal)) = (r.heap_alloc_max_bytes, r.heap_goal_bytes) {
            evidence.push(format!("heap peaked at {}, next GC at {}", bytes_u64(peak), bytes_u64(goal)));
        }
        out.push(Finding::new(Rule::GcPressure, Severity::Warning, message, evidence));
    }
    normalize(out, MAX_FINDINGS)
}
