//! Grouping goroutines with identical stacks, counting states and spotting leak suspects.

use super::text::Goroutine;
use crate::findings::{Finding, MAX_FINDINGS, Rule, Severity, Thresholds};
use crate::frames::is_machinery;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Goroutines sharing one state and one stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub count: u64,
    /// Wait reason or scheduler state (`chan send`, `select`, `running`, …); `unknown` for the
    /// binary goroutine profile, which records no states.
    pub state: String,
    /// Longest wait in the group, as the runtime reports it (0 when under a minute or unknown).
    pub max_wait_minutes: u64,
    /// Function names, innermost first.
    pub stack: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// How many of them the runtime marked as leaked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leaked: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Bytes the groups of one dump may hold (states and frame names of distinct stacks). A dump
/// of a few hundred thousand distinct stacks would otherwise cost several times its own size.
pub const MAX_GROUP_BYTES: usize = 32 << 20;
/// Distinct states counted by name; goroutines in further states are counted under `other`.
pub const MAX_STATES: usize = 64;
/// Frames kept per group (the text dump's parser keeps the same number).
pub const MAX_FRAMES: usize = 256;

/// Accumulates goroutines into groups, within [`MAX_GROUP_BYTES`] and [`MAX_STATES`].
#[derive(Default)]
pub struct Grouper {
    pub total: u64,
    pub by_state: BTreeMap<String, u64>,
    groups: HashMap<(String, Vec<String>), Stats>,
    bytes: usize,
    /// Goroutines whose stack was new when the byte budget was spent: counted, not grouped.
    pub ungrouped: u64,
}

/// What a group holds besides its key (state and stack).
#[derive(Default)]
struct Stats {
    count: u64,
    max_wait_minutes: u64,
    created_by: Option<String>,
    leaked: u64,
}

/// What a group costs to keep: its strings with their headers, and its map entry.
fn group_bytes(state: &str, frames: &[String], created_by: Option<&str>) -> usize {
    state.len() + frames.iter().map(|f| f.len() + 24).sum::<usize>() + created_by.map_or(0, str::len) + 160
}

impl Grouper {
    pub fn add(&mut self, g: Goroutine) {
        self.add_many(g, 1);
    }

    pub fn add_many(&mut self, mut g: Goroutine, count: u64) {
        self.total = self.total.saturating_add(count);
        let state_key = if self.by_state.len() < MAX_STATES || self.by_state.contains_key(&g.state) {
            g.state.clone()
        } else {
            "other".to_string()
        };
        let n = self.by_state.entry(state_key).or_insert(0);
        *n = n.saturating_add(count);
        g.frames.truncate(MAX_FRAMES);
        let key = (g.state, g.frames);
        if !self.groups.contains_key(&key) {
            let cost = group_bytes(&key.0, &key.1, g.created_by.as_deref());
            if self.bytes + cost > MAX_GROUP_BYTES {
                self.ungrouped = self.ungrouped.saturating_add(count);
                return;
            }
            self.bytes += cost;
        }
        let e = self.groups.entry(key).or_insert_with(|| Stats { created_by: g.created_by, ..Stats::default() });
        e.count = e.count.saturating_add(count);
        e.max_wait_minutes = e.max_wait_minutes.max(g.minutes);
        if g.leaked {
            e.leaked = e.leaked.saturating_add(count);
        }
    }

    /// Groups, largest first (ties: state, then stack).
    pub fn into_groups(self) -> (u64, BTreeMap<String, u64>, Vec<Group>) {
        let mut v: Vec<Group> = self
            .groups
            .into_iter()
            .map(|((state, stack), s)| Group {
                count: s.count,
                state,
                max_wait_minutes: s.max_wait_minutes,
                stack,
                created_by: s.created_by,
                leaked: s.leaked,
            })
            .collect();
        sort_groups(&mut v);
        (self.total, self.by_state, v)
    }
}

/// Largest first; ties by state, then stack.
pub fn sort_groups(v: &mut [Group]) {
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.state.cmp(&b.state)).then_with(|| a.stack.cmp(&b.stack)));
}

/// The note about goroutines counted but not grouped, if any.
pub fn ungrouped_note(ungrouped: u64) -> Option<String> {
    (ungrouped > 0).then(|| {
        format!(
            "{ungrouped} goroutines had stacks beyond the {} MiB godiag groups per dump: counted, not grouped",
            MAX_GROUP_BYTES >> 20
        )
    })
}

/// States in which a goroutine waits for another goroutine that may never come.
pub fn is_parked_on_sync(state: &str) -> bool {
    state.starts_with("chan send")
        || state.starts_with("chan receive")
        || state.starts_with("select")
        || state.starts_with("sync.")
        || state.starts_with("semacquire")
        || state == "sync.Cond.Wait"
}

/// The first frame of a stack that is the program's own (not runtime) code, for messages.
pub fn site_of(stack: &[String]) -> String {
    stack.iter().find(|f| !is_machinery(f)).or(stack.first()).cloned().unwrap_or_else(|| "<no frames>".to_string())
}

/// How strong the evidence for a leak is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakEvidence {
    /// The runtime's own leak detector found them (goroutineleak profile, `(leaked)` marks).
    Certain,
    /// Many identical stacks from one creation site, parked for a long time.
    Strong,
    /// Many identical stacks, but none has waited long yet: a burst can look the same.
    Weak,
}

impl LeakEvidence {
    pub fn as_str(self) -> &'static str {
        match self {
            LeakEvidence::Certain => "certain",
            LeakEvidence::Strong => "strong",
            LeakEvidence::Weak => "weak",
        }
    }
}

/// The evidence a parked group gives, or `None` when it is no leak suspect.
pub fn leak_evidence(g: &Group, th: &Thresholds) -> Option<LeakEvidence> {
    if !is_parked_on_sync(&g.state) || super::idle::idle_pattern(&g.stack, g.created_by.as_deref()).is_some() {
        return None;
    }
    let waited = g.max_wait_minutes >= th.leak_min_minutes;
    if waited && g.count >= th.leak_min_group_waited.min(th.leak_min_group) {
        Some(LeakEvidence::Strong)
    } else if g.count >= th.leak_min_group {
        Some(LeakEvidence::Weak)
    } else {
        None
    }
}

/// Leak-suspect findings over all groups.
pub fn leak_findings(groups: &[Group], total: u64, leak_profile: bool, th: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in groups {
        let site = site_of(&g.stack);
        let mut ev = vec![format!("{} goroutines of {total} in {:?} at {site}", g.count, g.state)];
        if let Some(c) = &g.created_by {
            ev.push(format!("all created by {c}"));
        }
        if g.max_wait_minutes > 0 {
            ev.push(format!("waiting up to {} minutes", g.max_wait_minutes));
        }
        ev.push(format!("stack: {}", g.stack.iter().take(6).cloned().collect::<Vec<_>>().join(" ← ")));
        if leak_profile || g.leaked > 0 {
            let n = if leak_profile { g.count } else { g.leaked };
            out.push(Finding::new(
                Rule::GoroutineLeak,
                Severity::High,
                format!("{n} goroutines leaked (runtime leak detector) blocked in {site}"),
                ev,
            ));
            continue;
        }
        match leak_evidence(g, th) {
            Some(LeakEvidence::Strong) => out.push(Finding::new(
                Rule::GoroutineLeak,
                Severity::Warning,
                format!(
                    "{} goroutines blocked in {} at {site} for up to {} minute{} (leak suspect)",
                    g.count,
                    g.state,
                    g.max_wait_minutes,
                    if g.max_wait_minutes == 1 { "" } else { "s" }
                ),
                ev,
            )),
            Some(LeakEvidence::Weak) => {
                ev.insert(1, "none has waited a minute yet: a burst looks the same; a later dump with these still waiting confirms a leak".to_string());
                out.push(Finding::new(
                    Rule::GoroutineLeak,
                    Severity::Info,
                    format!("{} goroutines blocked in {} at {site} (possible leak, weak evidence)", g.count, g.state),
                    ev,
                ));
            }
            _ => {}
        }
    }
    normalize_by_count(out)
}

/// Leak findings keep the group order (largest first) within a severity; stable sort.
fn normalize_by_count(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by_key(|f| f.severity);
    v.truncate(MAX_FINDINGS);
    v
}
