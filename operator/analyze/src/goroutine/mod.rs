//! Goroutine dumps: the `debug=2` text and the binary goroutine (and goroutineleak) profiles.

pub mod group;
pub mod text;

use crate::findings::Finding;
use crate::pprof::{Profile, ProfileType};
use crate::{AnalyzeError, AnalyzeOptions};
pub use group::Group;
use group::Grouper;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use text::Goroutine;

/// The analysis of a goroutine dump (`"kind": "goroutines"` in JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineReport {
    /// What the goroutines were read from.
    pub source: GoroutineSource,
    pub total: u64,
    /// Goroutines per state (empty for binary profiles, which have no states).
    pub by_state: BTreeMap<String, u64>,
    /// Number of distinct (state, stack) groups.
    pub distinct_groups: usize,
    /// The largest groups, largest first.
    pub groups: Vec<Group>,
    /// Goroutines the runtime itself reports as leaked.
    pub leaked: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub findings: Vec<Finding>,
}

/// Where a goroutine report's goroutines come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoroutineSource {
    /// The `debug=2` text dump: states and wait times included.
    Text,
    /// The binary goroutine profile: stacks and counts only.
    Profile,
    /// The Go 1.26+ goroutineleak profile: every goroutine in it is leaked.
    Goroutineleak,
}

impl GoroutineSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GoroutineSource::Text => "text",
            GoroutineSource::Profile => "profile",
            GoroutineSource::Goroutineleak => "goroutineleak",
        }
    }
}

/// Analyses a debug=2 text dump.
pub fn analyze_text(data: &[u8], opts: &AnalyzeOptions) -> Result<GoroutineReport, AnalyzeError> {
    let text = String::from_utf8_lossy(data);
    let mut grouper = Grouper::default();
    let n = text::parse(&text, |g| grouper.add(g));
    if n == 0 {
        return Err(AnalyzeError::MalformedGoroutines("no goroutine headers found".into()));
    }
    Ok(finish(grouper, GoroutineSource::Text, None, false, opts))
}

/// Analyses a binary goroutine or goroutineleak profile.
pub fn analyze_profile(p: &Profile, opts: &AnalyzeOptions) -> GoroutineReport {
    let leak = p.guess_type() == ProfileType::Goroutineleak;
    let col = p.default_index;
    let mut grouper = Grouper::default();
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if v <= 0 {
            return;
        }
        let g = Goroutine {
            id: 0,
            state: if leak { "leaked".into() } else { "unknown".into() },
            minutes: 0,
            leaked: leak,
            frames: frames.iter().map(|&f| p.names[f as usize].clone()).collect(),
            created_by: None,
        };
        grouper.add_many(g, v as u64);
    });
    let note = if leak {
        None
    } else {
        Some("the binary goroutine profile records no states or wait times; goroutine?debug=2 has them".to_string())
    };
    let source = if leak { GoroutineSource::Goroutineleak } else { GoroutineSource::Profile };
    let mut r = finish(grouper, source, note, leak, opts);
    if !leak {
        r.by_state.clear();
    }
    r
}

fn finish(
    grouper: Grouper,
    source: GoroutineSource,
    note: Option<String>,
    leak_profile: bool,
    opts: &AnalyzeOptions,
) -> GoroutineReport {
    let (total, by_state, groups) = grouper.into_groups();
    let leaked = groups.iter().map(|g| g.leaked).sum();
    let findings = group::leak_findings(&groups, total, leak_profile, &opts.thresholds);
    let distinct_groups = groups.len();
    let note = note.or_else(|| (total == 0).then(|| "empty profile: no goroutines".to_string()));
    GoroutineReport {
        source,
        total,
        by_state,
        distinct_groups,
        groups: groups.into_iter().take(opts.top.max(1)).collect(),
        leaked,
        note,
        findings,
    }
}
