//! godiag-analyze: analysis of Go diagnostics — pprof profiles, goroutine dumps and execution
//! traces. Pure code: no Kubernetes types, no storage, no network, no async. Used by
//! `godiag analyze` on a laptop and by the operator for every collected artifact.
#![deny(warnings)]
// Tests may unwrap: a panic there is a test failure with a message, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod compare;
pub mod crosscheck;
pub mod error;
pub mod findings;
pub mod flame;
pub mod frames;
pub mod goroutine;
pub mod kind;
pub mod pprof;
pub mod render;
pub mod resources;
pub mod summary;
pub mod text;
pub mod trace;
pub mod units;
pub mod wire;

pub use error::AnalyzeError;
pub use findings::{Finding, Rule, Severity, Thresholds};
pub use flame::{FlameGraph, FlameOptions, flame_graph};
pub use goroutine::GoroutineReport;
pub use kind::{ArtifactFormat, ArtifactKind};
pub use pprof::PprofReport;
pub use resources::Resources;
pub use summary::{
    GoroutineCounts, TargetSummary, TopFunction, TraceFigures, one_line, summarize_target, summary_json,
};
pub use trace::TraceReport;

use serde::{Deserialize, Serialize};

/// How to analyse.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Sample type to report (default: the one `go tool pprof` picks).
    pub sample_type: Option<String>,
    /// How many functions (pprof) or goroutine groups to list.
    pub top: usize,
    /// pprof-style focus / ignore regular expressions.
    pub focus: Option<String>,
    pub ignore: Option<String>,
    /// What the caller knows the artifact to be; block and mutex profiles look identical
    /// inside, so this sharpens messages about them.
    pub kind: Option<ArtifactKind>,
    pub thresholds: Thresholds,
    /// The container's CPU and memory requests and limits, when known.
    pub resources: Resources,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            sample_type: None,
            top: 10,
            focus: None,
            ignore: None,
            kind: None,
            thresholds: Thresholds::default(),
            resources: Resources::default(),
        }
    }
}

/// The analysis of one artifact. Serializes with a `kind` tag: `pprof`, `goroutines` or `trace`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)]
pub enum Analysis {
    Pprof(PprofReport),
    Goroutines(GoroutineReport),
    Trace(TraceReport),
}

impl Analysis {
    pub fn findings(&self) -> &[Finding] {
        match self {
            Analysis::Pprof(r) => &r.findings,
            Analysis::Goroutines(r) => &r.findings,
            Analysis::Trace(r) => &r.findings,
        }
    }
}

/// What the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Trace,
    GoroutineText,
    Pprof,
}

/// Detects the kind of input from its content.
pub fn detect(data: &[u8]) -> InputKind {
    if trace::header::looks_like_trace(data) {
        InputKind::Trace
    } else if goroutine::text::looks_like_dump(data) {
        InputKind::GoroutineText
    } else {
        InputKind::Pprof
    }
}

/// Analyses bytes of any supported kind (detected from the content).
pub fn analyze_bytes(data: &[u8], opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    match detect(data) {
        InputKind::Trace => trace::analyze(data, &opts.thresholds, &opts.resources).map(Analysis::Trace),
        InputKind::GoroutineText => goroutine::analyze_text(data, opts).map(Analysis::Goroutines),
        InputKind::Pprof => decode_and_analyze(data, opts).map(|(_, a)| a),
    }
}

/// Decodes a pprof profile and analyses it: a goroutine profile as goroutines (unless a sample
/// type is asked for), any other by function, its tallies fed in the decode's own pass over the
/// stacks.
fn decode_and_analyze(data: &[u8], opts: &AnalyzeOptions) -> Result<(pprof::Profile, Analysis), AnalyzeError> {
    let goroutines = |p: &pprof::Profile| {
        matches!(p.guess_type(), pprof::ProfileType::Goroutine | pprof::ProfileType::Goroutineleak)
            && opts.sample_type.is_none()
    };
    let (p, walked) =
        pprof::decode::decode_visiting(data, |p| if goroutines(p) { None } else { pprof::Tallies::for_walk(p, opts) })
            .map_err(|e| match e {
                AnalyzeError::MalformedProfile(m) if !pprof::decode::is_gzip(data) => AnalyzeError::UnknownFormat(m),
                other => other,
            })?;
    let a = if goroutines(&p) {
        Analysis::Goroutines(goroutine::analyze_profile(&p, opts))
    } else {
        Analysis::Pprof(pprof::analyze_walked(&p, opts, walked)?)
    };
    Ok((p, a))
}

/// Analyses bytes of any supported kind and builds the digest a sibling comparison needs (see
/// [`compare`]); the analysis lists at most `opts.top` entries, like [`analyze_bytes`].
pub fn analyze_with_digest(
    data: &[u8],
    kind: Option<ArtifactKind>,
    opts: &AnalyzeOptions,
) -> Result<(Analysis, Option<compare::Digest>), AnalyzeError> {
    analyze_with_flame(data, kind, opts, None).map(|(a, d, _)| (a, d))
}

/// An analysis, its digest, and the flame graph if one was asked for.
pub type WithFlame = (Analysis, Option<compare::Digest>, Option<Result<FlameGraph, AnalyzeError>>);

/// [`analyze_with_digest`] and, when `flame` is given and the input is a pprof profile, its
/// flame graph, from one decode of the profile (the decode is most of the work).
pub fn analyze_with_flame(
    data: &[u8],
    kind: Option<ArtifactKind>,
    opts: &AnalyzeOptions,
    flame: Option<&FlameOptions>,
) -> Result<WithFlame, AnalyzeError> {
    let mut graph = None;
    let wide = AnalyzeOptions {
        top: opts.top.max(compare::digest::DIGEST_FUNCTIONS).max(compare::digest::DIGEST_GROUPS),
        ..opts.clone()
    };
    let (mut analysis, stacks) = match detect(data) {
        InputKind::Pprof => {
            let (p, a) = decode_and_analyze(data, &wide)?;
            let stacks = match &a {
                Analysis::Pprof(r) => {
                    let col = p.column(Some(&r.sample_type))?;
                    let filter = pprof::Filter::new(opts.focus.as_deref(), opts.ignore.as_deref())?;
                    // A profile too large to fold still compares by function.
                    pprof::folded::folded(&p, col, &filter.compile_for(&p)).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            graph = flame.map(|f| flame::flame_graph_from_profile(&p, f));
            (a, stacks)
        }
        _ => (analyze_bytes(data, &wide)?, Vec::new()),
    };
    let digest = kind.or_else(|| inferred_kind(&analysis)).and_then(|k| compare::digest(k, &analysis, stacks));
    match &mut analysis {
        Analysis::Pprof(r) => {
            r.functions.truncate(opts.top);
            r.own_code.truncate(opts.top);
        }
        Analysis::Goroutines(r) => r.groups.truncate(opts.top),
        Analysis::Trace(_) => {}
    }
    Ok((analysis, digest, graph))
}

/// The artifact kind an analysis most likely comes from, when the caller does not know it.
fn inferred_kind(a: &Analysis) -> Option<ArtifactKind> {
    use pprof::ProfileType as T;
    Some(match a {
        Analysis::Pprof(r) => match r.profile {
            T::Cpu => ArtifactKind::Cpu,
            T::Heap => ArtifactKind::Heap,
            T::Allocs => ArtifactKind::Allocs,
            T::Block | T::Contention => ArtifactKind::Block,
            T::Mutex => ArtifactKind::Mutex,
            T::Threadcreate => ArtifactKind::Threadcreate,
            T::Goroutine | T::Goroutineleak | T::Unknown => return None,
        },
        Analysis::Goroutines(r) => match r.source {
            goroutine::GoroutineSource::Text => ArtifactKind::GoroutineText,
            goroutine::GoroutineSource::Profile => ArtifactKind::Goroutine,
            goroutine::GoroutineSource::Goroutineleak => return None,
        },
        Analysis::Trace(_) => ArtifactKind::Trace,
    })
}

/// Analyses `data` and compares it with `bases` (name, bytes): healthy siblings of the same kind
/// profiled in the same window, or older profiles of the same program; the same comparison the
/// operator makes for `spec.baseline`.
pub fn analyze_against(
    data: &[u8],
    bases: &[(String, Vec<u8>)],
    kind: Option<ArtifactKind>,
    opts: &AnalyzeOptions,
) -> Result<(Analysis, compare::Comparison), AnalyzeError> {
    let input = detect(data);
    let (analysis, digest) = analyze_with_digest(data, kind, opts)?;
    let mut siblings = Vec::new();
    for (name, b) in bases {
        if detect(b) != input {
            return Err(AnalyzeError::Diff(format!("{name} is not the same kind of file as the one analysed")));
        }
        let (_, d) = analyze_with_digest(b, kind, opts).map_err(|e| AnalyzeError::Diff(format!("{name}: {e}")))?;
        siblings.push((name.clone(), d.into_iter().collect()));
    }
    let comparison = compare::compare(&digest.into_iter().collect::<Vec<_>>(), &siblings);
    Ok((analysis, comparison))
}

/// The flame graph SVG of a pprof profile; `None` when there is nothing to draw (use
/// [`flame_graph`] to get the reason).
pub fn flamegraph_svg(data: &[u8], opts: &FlameOptions) -> Result<Option<String>, AnalyzeError> {
    Ok(match flame_graph(data, opts)? {
        FlameGraph::Svg(s) => Some(s),
        FlameGraph::Empty { .. } => None,
    })
}
