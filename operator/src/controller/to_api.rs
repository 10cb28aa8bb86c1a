//! The analysis crate's results in the API's words: the status publishes its own types (their
//! docs are `kubectl explain`), and this is the one place that maps into them.

use crate::api;
use godiag_analyze as analyze;

impl From<analyze::ArtifactKind> for api::ArtifactKind {
    fn from(k: analyze::ArtifactKind) -> Self {
        match k {
            analyze::ArtifactKind::Cpu => api::ArtifactKind::Cpu,
            analyze::ArtifactKind::Heap => api::ArtifactKind::Heap,
            analyze::ArtifactKind::Allocs => api::ArtifactKind::Allocs,
            analyze::ArtifactKind::Goroutine => api::ArtifactKind::Goroutine,
            analyze::ArtifactKind::GoroutineText => api::ArtifactKind::GoroutineText,
            analyze::ArtifactKind::Goroutineleak => api::ArtifactKind::Goroutineleak,
            analyze::ArtifactKind::Block => api::ArtifactKind::Block,
            analyze::ArtifactKind::Mutex => api::ArtifactKind::Mutex,
            analyze::ArtifactKind::Threadcreate => api::ArtifactKind::Threadcreate,
            analyze::ArtifactKind::Trace => api::ArtifactKind::Trace,
            analyze::ArtifactKind::DelveGoroutines => api::ArtifactKind::DelveGoroutines,
            analyze::ArtifactKind::DelveSnapshot => api::ArtifactKind::DelveSnapshot,
            analyze::ArtifactKind::DelveTrace => api::ArtifactKind::DelveTrace,
            analyze::ArtifactKind::DelveTraceText => api::ArtifactKind::DelveTraceText,
            analyze::ArtifactKind::Crash => api::ArtifactKind::Crash,
        }
    }
}

impl From<api::ArtifactKind> for analyze::ArtifactKind {
    fn from(k: api::ArtifactKind) -> Self {
        match k {
            api::ArtifactKind::Cpu => analyze::ArtifactKind::Cpu,
            api::ArtifactKind::Heap => analyze::ArtifactKind::Heap,
            api::ArtifactKind::Allocs => analyze::ArtifactKind::Allocs,
            api::ArtifactKind::Goroutine => analyze::ArtifactKind::Goroutine,
            api::ArtifactKind::GoroutineText => analyze::ArtifactKind::GoroutineText,
            api::ArtifactKind::Goroutineleak => analyze::ArtifactKind::Goroutineleak,
            api::ArtifactKind::Block => analyze::ArtifactKind::Block,
            api::ArtifactKind::Mutex => analyze::ArtifactKind::Mutex,
            api::ArtifactKind::Threadcreate => analyze::ArtifactKind::Threadcreate,
            api::ArtifactKind::Trace => analyze::ArtifactKind::Trace,
            api::ArtifactKind::DelveGoroutines => analyze::ArtifactKind::DelveGoroutines,
            api::ArtifactKind::DelveSnapshot => analyze::ArtifactKind::DelveSnapshot,
            api::ArtifactKind::DelveTrace => analyze::ArtifactKind::DelveTrace,
            api::ArtifactKind::DelveTraceText => analyze::ArtifactKind::DelveTraceText,
            api::ArtifactKind::Crash => analyze::ArtifactKind::Crash,
        }
    }
}

impl From<analyze::ArtifactFormat> for api::ArtifactFormat {
    fn from(f: analyze::ArtifactFormat) -> Self {
        match f {
            analyze::ArtifactFormat::Pprof => api::ArtifactFormat::Pprof,
            analyze::ArtifactFormat::GoroutineText => api::ArtifactFormat::GoroutineText,
            analyze::ArtifactFormat::Trace => api::ArtifactFormat::Trace,
            analyze::ArtifactFormat::DelveJson => api::ArtifactFormat::DelveJson,
            analyze::ArtifactFormat::Text => api::ArtifactFormat::Text,
        }
    }
}

impl From<analyze::Rule> for api::FindingRule {
    fn from(r: analyze::Rule) -> Self {
        match r {
            analyze::Rule::Crash => api::FindingRule::Crash,
            analyze::Rule::CpuThrottling => api::FindingRule::CpuThrottling,
            analyze::Rule::GomaxprocsAboveLimit => api::FindingRule::GomaxprocsAboveLimit,
            analyze::Rule::HeapNearLimit => api::FindingRule::HeapNearLimit,
            analyze::Rule::SchedulerLatency => api::FindingRule::SchedulerLatency,
            analyze::Rule::SyscallTime => api::FindingRule::SyscallTime,
            analyze::Rule::GcAssist => api::FindingRule::GcAssist,
            analyze::Rule::GoroutineLeak => api::FindingRule::GoroutineLeak,
            analyze::Rule::DiffersFromSiblings => api::FindingRule::DiffersFromSiblings,
            analyze::Rule::LockContention => api::FindingRule::LockContention,
            analyze::Rule::GcPressure => api::FindingRule::GcPressure,
            analyze::Rule::CpuDominantFunction => api::FindingRule::CpuDominantFunction,
            analyze::Rule::AllocationHotSpot => api::FindingRule::AllocationHotSpot,
            analyze::Rule::ProfilingRateUnset => api::FindingRule::ProfilingRateUnset,
        }
    }
}

impl From<analyze::Severity> for api::Severity {
    fn from(s: analyze::Severity) -> Self {
        match s {
            analyze::Severity::High => api::Severity::High,
            analyze::Severity::Warning => api::Severity::Warning,
            analyze::Severity::Info => api::Severity::Info,
        }
    }
}

impl From<analyze::Finding> for api::Finding {
    fn from(f: analyze::Finding) -> Self {
        api::Finding { rule: f.rule.into(), severity: f.severity.into(), message: f.message, evidence: f.evidence }
    }
}

impl From<analyze::summary::TargetSummary> for api::TargetSummary {
    fn from(s: analyze::summary::TargetSummary) -> Self {
        api::TargetSummary {
            top: s
                .top
                .into_iter()
                .map(|t| api::TopFunction { profile: t.profile.into(), name: t.name, leaf: t.leaf, percent: t.percent })
                .collect(),
            goroutines: s.goroutines.map(|g| api::GoroutineCounts {
                total: g.total,
                by_state: g.by_state,
                leaked: g.leaked,
            }),
            trace: s.trace.map(|t| api::TraceFigures {
                duration_ms: t.duration_ms,
                goroutines_created: t.goroutines_created,
                gc_count: t.gc_count,
                stw_max_us: t.stw_max_us,
                utilization_percent: t.utilization_percent,
                sched_latency_tail_us: t.sched_latency_tail_us,
                sched_latency_max_us: t.sched_latency_max_us,
                gc_cpu_percent: t.gc_cpu_percent,
                goroutines_max: t.goroutines_max,
            }),
            findings: s.findings.into_iter().map(Into::into).collect(),
            notes: s.notes,
            baseline: None,
            delve: None,
        }
    }
}

/// Back from the status to the analysis crate, for what is computed from a stored status (the
/// request's one-line summary after an operator restart).
impl From<api::TargetSummary> for analyze::summary::TargetSummary {
    fn from(s: api::TargetSummary) -> Self {
        analyze::summary::TargetSummary {
            top: s
                .top
                .into_iter()
                .map(|t| analyze::summary::TopFunction {
                    profile: t.profile.into(),
                    name: t.name,
                    leaf: t.leaf,
                    percent: t.percent,
                })
                .collect(),
            goroutines: s.goroutines.map(|g| analyze::summary::GoroutineCounts {
                total: g.total,
                by_state: g.by_state,
                leaked: g.leaked,
            }),
            trace: s.trace.map(|t| analyze::summary::TraceFigures {
                duration_ms: t.duration_ms,
                goroutines_created: t.goroutines_created,
                gc_count: t.gc_count,
                stw_max_us: t.stw_max_us,
                utilization_percent: t.utilization_percent,
                sched_latency_tail_us: t.sched_latency_tail_us,
                sched_latency_max_us: t.sched_latency_max_us,
                gc_cpu_percent: t.gc_cpu_percent,
                goroutines_max: t.goroutines_max,
            }),
            findings: s
                .findings
                .into_iter()
                .map(|f| analyze::Finding {
                    rule: f.rule.into(),
                    severity: f.severity.into(),
                    message: f.message,
                    evidence: f.evidence,
                })
                .collect(),
            notes: s.notes,
        }
    }
}

impl From<api::FindingRule> for analyze::Rule {
    fn from(r: api::FindingRule) -> Self {
        match r {
            api::FindingRule::Crash => analyze::Rule::Crash,
            api::FindingRule::CpuThrottling => analyze::Rule::CpuThrottling,
            api::FindingRule::GomaxprocsAboveLimit => analyze::Rule::GomaxprocsAboveLimit,
            api::FindingRule::HeapNearLimit => analyze::Rule::HeapNearLimit,
            api::FindingRule::SchedulerLatency => analyze::Rule::SchedulerLatency,
            api::FindingRule::SyscallTime => analyze::Rule::SyscallTime,
            api::FindingRule::GcAssist => analyze::Rule::GcAssist,
            api::FindingRule::GoroutineLeak => analyze::Rule::GoroutineLeak,
            api::FindingRule::DiffersFromSiblings => analyze::Rule::DiffersFromSiblings,
            api::FindingRule::LockContention => analyze::Rule::LockContention,
            api::FindingRule::GcPressure => analyze::Rule::GcPressure,
            api::FindingRule::CpuDominantFunction => analyze::Rule::CpuDominantFunction,
            api::FindingRule::AllocationHotSpot => analyze::Rule::AllocationHotSpot,
            api::FindingRule::ProfilingRateUnset => analyze::Rule::ProfilingRateUnset,
        }
    }
}

impl From<api::Severity> for analyze::Severity {
    fn from(s: api::Severity) -> Self {
        match s {
            api::Severity::High => analyze::Severity::High,
            api::Severity::Warning => analyze::Severity::Warning,
            api::Severity::Info => analyze::Severity::Info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name<T: serde::Serialize>(v: T) -> String {
        serde_json::to_value(v).unwrap().as_str().unwrap().to_string()
    }

    /// The CRD's names are the analysis crate's names, for every kind, format and rule, both ways.
    #[test]
    fn the_api_spells_every_kind_format_and_rule_like_the_analysis() {
        for k in analyze::ArtifactKind::ALL {
            assert_eq!(name(api::ArtifactKind::from(k)), k.as_str());
            assert_eq!(analyze::ArtifactKind::from(api::ArtifactKind::from(k)), k);
        }
        assert_eq!(api::ArtifactKind::ALL.len(), analyze::ArtifactKind::ALL.len());
        for f in analyze::ArtifactFormat::ALL {
            assert_eq!(name(api::ArtifactFormat::from(f)), f.as_str());
        }
        assert_eq!(api::ArtifactFormat::ALL.len(), analyze::ArtifactFormat::ALL.len());
        for r in analyze::Rule::ALL {
            assert_eq!(name(api::FindingRule::from(r)), r.reason());
        }
        assert_eq!(api::FindingRule::ALL.len(), analyze::Rule::ALL.len());
    }
}
