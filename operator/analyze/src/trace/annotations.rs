//! The program's own annotations (`runtime/trace` tasks, regions and logs): per name the count
//! and the latency p50/p99/max, where the slowest task spent its time, and the log messages
//! per category. Bounded in names, open tasks and regions.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most distinct task or region names, and log categories, kept apart.
const MAX_KINDS: usize = 256;
/// Most tasks open at once that are followed.
pub const MAX_OPEN_TASKS: usize = 1 << 16;
/// Names listed in the report, most time first.
const LISTED: usize = 10;

/// Where a goroutine's time went, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub running_ns: u64,
    /// Runnable, waiting for a P (scheduler latency).
    pub runnable_ns: u64,
    pub syscall_ns: u64,
    pub network_ns: u64,
    /// Channels, select, sync.Mutex and friends.
    pub sync_ns: u64,
    /// Any other wait: sleep, GC, …
    pub other_wait_ns: u64,
}

impl Breakdown {
    /// The largest part, as a phrase: `"blocked on the network 81%"`.
    pub fn largest(&self) -> Option<String> {
        let parts = [
            ("running", self.running_ns),
            ("runnable (waiting for a P)", self.runnable_ns),
            ("in syscalls", self.syscall_ns),
            ("blocked on the network", self.network_ns),
            ("blocked on channels or locks", self.sync_ns),
            ("in other waits (sleep, GC, …)", self.other_wait_ns),
        ];
        let total: u64 = parts.iter().map(|p| p.1).sum();
        let (what, ns) = parts.iter().max_by_key(|p| p.1)?;
        (total > 0).then(|| format!("{what} {:.0}%", *ns as f64 * 100.0 / total as f64))
    }
}

struct Latencies {
    hist: Histogram<u64>,
    count: u64,
    max: u64,
    total: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static bounds are valid");
        Latencies { hist, count: 0, max: 0, total: 0 }
    }
}

impl Latencies {
    fn add(&mut self, ns: u64) {
        self.count += 1;
        self.max = self.max.max(ns);
        self.total = self.total.saturating_add(ns);
        self.hist.saturating_record(ns.max(1));
    }
}

struct OpenTask {
    name: u32,
    start: u64,
    time: Breakdown,
}

/// What the annotations of a trace add up to, while it is read.
#[derive(Default)]
pub struct Annotations {
    open: HashMap<u64, OpenTask>,
    tasks: HashMap<u32, (Latencies, Option<(u64, Breakdown)>)>,
    regions: HashMap<u32, Latencies>,
    logs: HashMap<(u32, u32), (u64, String)>,
    pub dropped: u64,
}

impl Annotations {
    pub fn task_begin(&mut self, id: u64, name: u32, t: u64) {
        if self.open.len() >= MAX_OPEN_TASKS && !self.open.contains_key(&id) {
            self.dropped += 1;
            return;
        }
        self.open.insert(id, OpenTask { name, start: t, time: Breakdown::default() });
    }

    /// Ends a task; one whose beginning came before the trace is not counted (its length is
    /// unknown).
    pub fn task_end(&mut self, id: u64, t: u64) {
        let Some(task) = self.open.remove(&id) else { return };
        let len = t.saturating_sub(task.start);
        if self.tasks.len() >= MAX_KINDS && !self.tasks.contains_key(&task.name) {
            self.dropped += 1;
            return;
        }
        let (lat, slowest) = self.tasks.entry(task.name).or_default();
        lat.add(len);
        if slowest.is_none_or(|(l, _)| len > l) {
            *slowest = Some((len, task.time));
        }
    }

    /// The name of an open task.
    pub fn task_name(&self, id: u64) -> Option<u32> {
        self.open.get(&id).map(|t| t.name)
    }

    /// Adds time a goroutine spent in a region of task `id` to that task.
    pub fn charge(&mut self, id: u64, f: impl FnOnce(&mut Breakdown)) {
        if let Some(t) = self.open.get_mut(&id) {
            f(&mut t.time);
        }
    }

    pub fn region(&mut self, name: u32, len: u64) {
        if self.regions.len() >= MAX_KINDS && !self.regions.contains_key(&name) {
            self.dropped += 1;
            return;
        }
        self.regions.entry(name).or_default().add(len);
    }

    pub fn log(&mut self, category: u32, key: u32, message: &str) {
        if self.logs.len() >= MAX_KINDS && !self.logs.contains_key(&(category, key)) {
            self.dropped += 1;
            return;
        }
        let e = self.logs.entry((category, key)).or_default();
        e.0 += 1;
        e.1 = crate::text::clip(message, 120);
    }

    pub fn report(&self, name: impl Fn(u32) -> String) -> Option<AnnotationReport> {
        if self.tasks.is_empty() && self.regions.is_empty() && self.logs.is_empty() {
            return None;
        }
        let stats = |n: u32, l: &Latencies| Latency {
            name: name(n),
            count: l.count,
            p50_ns: l.hist.value_at_quantile(0.5).min(l.max),
            p99_ns: l.hist.value_at_quantile(0.99).min(l.max),
            max_ns: l.max,
            total_ns: l.total,
        };
        let mut tasks: Vec<TaskLatency> = self
            .tasks
            .iter()
            .map(|(n, (l, slow))| TaskLatency { latency: stats(*n, l), slowest: slow.map(|s| s.1) })
            .collect();
        tasks.sort_by(|a, b| {
            b.latency.total_ns.cmp(&a.latency.total_ns).then_with(|| a.latency.name.cmp(&b.latency.name))
        });
        tasks.truncate(LISTED);
        let mut regions: Vec<Latency> = self.regions.iter().map(|(n, l)| stats(*n, l)).collect();
        regions.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then_with(|| a.name.cmp(&b.name)));
        regions.truncate(LISTED);
        let mut logs: Vec<LogCount> = self
            .logs
            .iter()
            .map(|((c, k), (n, m))| LogCount { category: name(*c), key: name(*k), count: *n, last: m.clone() })
            .collect();
        logs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.category.cmp(&b.category)));
        logs.truncate(LISTED);
        Some(AnnotationReport { tasks, regions, logs })
    }
}

/// The program's `runtime/trace` annotations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationReport {
    /// Task types that ended during the trace, most total time first.
    pub tasks: Vec<TaskLatency>,
    /// Region types that ended during the trace, most total time first.
    pub regions: Vec<Latency>,
    /// Log messages per category (the task's name) and key, most first; the last message.
    pub logs: Vec<LogCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub name: String,
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    pub total_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLatency {
    #[serde(flatten)]
    pub latency: Latency,
    /// Where the slowest task of this type spent its goroutines' time (inside its regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest: Option<Breakdown>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogCount {
    pub category: String,
    pub key: String,
    pub count: u64,
    pub last: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_regions_and_logs_add_up_by_name() {
        let mut a = Annotations::default();
        a.task_begin(1, 7, 100);
        a.task_begin(2, 7, 100);
        a.charge(2, |b| b.network_ns += 900);
        a.charge(2, |b| b.running_ns += 100);
        a.task_end(1, 200);
        a.task_end(2, 1100);
        a.task_end(3, 50); // began before the trace
        a.region(8, 40);
        a.log(7, 9, "cache miss");
        a.log(7, 9, "cache hit");
        let r = a.report(|n| format!("n{n}")).unwrap();
        assert_eq!(r.tasks.len(), 1);
        let t = &r.tasks[0];
        assert_eq!((t.latency.name.as_str(), t.latency.count, t.latency.max_ns), ("n7", 2, 1000));
        assert_eq!(t.slowest.unwrap().largest().as_deref(), Some("blocked on the network 90%"));
        assert_eq!((r.regions[0].count, r.regions[0].max_ns), (1, 40));
        assert_eq!((r.logs[0].count, r.logs[0].last.as_str()), (2, "cache hit"));
        assert!(Annotations::default().report(|_| String::new()).is_none());
    }
}
