//! Goroutine states over time. The scanner hands over, per generation, the goroutine events of
//! every M (with the goroutine each concerns already resolved from its M's context); here they
//! are put in time order and run through the state machine of Go's trace parser: runnable →
//! running → syscall / waiting → runnable … Each interval that ends becomes a sample of its
//! category, attributed like `go tool trace -pprof=sched|syscall|net|sync` attributes it: to
//! the stack of the event that began it.
//!
//! Events are ordered by timestamp (Go's parser also uses per-goroutine sequence numbers for
//! clocks that disagree across Ms; a transition that does not fit the current state is applied
//! without producing a sample, so a small skew costs a sample, never a wrong one).

use super::annotations::{AnnotationReport, Annotations, Breakdown};
use super::tables::{GenTables, Interned, NO_STACK, StackId};
use super::waits::{WaitReport, Waits};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most goroutines followed at once (a program with more is listed as such in the notes).
pub const MAX_GOROUTINES: usize = 1 << 19;
/// Most events of one generation held for ordering (about 40 bytes each).
pub const MAX_GEN_EVENTS: usize = 2 << 20;
/// Points of the goroutine-count series: one per 100 ms of trace, at most 600.
const MAX_SERIES: usize = 600;

/// What happened to a goroutine (`g`), with up to two arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Created runnable; `a` = the creator's stack.
    Create,
    CreateBlocked,
    /// Created in a syscall (a C thread calling into Go).
    CreateSyscall,
    Start,
    Destroy,
    /// Running → runnable (preempted, yielded); `b` = stack.
    Stop,
    /// Running → waiting; `a` = reason string, `b` = stack.
    Block,
    /// Waiting → runnable; `a` = the unblocker's stack.
    Unblock,
    /// Running → syscall; `a` = stack.
    SyscallBegin,
    SyscallEnd,
    /// Syscall → runnable (its P was taken while it was in the kernel).
    SyscallEndBlocked,
    /// Status at the start of a generation; `a` = Go's GoStatus value.
    Status,
    /// `a` = label string (the runtime labels its GC mark workers `GC (…)`).
    Label,
    /// `a` = stack.
    AssistBegin,
    AssistEnd,
    /// `a` = task, `b` = region name.
    RegionBegin,
    RegionEnd,
    /// `g` = task, `a` = name.
    TaskBegin,
    /// `g` = task.
    TaskEnd,
    /// `g` = task, `a` = key, `b` = message.
    Log,
}

/// One goroutine event, waiting to be ordered.
#[derive(Clone, Copy, Debug)]
pub struct Rec {
    pub ts: u64,
    pub g: u64,
    pub a: u64,
    pub b: u64,
    pub kind: Kind,
}

/// Go's GoStatus values (tracev2.GoStatus).
const GO_RUNNABLE: u64 = 1;
const GO_RUNNING: u64 = 2;
const GO_SYSCALL: u64 = 3;
const GO_WAITING: u64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Network,
    Sync,
    Other,
}

fn classify(reason: &str) -> Wait {
    // The same tests as cmd/trace's net and sync profiles.
    if reason == "network" {
        Wait::Network
    } else if reason.contains("chan") || reason.contains("sync") || reason.contains("select") {
        Wait::Sync
    } else {
        Wait::Other
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Runnable,
    Running,
    Syscall,
    Waiting(Wait),
}

/// An open GC mark assist: its stack, the time run in it so far, and since when it runs.
#[derive(Clone, Copy, Debug)]
struct Assist {
    stack: StackId,
    running: u64,
    running_since: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct G {
    state: State,
    since: u64,
    stack: StackId,
    /// Ran at least once during the trace (`go tool trace` counts a goroutine's waits only
    /// from its first run on).
    has_run: bool,
    /// Running as a GC mark worker since this time.
    gc_since: Option<u64>,
    assist: Option<Assist>,
    /// Task of the innermost open region, and how many regions are open.
    task: u64,
    regions: u32,
    region_start: u64,
    region_name: u32,
}

/// The goroutine-state figures of a whole trace.
#[derive(Default)]
pub struct Timeline {
    gs: HashMap<u64, G>,
    pub sched: Waits,
    pub syscall: Waits,
    pub network: Waits,
    pub sync: Waits,
    pub assist: Waits,
    pub running_ns: u64,
    pub gc_worker_ns: u64,
    annotations: Annotations,
    alive: u64,
    /// The most goroutines alive in each 100 ms since the first event.
    series: Vec<u64>,
    /// Trace ticks per 100 ms (from the trace's clock frequency).
    step: u64,
    first_ts: Option<u64>,
    pub max_alive: u64,
    pub names: Interned,
    /// Events dropped because a bound was reached (goroutines, events per generation).
    pub dropped: u64,
    pub buf: Vec<Rec>,
}

impl Timeline {
    /// Queues one event of the current generation.
    pub fn push(&mut self, r: Rec) {
        if self.buf.len() >= MAX_GEN_EVENTS {
            self.dropped += 1;
            return;
        }
        self.buf.push(r);
    }

    /// Orders and applies the events of a finished generation, with its tables.
    pub fn end_generation(&mut self, t: &GenTables, ticks_per_second: u64) {
        self.step = (ticks_per_second / 10).max(1);
        let mut buf = std::mem::take(&mut self.buf);
        buf.sort_by_key(|r| r.ts); // stable: one M's order is kept for equal times
        self.names.new_generation();
        for r in &buf {
            self.apply(r, t);
        }
        buf.clear();
        self.buf = buf;
    }

    fn string_id(&mut self, t: &GenTables, id: u64) -> u32 {
        let s = t.string(id).unwrap_or("?").to_string();
        self.names.name_id(&s)
    }

    fn apply(&mut self, r: &Rec, t: &GenTables) {
        let ts = r.ts;
        let first = *self.first_ts.get_or_insert(ts);
        let bucket = usize::try_from(ts.saturating_sub(first) / self.step.max(1)).unwrap_or(usize::MAX);
        while self.series.len() <= bucket && self.series.len() < MAX_SERIES {
            self.series.push(self.alive);
        }
        match r.kind {
            Kind::TaskBegin => {
                let name = self.string_id(t, r.a);
                self.annotations.task_begin(r.g, name, ts);
                return;
            }
            Kind::TaskEnd => {
                self.annotations.task_end(r.g, ts);
                return;
            }
            Kind::Log => {
                let category = match self.annotations.task_name(r.g) {
                    Some(n) => n,
                    None => self.names.name_id("(no task)"),
                };
                let key = self.string_id(t, r.a);
                let msg = t.string(r.b).unwrap_or("").to_string();
                self.annotations.log(category, key, &msg);
                return;
            }
            _ => {}
        }
        let stack_a = |s: &mut Self| s.names.stack(t, r.a);
        match r.kind {
            Kind::Create => {
                let st = stack_a(self);
                self.enter(r.g, ts, State::Runnable, st);
            }
            Kind::CreateBlocked => self.enter(r.g, ts, State::Waiting(Wait::Other), NO_STACK),
            Kind::CreateSyscall => self.enter(r.g, ts, State::Syscall, NO_STACK),
            Kind::Start => self.enter(r.g, ts, State::Running, NO_STACK),
            Kind::Destroy => self.destroy(r.g, ts),
            Kind::Stop => {
                let st = self.names.stack(t, r.b);
                self.enter(r.g, ts, State::Runnable, st);
            }
            Kind::Block => {
                let w = classify(t.string(r.a).unwrap_or(""));
                let st = self.names.stack(t, r.b);
                self.enter(r.g, ts, State::Waiting(w), st);
            }
            Kind::Unblock => {
                // Only a waiting (or not yet known) goroutine can be unblocked; anything else
                // is an event seen out of order.
                if self.gs.get(&r.g).is_none_or(|g| matches!(g.state, State::Waiting(_))) {
                    let st = stack_a(self);
                    self.enter(r.g, ts, State::Runnable, st);
                }
            }
            Kind::SyscallBegin => {
                let st = stack_a(self);
                self.enter(r.g, ts, State::Syscall, st);
            }
            Kind::SyscallEnd => self.enter(r.g, ts, State::Running, NO_STACK),
            Kind::SyscallEndBlocked => self.enter(r.g, ts, State::Runnable, NO_STACK),
            Kind::Status => {
                let s = match r.a {
                    GO_RUNNABLE => State::Runnable,
                    GO_RUNNING => State::Running,
                    GO_SYSCALL => State::Syscall,
                    GO_WAITING => State::Waiting(Wait::Other),
                    _ => return,
                };
                // A status confirms what is known; it only sets the state of a goroutine seen
                // for the first time (or one this reader lost track of).
                let known = self.gs.get(&r.g).map(|g| g.state);
                let same = match (known, s) {
                    (Some(State::Waiting(_)), State::Waiting(_)) => true,
                    (Some(k), s) => k == s,
                    (None, _) => false,
                };
                if !same {
                    self.enter(r.g, ts, s, NO_STACK);
                }
            }
            Kind::Label => {
                let gc = t.string(r.a).is_some_and(|l| l.starts_with("GC ("));
                if let Some(g) = self.gs.get_mut(&r.g)
                    && gc
                    && g.state == State::Running
                {
                    g.gc_since = Some(ts);
                }
            }
            Kind::AssistBegin => {
                let st = stack_a(self);
                if let Some(g) = self.gs.get_mut(&r.g) {
                    let running_since = (g.state == State::Running).then_some(ts);
                    g.assist = Some(Assist { stack: st, running: 0, running_since });
                }
            }
            Kind::AssistEnd => {
                if let Some(a) = self.gs.get_mut(&r.g).and_then(|g| g.assist.take()) {
                    let last = a.running_since.map_or(0, |s| ts.saturating_sub(s));
                    self.assist.add(a.running.saturating_add(last), a.stack);
                }
            }
            Kind::RegionBegin => {
                let name = self.string_id(t, r.b);
                if let Some(g) = self.gs.get_mut(&r.g) {
                    if g.regions == 0 {
                        g.task = r.a;
                        g.region_start = ts;
                        g.region_name = name;
                    }
                    g.regions = g.regions.saturating_add(1);
                }
            }
            Kind::RegionEnd => {
                let mut ended = None;
                if let Some(g) = self.gs.get_mut(&r.g)
                    && g.regions > 0
                {
                    g.regions -= 1;
                    if g.regions == 0 {
                        ended = Some((g.region_name, ts.saturating_sub(g.region_start)));
                        // The time in the current state so far belongs to the region's task;
                        // the state's own interval still runs to its end.
                        charge(&mut self.annotations, g.task, g.state, ts.saturating_sub(g.since.max(g.region_start)));
                        g.task = 0;
                    }
                }
                if let Some((name, len)) = ended {
                    self.annotations.region(name, len);
                }
            }
            Kind::TaskBegin | Kind::TaskEnd | Kind::Log => {}
        }
    }

    /// Moves `g` into `state` at `ts`: the interval in its previous state ends and is counted.
    fn enter(&mut self, id: u64, ts: u64, state: State, stack: StackId) {
        let prev = self.gs.get(&id).copied();
        if prev.is_none() && self.gs.len() >= MAX_GOROUTINES {
            self.dropped += 1;
            return;
        }
        match prev {
            Some(g) if g.state == state && state == State::Runnable => return, // still runnable
            Some(g) => self.leave(&g, ts),
            None => self.count_alive(ts, 1),
        }
        let base = prev.unwrap_or(G {
            state,
            since: ts,
            stack,
            has_run: false,
            gc_since: None,
            assist: None,
            task: 0,
            regions: 0,
            region_start: 0,
            region_name: 0,
        });
        // A goroutine that waited without a stack of its own wake-up (a timer, the network
        // poller, the end of a blocked syscall) is named by where it had stopped.
        let stack = match prev {
            Some(p) if stack == NO_STACK && state == State::Runnable => p.stack,
            _ => stack,
        };
        // Mark assist counts the time the goroutine runs in it, not the waits inside it.
        let assist = base.assist.map(|mut a| {
            if let Some(s) = a.running_since.take() {
                a.running = a.running.saturating_add(ts.saturating_sub(s));
            }
            if state == State::Running {
                a.running_since = Some(ts);
            }
            a
        });
        let next = G {
            state,
            since: ts,
            stack,
            assist,
            has_run: base.has_run || state == State::Running,
            // Still running as a GC worker: `leave` counted the time up to now.
            gc_since: base.gc_since.filter(|_| base.state == State::Running && state == State::Running).map(|_| ts),
            ..base
        };
        self.gs.insert(id, next);
    }

    /// Counts the interval `g` spent in its state, up to `ts`.
    fn leave(&mut self, g: &G, ts: u64) {
        let d = ts.saturating_sub(g.since);
        // As go tool trace: a goroutine's waits count from its first run in the trace on.
        // What the profilers themselves wait for (the tracer writing its buffers) is what
        // collecting cost, not the program's behaviour: counted apart.
        let profiler = self.names.is_profiler(g.stack);
        let waits = match g.state {
            State::Runnable => Some(&mut self.sched),
            State::Syscall => Some(&mut self.syscall),
            State::Waiting(Wait::Network) => Some(&mut self.network),
            State::Waiting(Wait::Sync) => Some(&mut self.sync),
            State::Running | State::Waiting(Wait::Other) => None,
        };
        match g.state {
            _ if !g.has_run && g.state != State::Running => {}
            _ if profiler && g.state != State::Running => {
                if let Some(w) = waits {
                    w.leave_out(d);
                }
            }
            State::Runnable => self.sched.add(d, g.stack),
            State::Running => {
                self.running_ns = self.running_ns.saturating_add(d);
                if let Some(s) = g.gc_since {
                    self.gc_worker_ns = self.gc_worker_ns.saturating_add(ts.saturating_sub(s));
                }
            }
            State::Syscall => self.syscall.add(d, g.stack),
            State::Waiting(Wait::Network) => self.network.add(d, g.stack),
            State::Waiting(Wait::Sync) => self.sync.add(d, g.stack),
            State::Waiting(Wait::Other) => {}
        }
        if g.regions > 0 && g.task != 0 {
            charge(&mut self.annotations, g.task, g.state, ts.saturating_sub(g.since.max(g.region_start)));
        }
    }

    fn destroy(&mut self, id: u64, ts: u64) {
        if let Some(g) = self.gs.remove(&id) {
            self.leave(&g, ts);
            self.count_alive(ts, -1);
        }
    }

    fn count_alive(&mut self, ts: u64, delta: i64) {
        self.alive = if delta < 0 { self.alive.saturating_sub(1) } else { self.alive + 1 };
        self.max_alive = self.max_alive.max(self.alive);
        let first = self.first_ts.unwrap_or(ts);
        let bucket = usize::try_from(ts.saturating_sub(first) / self.step.max(1)).unwrap_or(usize::MAX);
        let alive = self.alive;
        if let Some(n) = self.series.get_mut(bucket) {
            *n = (*n).max(alive);
        }
    }

    /// The goroutine count at the end, its maximum and its course.
    pub fn goroutine_counts(&self) -> Option<GoroutineCounts> {
        self.series.first()?;
        Some(GoroutineCounts { end: self.alive, max: self.max_alive, per_100ms: self.series.clone() })
    }

    pub fn annotations(&self) -> Option<AnnotationReport> {
        self.annotations.report(|n| self.names.name(n).to_string())
    }

    pub fn waits(&self) -> Blocking {
        Blocking {
            scheduler: self.sched.report(&self.names),
            syscall: self.syscall.report(&self.names),
            network: self.network.report(&self.names),
            sync: self.sync.report(&self.names),
            gc_assist: self.assist.report(&self.names),
        }
    }
}

fn charge(a: &mut Annotations, task: u64, state: State, d: u64) {
    a.charge(task, |b: &mut Breakdown| {
        let slot = match state {
            State::Running => &mut b.running_ns,
            State::Runnable => &mut b.runnable_ns,
            State::Syscall => &mut b.syscall_ns,
            State::Waiting(Wait::Network) => &mut b.network_ns,
            State::Waiting(Wait::Sync) => &mut b.sync_ns,
            State::Waiting(_) => &mut b.other_wait_ns,
        };
        *slot = slot.saturating_add(d);
    });
}

/// How many goroutines existed over the trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineCounts {
    /// Alive at the end of the trace.
    pub end: u64,
    pub max: u64,
    /// The most goroutines in each 100 ms of the trace.
    pub per_100ms: Vec<u64>,
}

/// Where goroutines waited, per category (absent when nothing of the kind happened).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocking {
    /// Runnable but not running: waiting for a P (what `go tool trace` calls scheduler latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<WaitReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<WaitReport>,
    /// Blocked on the network poller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<WaitReport>,
    /// Blocked on channels, select, sync.Mutex/WaitGroup/Cond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<WaitReport>,
    /// In GC mark assist (a goroutine that allocates paying for the collector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_assist: Option<WaitReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: u64, g: u64, kind: Kind) -> Rec {
        Rec { ts, g, a: 0, b: 0, kind }
    }

    #[test]
    fn runnable_syscall_and_wait_intervals_in_time_order_whatever_the_m_order() {
        let mut tl = Timeline::default();
        // Two Ms' events, the second M's batch first in the file.
        for r in [
            rec(150, 1, Kind::Start),
            rec(300, 1, Kind::SyscallBegin),
            rec(340, 1, Kind::SyscallEnd),
            rec(400, 1, Kind::Stop),
        ] {
            tl.push(r);
        }
        for r in [rec(100, 1, Kind::Create), rec(90, 2, Kind::Status), rec(470, 1, Kind::Start)] {
            tl.push(r);
        }
        tl.end_generation(&GenTables::default(), 1_000_000_000);
        let w = tl.waits();
        let s = w.scheduler.unwrap();
        assert_eq!(
            (s.count, s.total_ns),
            (1, 70),
            "preempted at 400, ran again at 470; the wait from creation to the first run is not counted, as in go tool trace"
        );
        assert_eq!(w.syscall.unwrap().total_ns, 40);
        assert_eq!(tl.running_ns, 150 + 60, "150..300 and 340..400");
        assert_eq!(tl.goroutine_counts().unwrap().max, 1, "g2's status 0 is not a state");
    }

    #[test]
    fn gc_worker_time_is_counted_once_across_a_repeated_start() {
        let mut tl = Timeline::default();
        let mut t = GenTables::default();
        let mut s = Vec::new();
        s.push(5); // EvString
        prost::encoding::encode_varint(1, &mut s);
        prost::encoding::encode_varint(14, &mut s);
        s.extend_from_slice(b"GC (dedicated)");
        t.read_strings(&s);
        let label = Rec { ts: 10, g: 1, a: 1, b: 0, kind: Kind::Label };
        for r in [rec(10, 1, Kind::Start), label, rec(30, 1, Kind::Start), rec(50, 1, Kind::Stop)] {
            tl.push(r);
        }
        tl.end_generation(&t, 1_000_000_000);
        assert_eq!(tl.gc_worker_ns, 40, "10..50 as a mark worker, not 10..30 twice plus 10..50");
        assert_eq!(tl.running_ns, 40);
    }

    #[test]
    fn an_unblock_seen_after_the_start_produces_no_sample() {
        let mut tl = Timeline::default();
        for r in [rec(10, 1, Kind::Start), rec(20, 1, Kind::Block), rec(50, 1, Kind::Start), rec(49, 1, Kind::Unblock)]
        {
            tl.push(r);
        }
        tl.end_generation(&GenTables::default(), 1_000_000_000);
        let s = tl.waits().scheduler.unwrap();
        assert_eq!((s.count, s.total_ns), (1, 1), "unblocked at 49, started at 50");
        let mut tl = Timeline::default();
        for r in [rec(10, 1, Kind::Start), rec(20, 1, Kind::Block), rec(50, 1, Kind::Start), rec(51, 1, Kind::Unblock)]
        {
            tl.push(r);
        }
        tl.end_generation(&GenTables::default(), 1_000_000_000);
        assert!(tl.waits().scheduler.is_none(), "a late unblock of a running goroutine is ignored");
    }
}
