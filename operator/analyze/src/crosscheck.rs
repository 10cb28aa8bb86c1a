//! What the CPU profile and the execution trace of the same window say together. The trace
//! knows when goroutines waited and when Ps were "busy"; only the CPU profile knows how much CPU
//! the threads really got. A P is busy while its thread is frozen by the kernel (CFS throttling,
//! a crowded node), so the two disagree exactly when the operating system, not Go, is the cause.

use crate::findings::{Finding, MAX_EVIDENCE, Rule};
use crate::pprof::{PprofReport, ProfileType};
use crate::resources::cores;
use crate::trace::TraceReport;

/// CPU cores a CPU profile measured over its duration.
pub fn cores_used(r: &PprofReport) -> Option<f64> {
    if r.profile != ProfileType::Cpu {
        return None;
    }
    let cpu = r.sample_types.iter().find(|t| t.name == "cpu" && t.unit == "nanoseconds")?;
    let d = r.duration_ns.filter(|d| *d > 0)?;
    Some(cpu.total as f64 / d as f64)
}

/// Cores the trace's Ps were busy, on average.
fn busy_cores(t: &TraceReport) -> f64 {
    if t.duration_ns == 0 {
        return 0.0;
    }
    t.proc_utilization.iter().map(|p| p.busy_ns as f64).sum::<f64>() / t.duration_ns as f64
}

/// Adds the CPU profile's view to the trace's scheduler-latency and syscall findings.
pub fn refine(findings: &mut [Finding], cpu: &PprofReport, trace: &TraceReport, cpu_limit: Option<f64>) {
    let Some(used) = cores_used(cpu) else { return };
    let busy = busy_cores(trace);
    for f in findings.iter_mut() {
        let line = match f.rule {
            Rule::SchedulerLatency if busy > 0.0 && used < busy * 0.7 => {
                let limit = cpu_limit.map(|l| format!(" (its limit is {} cores)", cores(l))).unwrap_or_default();
                format!(
                    "the CPU profile of the same window measured {} cores while the Ps were busy {} cores: the threads were frozen by the kernel, which is CPU throttling{limit} or a crowded node, not a lack of Ps",
                    cores(used),
                    cores(busy)
                )
            }
            Rule::SchedulerLatency => {
                format!("the CPU profile of the same window agrees: the program used {} cores", cores(used))
            }
            Rule::SyscallTime if used < busy.max(1.0) * 0.5 => {
                format!("the CPU profile measured only {} cores: the program waits on I/O", cores(used))
            }
            _ => continue,
        };
        // First: a status short of room keeps only each finding's first line.
        f.evidence.insert(0, line);
        f.evidence.truncate(MAX_EVIDENCE);
    }
}
