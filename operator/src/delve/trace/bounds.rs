//! The bounds of a trace, as pure logic: which hits are recorded, which tracepoints are
//! cleared, and when the trace ends. The stop budget (the time stopped at hits) is kept by
//! looking ahead: before letting the program run again, godiag ends the trace if one more stop
//! as long as the longest so far could pass it. The end itself (clear and detach, tens of
//! milliseconds in Delve) is measured apart, like the attach.

use std::time::Duration;

/// The request's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub window: Duration,
    pub max_hits: usize,
    pub stop_budget: Duration,
    /// Each tracepoint's own hit limit.
    pub per_tracepoint: Vec<Option<usize>>,
}

/// Why a trace ended. Each has a stable [`reason`](EndReason::reason) shown as `endedBy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, strum::EnumIter, strum::IntoStaticStr)]
pub enum EndReason {
    /// `trace.window` passed.
    WindowEnded,
    /// `trace.maxHits` hits were recorded.
    MaxHits,
    /// Every tracepoint reached its own `maxHits`.
    TracepointHits,
    /// One more stop could pass `trace.stopBudget`.
    StopBudget,
    /// Delve could not evaluate a tracepoint's condition at a hit.
    ConditionFailed,
    /// The program exited during the trace.
    TargetExited,
    /// The program stopped for something other than a tracepoint (e.g. a panic Delve caught).
    ProgramStopped,
    /// Delve's answers passed the bytes a trace may read.
    MaxBytes,
    /// The request was deleted during the trace.
    Cancelled,
}

impl EndReason {
    pub fn reason(self) -> &'static str {
        self.into()
    }

    /// True when the trace ended as the request asked (a bound), not because of a failure.
    pub fn is_bound(self) -> bool {
        matches!(self, EndReason::WindowEnded | EndReason::MaxHits | EndReason::TracepointHits | EndReason::StopBudget)
    }
}

/// What the trace has recorded and spent so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    pub hits: usize,
    /// Hits recorded per tracepoint.
    pub per: Vec<usize>,
    /// Tracepoints already cleared (their limit reached).
    pub cleared: Vec<bool>,
    /// Hits Delve reported past a limit (several goroutines at once): seen, not recorded.
    pub dropped: usize,
    pub stopped: Duration,
    pub longest: Duration,
    pub stops: usize,
}

impl Tally {
    pub fn new(tracepoints: usize) -> Self {
        Tally { per: vec![0; tracepoints], cleared: vec![false; tracepoints], ..Tally::default() }
    }

    /// Whether a hit of tracepoint `i` is recorded: neither its own limit nor the total is
    /// reached. Counts it when it is.
    pub fn admit(&mut self, bounds: &Bounds, i: usize) -> bool {
        let own = bounds.per_tracepoint.get(i).copied().flatten();
        if self.hits >= bounds.max_hits || own.is_some_and(|m| self.per[i] >= m) {
            self.dropped += 1;
            return false;
        }
        self.hits += 1;
        self.per[i] += 1;
        true
    }

    /// Tracepoints that reached their own limit and are still set: to clear before the program
    /// runs again. Marks them cleared.
    pub fn take_full(&mut self, bounds: &Bounds) -> Vec<usize> {
        let mut full = Vec::new();
        for i in 0..self.per.len() {
            let own = bounds.per_tracepoint.get(i).copied().flatten();
            if !self.cleared[i] && own.is_some_and(|m| self.per[i] >= m) {
                self.cleared[i] = true;
                full.push(i);
            }
        }
        full
    }

    /// Adds one stop of the program.
    pub fn stop(&mut self, d: Duration) {
        self.stopped += d;
        self.longest = self.longest.max(d);
        self.stops += 1;
    }

    /// Before the program runs again: the bound that ends the trace now, if any. `elapsed` is
    /// the time since the window started, `current` how long the program has been stopped at
    /// this hit so far, `round_trip` one call through the port-forward.
    pub fn next(
        &self,
        bounds: &Bounds,
        elapsed: Duration,
        current: Duration,
        round_trip: Duration,
    ) -> Option<EndReason> {
        if self.hits >= bounds.max_hits {
            return Some(EndReason::MaxHits);
        }
        if !self.cleared.is_empty() && self.cleared.iter().all(|c| *c) {
            return Some(EndReason::TracepointHits);
        }
        if elapsed >= bounds.window {
            return Some(EndReason::WindowEnded);
        }
        let next_stop = self.longest.max(current).max(round_trip);
        if self.stopped + current + next_stop > bounds.stop_budget {
            return Some(EndReason::StopBudget);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(max_hits: usize, per: Vec<Option<usize>>) -> Bounds {
        Bounds {
            window: Duration::from_secs(30),
            max_hits,
            stop_budget: Duration::from_millis(500),
            per_tracepoint: per,
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_tracepoint_limit_clears_it_and_all_cleared_ends_the_trace() {
        let b = bounds(100, vec![Some(2), None]);
        let mut t = Tally::new(2);
        assert!(t.admit(&b, 0) && t.admit(&b, 0));
        assert!(!t.admit(&b, 0), "a third hit of a tracepoint limited to 2 is not recorded");
        assert_eq!(t.dropped, 1);
        assert_eq!(t.take_full(&b), vec![0]);
        assert_eq!(t.take_full(&b), Vec::<usize>::new(), "cleared once");
        assert_eq!(t.next(&b, MS, MS, MS), None, "the other tracepoint is still set");
        let b1 = bounds(100, vec![Some(1)]);
        let mut t1 = Tally::new(1);
        assert!(t1.admit(&b1, 0));
        t1.take_full(&b1);
        assert_eq!(t1.next(&b1, MS, MS, MS), Some(EndReason::TracepointHits));
    }

    #[test]
    fn exactly_max_hits_are_recorded_then_the_trace_ends() {
        let b = bounds(5, vec![None]);
        let mut t = Tally::new(1);
        let recorded = (0..7).filter(|_| t.admit(&b, 0)).count();
        assert_eq!((recorded, t.hits, t.dropped), (5, 5, 2));
        assert_eq!(t.next(&b, MS, MS, MS), Some(EndReason::MaxHits));
    }

    #[test]
    fn the_stop_budget_looks_one_stop_and_the_end_ahead() {
        let b = bounds(1000, vec![None]);
        let mut t = Tally::new(1);
        let rt = 5 * MS;
        // 40 ms stops: with the look-ahead of one more stop, 11 run on and the 12th ends it.
        let mut stops = 0;
        while t.next(&b, MS, 40 * MS, rt).is_none() {
            t.stop(40 * MS);
            stops += 1;
        }
        assert_eq!(t.next(&b, MS, 40 * MS, rt), Some(EndReason::StopBudget));
        assert_eq!(stops, 11);
        // With the stop that ends it, the total stays within the budget.
        t.stop(40 * MS);
        assert!(t.stopped <= b.stop_budget, "{:?}", t.stopped);
        // One long stop is enough to end it: the next could be as long.
        let mut t = Tally::new(1);
        t.stop(300 * MS);
        assert_eq!(t.next(&b, MS, MS, rt), Some(EndReason::StopBudget));
    }

    #[test]
    fn the_window_ends_the_trace_even_when_hits_keep_coming() {
        let b = bounds(1000, vec![None]);
        let t = Tally::new(1);
        assert_eq!(t.next(&b, Duration::from_secs(30), MS, MS), Some(EndReason::WindowEnded));
        assert_eq!(t.next(&b, Duration::from_secs(29), MS, MS), None);
    }

    #[test]
    fn only_bounds_count_as_a_trace_that_ended_as_asked() {
        assert!(EndReason::StopBudget.is_bound());
        assert!(!EndReason::ConditionFailed.is_bound());
        assert_eq!(EndReason::TracepointHits.reason(), "TracepointHits");
    }
}
