//! Intervals a goroutine spends in one state (runnable, in a syscall, blocked on the network,
//! on sync), aggregated the way `go tool trace -pprof=…` aggregates them: per stack of the
//! event that put the goroutine there, with the count, total and longest; plus percentiles over
//! every interval. Bounded: the histogram has a fixed size, and at most [`MAX_STACKS`] stacks
//! are kept apart (the rest are summed under one entry).

use super::tables::{Interned, NO_STACK, StackId};
use crate::frames::{FrameOrigin, origin, short_name};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const MAX_STACKS: usize = 1 << 14;
/// Stacks listed per category in the report.
pub const TOP_STACKS: usize = 5;
/// Frames listed per stack in the report.
const FRAMES_LISTED: usize = 8;

#[derive(Clone, Copy, Debug, Default)]
struct PerStack {
    count: u64,
    total: u64,
    max: u64,
}

/// The intervals of one category, in nanoseconds.
pub struct Waits {
    hist: Histogram<u64>,
    count: u64,
    total: u64,
    max: u64,
    by_stack: HashMap<StackId, PerStack>,
    left_out: PerStack,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            // 1 ns to 1 hour at 3 significant digits (a few tens of KiB).
            #[allow(clippy::expect_used)]
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static bounds are valid"),
            count: 0,
            total: 0,
            max: 0,
            by_stack: HashMap::new(),
            left_out: PerStack::default(),
        }
    }
}

impl Waits {
    pub fn add(&mut self, ns: u64, stack: StackId) {
        self.count += 1;
        self.total = self.total.saturating_add(ns);
        self.max = self.max.max(ns);
        self.hist.saturating_record(ns.max(1));
        let key =
            if self.by_stack.len() >= MAX_STACKS && !self.by_stack.contains_key(&stack) { NO_STACK } else { stack };
        let e = self.by_stack.entry(key).or_default();
        e.count += 1;
        e.total = e.total.saturating_add(ns);
        e.max = e.max.max(ns);
    }

    /// An interval of the profilers' own goroutines: counted apart, never in the figures.
    pub fn leave_out(&mut self, ns: u64) {
        self.left_out.count += 1;
        self.left_out.total = self.left_out.total.saturating_add(ns);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The report of this category; `None` when nothing was recorded.
    pub fn report(&self, names: &Interned) -> Option<WaitReport> {
        if self.count == 0 && self.left_out.count == 0 {
            return None;
        }
        let mut stacks: Vec<(&StackId, &PerStack)> = self.by_stack.iter().collect();
        stacks.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
        Some(WaitReport {
            count: self.count,
            total_ns: self.total,
            p50_ns: self.hist.value_at_quantile(0.5).min(self.max),
            p99_ns: self.hist.value_at_quantile(0.99).min(self.max),
            max_ns: self.max,
            left_out_count: self.left_out.count,
            left_out_ns: self.left_out.total,
            top: stacks.into_iter().take(TOP_STACKS).map(|(&s, v)| WaitStack::new(names, s, *v)).collect(),
        })
    }
}

/// Time goroutines spent in one state during the trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitReport {
    /// Intervals that ended during the trace.
    pub count: u64,
    /// Their total length, summed over goroutines (can exceed the trace's duration).
    pub total_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Intervals of the profilers' own goroutines (the tracer writing its buffers), left out
    /// of the figures above: what collecting cost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out_count: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out_ns: u64,
    /// The stacks with the most time, most first.
    pub top: Vec<WaitStack>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One stack of a [`WaitReport`]: named by the program's own innermost frame, with the
/// innermost frame beside it when that is somewhere else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitStack {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    pub count: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// The innermost frames, innermost first.
    pub frames: Vec<String>,
}

impl WaitStack {
    fn new(names: &Interned, s: StackId, v: PerStack) -> WaitStack {
        let frames: Vec<&str> = names.frames(s).collect();
        let own = frames.iter().find(|f| origin(f) == FrameOrigin::Own);
        // The tracer's own frames (runtime.traceLocker…, where the event was written) are
        // never the leaf a person means.
        let leaf = frames.iter().find(|f| !f.starts_with("runtime.trace")).or(frames.first()).copied();
        let (name, leaf) = match (own, leaf) {
            (Some(o), Some(l)) if o != &l => (o.to_string(), Some(short_name(l).to_string())),
            (Some(o), _) => (o.to_string(), None),
            (None, Some(l)) => (l.to_string(), None),
            (None, None) => ("(no stack)".to_string(), None),
        };
        WaitStack {
            name,
            leaf,
            count: v.count,
            total_ns: v.total,
            max_ns: v.max,
            frames: frames.iter().take(FRAMES_LISTED).map(|f| f.to_string()).collect(),
        }
    }

    /// `main.handle → syscall.write` or `main.handle`.
    pub fn who(&self) -> String {
        match &self.leaf {
            Some(l) => format!("{} → {l}", self.name),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_totals_and_the_longest_stack_first() {
        let names = Interned::default();
        let mut w = Waits::default();
        for i in 1..=100u64 {
            w.add(i * 1000, NO_STACK);
        }
        let r = w.report(&names).unwrap();
        assert_eq!((r.count, r.total_ns, r.max_ns), (100, 5_050_000, 100_000));
        assert!((49_900..=50_100).contains(&r.p50_ns), "{}", r.p50_ns);
        assert!((98_900..=99_100).contains(&r.p99_ns), "{}", r.p99_ns);
        assert_eq!(r.top[0].name, "(no stack)");
        assert!(Waits::default().report(&names).is_none());
    }
}
