//! What to collect and how: the plan, and the HTTP requests it turns into (pure).

use crate::api::ProfileKind;
use godiag_analyze::{ArtifactFormat, ArtifactKind};
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
    /// Largest artifact stored; a body beyond it is aborted while it streams.
    pub caps: ByteCaps,
}

/// The largest artifact godiag stores, per format. A Go program's profiles are kilobytes to a few
/// megabytes; a body far beyond that is a broken or hostile program, and is cut off while it
/// streams rather than filling storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteCaps {
    /// pprof profiles and the goroutine text dump.
    pub profile: u64,
    /// Execution traces (they grow with the window and the load).
    pub trace: u64,
}

impl ByteCaps {
    pub const DEFAULT_PROFILE: u64 = 64 << 20;
    pub const DEFAULT_TRACE: u64 = 256 << 20;

    /// The cap for one artifact kind.
    pub fn for_kind(&self, kind: ArtifactKind) -> u64 {
        match kind.format() {
            ArtifactFormat::Trace => self.trace,
            ArtifactFormat::Pprof
            | ArtifactFormat::GoroutineText
            | ArtifactFormat::DelveJson
            | ArtifactFormat::Text => self.profile,
        }
    }
}

impl Default for ByteCaps {
    fn default() -> Self {
        ByteCaps { profile: Self::DEFAULT_PROFILE, trace: Self::DEFAULT_TRACE }
    }
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
            caps: ByteCaps::default(),
        }
    }
}

impl CollectPlan {
    /// A plan with the default grace and retry settings.
    pub fn new(kinds: Vec<ProfileKind>, path: &str, cpu_duration: Duration, trace_duration: Duration) -> Self {
        CollectPlan { kinds, path: path.to_owned(), cpu_duration, trace_duration, ..Default::default() }
    }

    /// The requests this plan makes, in the plan's kind order.
    pub fn fetches(&self) -> Vec<Fetch> {
        let base = normalize_path(&self.path);
        let mut seen = Vec::new();
        let mut fetches = Vec::new();
        for &kind in &self.kinds {
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            let fetch = |artifact: ArtifactKind, endpoint: String, window| Fetch {
                kind: artifact,
                request: format!("{base}/{endpoint}"),
                window,
                retry_busy: artifact.is_windowed(),
                optional: false,
            };
            match kind {
                ProfileKind::Cpu => {
                    let secs = self.cpu_duration.as_secs_f64().ceil().max(1.0) as u64;
                    fetches.push(fetch(
                        ArtifactKind::Cpu,
                        format!("profile?seconds={secs}"),
                        Duration::from_secs(secs),
                    ));
                }
                ProfileKind::Trace => {
                    let secs = self.trace_duration.as_secs_f64().max(0.001);
                    fetches.push(fetch(ArtifactKind::Trace, format!("trace?seconds={secs}"), self.trace_duration));
                }
                ProfileKind::Goroutine => {
                    fetches.push(fetch(ArtifactKind::Goroutine, "goroutine".to_owned(), Duration::ZERO));
                    fetches.push(fetch(ArtifactKind::GoroutineText, "goroutine?debug=2".to_owned(), Duration::ZERO));
                    // The runtime's leak detector, where the Go version has it (1.27+).
                    let leak = fetch(ArtifactKind::Goroutineleak, "goroutineleak".to_owned(), Duration::ZERO);
                    fetches.push(Fetch { optional: true, ..leak });
                }
                ProfileKind::Heap => fetches.push(fetch(ArtifactKind::Heap, "heap".to_owned(), Duration::ZERO)),
                ProfileKind::Allocs => fetches.push(fetch(ArtifactKind::Allocs, "allocs".to_owned(), Duration::ZERO)),
                ProfileKind::Block => fetches.push(fetch(ArtifactKind::Block, "block".to_owned(), Duration::ZERO)),
                ProfileKind::Mutex => fetches.push(fetch(ArtifactKind::Mutex, "mutex".to_owned(), Duration::ZERO)),
                ProfileKind::Threadcreate => {
                    fetches.push(fetch(ArtifactKind::Threadcreate, "threadcreate".to_owned(), Duration::ZERO))
                }
            }
        }
        fetches
    }
}

/// One HTTP GET of a plan: one artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The artifact it yields (its format is the body's).
    pub kind: ArtifactKind,
    /// Path and query, e.g. `/debug/pprof/profile?seconds=10`.
    pub request: String,
    /// How long the server takes by design (zero for snapshots).
    pub window: Duration,
    /// Retry with backoff when another profiler or tracer is running.
    pub retry_busy: bool,
    /// Collected when the program offers it: Go's 404 "Unknown profile" means "not available",
    /// not a failure.
    pub optional: bool,
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
        let fetches = plan.fetches();
        let got: Vec<(&str, ArtifactKind, Duration, bool)> =
            fetches.iter().map(|j| (j.request.as_str(), j.kind, j.window, j.retry_busy)).collect();
        let zero = Duration::ZERO;
        assert_eq!(
            got,
            vec![
                ("/debug/pprof/profile?seconds=10", ArtifactKind::Cpu, Duration::from_secs(10), true),
                ("/debug/pprof/heap", ArtifactKind::Heap, zero, false),
                ("/debug/pprof/allocs", ArtifactKind::Allocs, zero, false),
                ("/debug/pprof/goroutine", ArtifactKind::Goroutine, zero, false),
                ("/debug/pprof/goroutine?debug=2", ArtifactKind::GoroutineText, zero, false),
                ("/debug/pprof/goroutineleak", ArtifactKind::Goroutineleak, zero, false),
                ("/debug/pprof/block", ArtifactKind::Block, zero, false),
                ("/debug/pprof/mutex", ArtifactKind::Mutex, zero, false),
                ("/debug/pprof/threadcreate", ArtifactKind::Threadcreate, zero, false),
                ("/debug/pprof/trace?seconds=2.5", ArtifactKind::Trace, Duration::from_millis(2500), true),
            ]
        );
        assert!(fetches.iter().all(|f| f.optional == (f.kind == ArtifactKind::Goroutineleak)));
    }

    #[test]
    fn duplicates_ignored_and_sub_second_cpu_rounds_up() {
        let plan = CollectPlan::new(
            vec![ProfileKind::Cpu, ProfileKind::Cpu, ProfileKind::Trace],
            "/",
            Duration::from_millis(200),
            Duration::from_secs(1),
        );
        let fetches = plan.fetches();
        assert_eq!(fetches.len(), 2);
        assert_eq!(fetches[0].request, "/profile?seconds=1");
        assert_eq!(fetches[1].request, "/trace?seconds=1");
    }
}
