//! What to collect and how: the plan, and the HTTP requests it turns into (pure).

use crate::api::ProfileKind;
use crate::store::ArtifactFormat;
use std::time::Duration;

/// What to collect from one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectPlan {
    /// Kinds to collect; duplicates are ignored. `goroutine` yields two artifacts (pprof and text).
    pub kinds: Vec<ProfileKind>,
    /// Path of the pprof handlers, e.g. `/debug/pprof`.
    pub path: String,
    /// CPU profile window (`profile?seconds=N`, whole seconds, at least 1).
    pub cpu_duration: Duration,
    /// Execution trace window (`trace?seconds=N`, fractions allowed).
    pub trace_duration: Duration,
    /// Added to each request's window to form its deadline (connect, headers and body).
    pub grace: Duration,
    /// Retries when the CPU profiler or tracer is held by someone else.
    pub busy_retries: usize,
    /// First backoff delay for those retries (doubling, with jitter).
    pub busy_backoff: Duration,
}

impl Default for CollectPlan {
    fn default() -> Self {
        CollectPlan {
            kinds: vec![ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Goroutine, ProfileKind::Trace],
            path: "/debug/pprof".to_owned(),
            cpu_duration: Duration::from_secs(30),
            trace_duration: Duration::from_secs(5),
            grace: Duration::from_secs(15),
            busy_retries: 4,
            busy_backoff: Duration::from_secs(1),
        }
    }
}

impl CollectPlan {
    /// A plan with the default grace and retry settings.
    pub fn new(kinds: Vec<ProfileKind>, path: &str, cpu_duration: Duration, trace_duration: Duration) -> Self {
        CollectPlan { kinds, path: path.to_owned(), cpu_duration, trace_duration, ..Default::default() }
    }

    /// The requests this plan makes, in the plan's kind order.
    pub fn jobs(&self) -> Vec<Job> {
        let base = normalize_path(&self.path);
        let mut seen = Vec::new();
        let mut jobs = Vec::new();
        for &kind in &self.kinds {
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            let job = |format, endpoint: String, window| Job {
                kind,
                format,
                request: format!("{base}/{endpoint}"),
                window,
                retry_busy: kind.is_windowed(),
            };
            match kind {
                ProfileKind::Cpu => {
                    let secs = self.cpu_duration.as_secs_f64().ceil().max(1.0) as u64;
                    jobs.push(job(ArtifactFormat::Pprof, format!("profile?seconds={secs}"), Duration::from_secs(secs)));
                }
                ProfileKind::Trace => {
                    let secs = self.trace_duration.as_secs_f64().max(0.001);
                    jobs.push(job(ArtifactFormat::Trace, format!("trace?seconds={secs}"), self.trace_duration));
                }
                ProfileKind::Goroutine => {
                    jobs.push(job(ArtifactFormat::Pprof, "goroutine".to_owned(), Duration::ZERO));
                    jobs.push(job(ArtifactFormat::GoroutineText, "goroutine?debug=2".to_owned(), Duration::ZERO));
                }
                _ => jobs.push(job(ArtifactFormat::Pprof, kind.as_str().to_owned(), Duration::ZERO)),
            }
        }
        jobs
    }
}

/// One HTTP request of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Kind collected.
    pub kind: ProfileKind,
    /// Format of the body.
    pub format: ArtifactFormat,
    /// Path and query, e.g. `/debug/pprof/profile?seconds=10`.
    pub request: String,
    /// How long the server takes by design (zero for snapshots).
    pub window: Duration,
    /// Retry with backoff when another profiler or tracer is running.
    pub retry_busy: bool,
}

/// `debug/pprof/` → `/debug/pprof`; empty → `` (root).
fn normalize_path(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_for_every_kind() {
        let plan = CollectPlan::new(
            ProfileKind::ALL.to_vec(),
            "debug/pprof/",
            Duration::from_millis(9500),
            Duration::from_millis(2500),
        );
        let jobs = plan.jobs();
        let got: Vec<(&str, ArtifactFormat, Duration, bool)> =
            jobs.iter().map(|j| (j.request.as_str(), j.format, j.window, j.retry_busy)).collect();
        let zero = Duration::ZERO;
        assert_eq!(
            got,
            vec![
                ("/debug/pprof/profile?seconds=10", ArtifactFormat::Pprof, Duration::from_secs(10), true),
                ("/debug/pprof/heap", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/allocs", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/goroutine", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/goroutine?debug=2", ArtifactFormat::GoroutineText, zero, false),
                ("/debug/pprof/block", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/mutex", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/threadcreate", ArtifactFormat::Pprof, zero, false),
                ("/debug/pprof/trace?seconds=2.5", ArtifactFormat::Trace, Duration::from_millis(2500), true),
            ]
        );
    }

    #[test]
    fn duplicates_ignored_and_sub_second_cpu_rounds_up() {
        let plan = CollectPlan::new(
            vec![ProfileKind::Cpu, ProfileKind::Cpu, ProfileKind::Trace],
            "/",
            Duration::from_millis(200),
            Duration::from_secs(1),
        );
        let jobs = plan.jobs();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].request, "/profile?seconds=1");
        assert_eq!(jobs[1].request, "/trace?seconds=1");
    }
}
