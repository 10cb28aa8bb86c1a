//! godiag-analyze: analysis of Go diagnostics — pprof profiles, goroutine dumps and execution
//! traces. Pure code: no Kubernetes types, no storage, no network, no async. Used by
//! `godiag analyze` on a laptop and by the operator for every collected artifact.
#![deny(warnings)]
// Tests may unwrap: a panic there is a test failure with a message, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used))]

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
        InputKind::Pprof => {
            let p = pprof::decode::decode(data).map_err(|e| match e {
                AnalyzeError::MalformedProfile(m) if !pprof::decode::is_gzip(data) => AnalyzeError::UnknownFormat(m),
                other => other,
            })?;
            analyze_profile(&p, opts)
        }
    }
}

fn analyze_profile(p: &pprof::Profile, opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    match p.guess_type() {
        pprof::ProfileType::Goroutine | pprof::ProfileType::Goroutineleak if opts.sample_type.is_none() => {
            Ok(Analysis::Goroutines(goroutine::analyze_profile(p, opts)))
        }
        _ => pprof::analyze_profile(p, opts).map(Analysis::Pprof),
    }
}

/// Analyses `data` as a pprof profile and compares it with the older profile `base`.
pub fn analyze_diff(base: &[u8], data: &[u8], opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    if detect(data) != InputKind::Pprof || detect(base) != InputKind::Pprof {
        return Err(AnalyzeError::Diff("--base works on two pprof profiles".into()));
    }
    let new = pprof::decode::decode(data)?;
    let old = pprof::decode::decode(base)?;
    let mut r = pprof::analyze_profile(&new, opts)?;
    pprof::add_diff(&mut r, &old, &new, opts)?;
    Ok(Analysis::Pprof(r))
}

/// The flame graph SVG of a pprof profile; `None` when there is nothing to draw (use
/// [`flame_graph`] to get the reason).
pub fn flamegraph_svg(data: &[u8], opts: &FlameOptions) -> Result<Option<String>, AnalyzeError> {
    Ok(match flame_graph(data, opts)? {
        FlameGraph::Svg(s) => Some(s),
        FlameGraph::Empty { .. } => None,
    })
}
