//! Goroutine dumps: the `debug=2` text and the binary goroutine (and goroutineleak) profiles.

pub mod crash;
pub mod group;
pub mod idle;
pub mod text;

use crate::findings::{Finding, Rule, Severity};
use crate::pprof::{Profile, ProfileType};
use crate::{AnalyzeError, AnalyzeOptions};
pub use crash::Crash;
pub use group::Group;
use group::Grouper;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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
    /// The crash the dump comes from, when it is a Go crash's output (a panic, a fatal error,
    /// a SIGQUIT) rather than a dump the program served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<Crash>,
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
    let all = String::from_utf8_lossy(data);
    // A crash in a log: what precedes the runtime's preamble is the program's own logging.
    let start = crash::find_start(&all).unwrap_or(0);
    let text = &all[start..];
    let crash = crash::parse(text);
    let mut grouper = Grouper::default();
    let n = text::parse(text, |g| grouper.add(g));
    if n == 0 {
        return Err(AnalyzeError::MalformedGoroutines("no goroutine headers found".into()));
    }
    let note = group::ungrouped_note(grouper.ungrouped);
    let (total, by_state, groups) = grouper.into_groups();
    let mut r = finish(total, by_state, groups, GoroutineSource::Text, note, false, opts);
    if let Some(c) = &crash {
        r.findings.insert(0, crash_finding(c, opts.resources.restarts));
        r.findings.truncate(crate::findings::MAX_FINDINGS);
    }
    r.crash = crash;
    Ok(r)
}

/// The finding a crash is: high for a panic or fatal error, a warning for a signal's dump (a
/// SIGQUIT is usually someone asking for the goroutines).
fn crash_finding(c: &Crash, restarts: Option<u32>) -> Finding {
    let mut message = c.headline();
    if let Some(n) = restarts.filter(|n| *n > 0) {
        message.push_str(&format!("; restarted {n} time{}", if n == 1 { "" } else { "s" }));
    }
    let severity = if c.kind == crash::CrashKind::Signal { Severity::Warning } else { Severity::High };
    let mut ev = Vec::new();
    if let Some(s) = &c.signal {
        ev.push(format!("signal {s}"));
    }
    for r in &c.recovered {
        ev.push(format!("while recovering from: panic: {r}"));
    }
    if !c.details.is_empty() {
        ev.push(c.details.join(" "));
    }
    if let (Some(site), Some(loc)) = (&c.site, &c.location)
        && c.kind == crash::CrashKind::Signal
    {
        ev.push(format!("goroutine {} was at {site} ({loc})", c.goroutine.unwrap_or(0)));
    }
    ev.push(format!("stack: {}", c.stack.iter().take(6).cloned().collect::<Vec<_>>().join(" ← ")));
    Finding::new(Rule::Crash, severity, message, ev)
}

/// Analyses a binary goroutine or goroutineleak profile. Stacks are grouped by their frame
/// indices within a budget; names are copied only for the groups that are reported.
pub fn analyze_profile(p: &Profile, opts: &AnalyzeOptions) -> GoroutineReport {
    let leak = p.guess_type() == ProfileType::Goroutineleak;
    let col = p.default_index;
    let mut acc: HashMap<Vec<u32>, u64> = HashMap::new();
    let (mut total, mut ungrouped, mut bytes) = (0u64, 0u64, 0usize);
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if v <= 0 {
            return;
        }
        let v = v as u64;
        total = total.saturating_add(v);
        let frames = &frames[..frames.len().min(group::MAX_FRAMES)];
        if let Some(n) = acc.get_mut(frames) {
            *n = n.saturating_add(v);
        } else if bytes + frames.len() * 4 + 64 <= group::MAX_GROUP_BYTES {
            bytes += frames.len() * 4 + 64;
            acc.insert(frames.to_vec(), v);
        } else {
            ungrouped = ungrouped.saturating_add(v);
        }
    });
    let distinct = acc.len();
    let names = |frames: &[u32]| -> Vec<String> { frames.iter().map(|&f| p.names[f as usize].clone()).collect() };
    let mut ranked: Vec<(Vec<u32>, u64)> = acc.into_iter().collect();
    // Largest first, ties by names (as the text path sorts), without copying any name.
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.iter().map(|&f| &p.names[f as usize]).cmp(b.0.iter().map(|&f| &p.names[f as usize])))
    });
    // Findings look at the largest groups only (a prefix: their thresholds are counts).
    let kept = opts.top.max(1).max(crate::findings::MAX_FINDINGS);
    let state = if leak { "leaked" } else { "unknown" };
    let groups: Vec<Group> = ranked
        .iter()
        .take(kept)
        .map(|(frames, count)| Group {
            count: *count,
            state: state.into(),
            max_wait_minutes: 0,
            stack: names(frames),
            created_by: None,
            leaked: if leak { *count } else { 0 },
        })
        .collect();
    let states = (!leak).then(|| {
        "the binary goroutine profile records no states or wait times; goroutine?debug=2 has them".to_string()
    });
    let note = match (states, group::ungrouped_note(ungrouped)) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    let source = if leak { GoroutineSource::Goroutineleak } else { GoroutineSource::Profile };
    let by_state = if leak { BTreeMap::from([(state.to_string(), total)]) } else { BTreeMap::new() };
    let mut r = finish(total, by_state, groups, source, note, leak, opts);
    r.distinct_groups = distinct;
    if leak {
        r.leaked = total;
    }
    r
}

fn finish(
    total: u64,
    by_state: BTreeMap<String, u64>,
    groups: Vec<Group>,
    source: GoroutineSource,
    note: Option<String>,
    leak_profile: bool,
    opts: &AnalyzeOptions,
) -> GoroutineReport {
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
        crash: None,
        note,
        findings,
    }
}
