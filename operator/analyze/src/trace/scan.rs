//! A single pass over the batches of a Go 1.22+ execution trace. Per M it aggregates what a
//! per-M view gives exactly: creations, GC cycles, stop-the-world and syscall intervals, heap
//! sizes, and the time each P spends started on an M. Goroutine events, with the goroutine each
//! concerns resolved from its M's context, go to the [`Timeline`] one generation at a time,
//! together with that generation's string and stack tables; it puts them in time order.

use super::tables::GenTables;
use super::timeline::{Kind, Rec, Timeline};
use crate::AnalyzeError;
use crate::wire::read_varint;
use std::collections::{BTreeSet, HashMap};

// Event types (internal/trace/tracev2/events.go).
const EV_EVENT_BATCH: u8 = 1;
const EV_STACKS: u8 = 2;
const EV_STRINGS: u8 = 4;
const EV_CPU_SAMPLES: u8 = 6;
const EV_FREQUENCY: u8 = 8;
const EV_PROCS_CHANGE: u8 = 9;
const EV_PROC_START: u8 = 10;
const EV_PROC_STOP: u8 = 11;
const EV_PROC_STEAL: u8 = 12;
const EV_PROC_STATUS: u8 = 13;
const EV_GO_CREATE: u8 = 14;
const EV_GO_CREATE_SYSCALL: u8 = 15;
const EV_GO_START: u8 = 16;
const EV_GO_DESTROY: u8 = 17;
const EV_GO_DESTROY_SYSCALL: u8 = 18;
const EV_GO_STOP: u8 = 19;
const EV_GO_BLOCK: u8 = 20;
const EV_GO_UNBLOCK: u8 = 21;
const EV_GO_SYSCALL_BEGIN: u8 = 22;
const EV_GO_SYSCALL_END: u8 = 23;
const EV_GO_SYSCALL_END_BLOCKED: u8 = 24;
const EV_GO_STATUS: u8 = 25;
const EV_STW_BEGIN: u8 = 26;
const EV_STW_END: u8 = 27;
const EV_GC_BEGIN: u8 = 29;
const EV_GC_MARK_ASSIST_ACTIVE: u8 = 34;
const EV_GC_MARK_ASSIST_BEGIN: u8 = 35;
const EV_GC_MARK_ASSIST_END: u8 = 36;
const EV_HEAP_ALLOC: u8 = 37;
const EV_HEAP_GOAL: u8 = 38;
const EV_GO_LABEL: u8 = 39;
const EV_USER_TASK_BEGIN: u8 = 40;
const EV_USER_TASK_END: u8 = 41;
const EV_USER_REGION_BEGIN: u8 = 42;
const EV_USER_REGION_END: u8 = 43;
const EV_USER_LOG: u8 = 44;
const EV_GO_SWITCH: u8 = 45;
const EV_GO_SWITCH_DESTROY: u8 = 46;
const EV_GO_CREATE_BLOCKED: u8 = 47;
const EV_GO_STATUS_STACK: u8 = 48;
const EV_EXPERIMENTAL_BATCH: u8 = 49;
const EV_SYNC: u8 = 50;
const EV_CLOCK_SNAPSHOT: u8 = 51;
const EV_END_OF_GENERATION: u8 = 52;

/// Largest batch the runtime writes (tracev2.MaxBatchSize).
const MAX_BATCH: u64 = 64 << 10;

/// Argument counts (including the leading timestamp delta) of the timed events, by type.
/// 0 means "not a timed event".
const ARGS: [u8; 53] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, // 0..=8 structural
    3, 3, 1, 4, 3, // 9 ProcsChange, ProcStart, ProcStop, ProcSteal, ProcStatus
    4, 2, 3, 1, 1, 3, 3, 4, 3, 1, 1, 4, // 14 GoCreate .. 25 GoStatus
    3, 1, // 26 STWBegin, STWEnd
    2, 3, 2, 2, 2, 3, 2, 2, 1, 2, 2, // 28 GCActive .. 38 HeapGoal
    2, 5, 3, 4, 4, 5, // 39 GoLabel .. 44 UserLog
    3, 3, 4, 5, // 45 GoSwitch, GoSwitchDestroy, GoCreateBlocked, GoStatusStack (1.23+)
    0, 0, // 49 ExperimentalBatch, 50 Sync
    4, // 51 ClockSnapshot (1.25+)
    0, // 52 EndOfGeneration
];

/// Highest timed event type valid in a version.
fn max_event(ver: u32) -> u8 {
    match ver {
        22 => 44,
        23 => 48,
        _ => 51,
    }
}

/// Raw aggregates in trace clock ticks.
#[derive(Default)]
pub struct Scan {
    pub freq: u64,
    pub min_ts: Option<u64>,
    pub max_ts: u64,
    pub goroutines_created: u64,
    pub gc_count: u64,
    pub stw_count: u64,
    pub stw_total: u64,
    pub stw_max: u64,
    pub syscall_count: u64,
    pub syscall_total: u64,
    pub gomaxprocs: Option<u64>,
    /// Busy ticks per P id.
    pub proc_busy: HashMap<u64, u64>,
    pub generations: usize,
    pub batches: u64,
    /// Batches skipped because they held an event this scanner cannot size.
    pub skipped_batches: u64,
    /// Set when the stream ended early or broke (what came before is still counted).
    pub stopped_early: Option<String>,
    /// Events about a P or M beyond the first [`MAX_TRACKED`] (a Go program has at most a few
    /// thousand of each): counted nowhere, so a trace declaring millions cannot grow the maps.
    pub untracked: u64,
    /// The largest heap (`HeapAlloc`, bytes) the trace recorded, and the last heap goal.
    pub heap_alloc_max: Option<u64>,
    pub heap_goal_last: Option<(u64, u64)>,
    /// Goroutine states over time, fed generation by generation.
    pub timeline: Timeline,
    /// String and stack entries dropped because a generation's tables were full.
    pub table_dropped: u64,
}

/// Most distinct Ps, and most Ms with an open interval, that the scanner keeps state for.
pub const MAX_TRACKED: usize = 1 << 16;

/// Inserts unless the map is full and the key new; `false` when the event was not tracked.
fn track<V>(map: &mut HashMap<u64, V>, key: u64, value: V, s: &mut Scan) -> bool {
    if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
        s.untracked += 1;
        return false;
    }
    map.insert(key, value);
    true
}

#[derive(Default)]
struct Open {
    stw: HashMap<u64, u64>,
    sys: HashMap<u64, u64>,
    proc_: HashMap<u64, (u64, u64)>,
    /// The goroutine running on each M (what Go's parser calls the M's context).
    cur_g: HashMap<u64, u64>,
}

/// Scans the batches after the header.
pub fn scan(data: &[u8], ver: u32) -> Result<Scan, AnalyzeError> {
    let mut s = Scan::default();
    let mut open = Open::default();
    let mut gens: BTreeSet<u64> = BTreeSet::new();
    let mut tables = GenTables::default();
    let mut cur_gen: Option<u64> = None;
    let mut pos = super::header::HEADER_LEN;
    while pos < data.len() {
        let kind = data[pos];
        pos += 1;
        if kind == EV_END_OF_GENERATION && ver >= 26 {
            continue;
        }
        let experimental = kind == EV_EXPERIMENTAL_BATCH && ver >= 23;
        if kind != EV_EVENT_BATCH && !experimental {
            s.stopped_early = Some(format!("expected a batch at offset {}, found byte {kind}", pos - 1));
            break;
        }
        if experimental {
            if pos >= data.len() {
                s.stopped_early = Some("truncated experimental batch header".into());
                break;
            }
            pos += 1;
        }
        let (Some(gen_), Some(m), Some(ts), Some(size)) = (
            read_varint(data, &mut pos),
            read_varint(data, &mut pos),
            read_varint(data, &mut pos),
            read_varint(data, &mut pos),
        ) else {
            s.stopped_early = Some(format!("truncated batch header at offset {pos}"));
            break;
        };
        if size > MAX_BATCH {
            s.stopped_early = Some(format!("batch size {size} exceeds the format's maximum {MAX_BATCH}"));
            break;
        }
        let size = size as usize;
        if data.len() - pos < size {
            s.stopped_early = Some(format!("trace truncated inside a batch at offset {pos}"));
            break;
        }
        let batch = &data[pos..pos + size];
        pos += size;
        s.batches += 1;
        if gens.len() < 1 << 16 {
            gens.insert(gen_);
        }
        // A generation's batches are written before the next one's: the first batch of a new
        // generation ends the previous one (its strings and stacks are complete).
        if cur_gen.is_some_and(|g| g != gen_) {
            s.timeline.end_generation(&tables, s.freq);
            s.table_dropped += tables.dropped;
            tables = GenTables::default();
        }
        cur_gen = Some(gen_);
        if experimental || batch.is_empty() {
            continue;
        }
        match batch[0] {
            EV_STRINGS => tables.read_strings(&batch[1..]),
            EV_STACKS => tables.read_stacks(&batch[1..]),
            EV_CPU_SAMPLES => {}
            EV_SYNC if ver >= 25 => sync_batch(&batch[1..], &mut s),
            EV_FREQUENCY if ver < 25 => {
                let mut p = 1;
                if let Some(f) = read_varint(batch, &mut p) {
                    s.freq = f;
                }
            }
            _ => event_batch(batch, ts, m, ver, &mut s, &mut open),
        }
    }
    s.timeline.end_generation(&tables, s.freq);
    s.table_dropped += tables.dropped;
    if s.batches == 0 {
        return Err(AnalyzeError::MalformedTrace(
            s.stopped_early.take().unwrap_or_else(|| "no event batches after the header".into()),
        ));
    }
    // Intervals still open at the end of the trace last until its end.
    let end = s.max_ts;
    for (_, start) in open.stw.drain() {
        add_stw(&mut s, end.saturating_sub(start));
    }
    for (_, start) in open.sys.drain() {
        s.syscall_total = s.syscall_total.saturating_add(end.saturating_sub(start));
    }
    for (_, (p, start)) in open.proc_.drain() {
        add_busy(&mut s, p, end.saturating_sub(start));
    }
    s.generations = gens.len();
    Ok(s)
}

fn sync_batch(b: &[u8], s: &mut Scan) {
    let mut p = 0;
    while p < b.len() {
        let t = b[p];
        p += 1;
        match t {
            EV_FREQUENCY => match read_varint(b, &mut p) {
                Some(f) => s.freq = f,
                None => return,
            },
            EV_CLOCK_SNAPSHOT => {
                for _ in 0..4 {
                    if read_varint(b, &mut p).is_none() {
                        return;
                    }
                }
            }
            _ => return,
        }
    }
}

fn add_stw(s: &mut Scan, d: u64) {
    s.stw_count += 1;
    s.stw_total = s.stw_total.saturating_add(d);
    s.stw_max = s.stw_max.max(d);
}

fn add_busy(s: &mut Scan, p: u64, d: u64) {
    if let Some(e) = s.proc_busy.get_mut(&p) {
        *e = e.saturating_add(d);
    } else if s.proc_busy.len() < MAX_TRACKED {
        s.proc_busy.insert(p, d);
    } else {
        s.untracked += 1;
    }
}

fn close_proc(s: &mut Scan, open: &mut Open, m: u64, t: u64) {
    if let Some((p, start)) = open.proc_.remove(&m) {
        add_busy(s, p, t.saturating_sub(start));
    }
}

fn event_batch(b: &[u8], base: u64, m: u64, ver: u32, s: &mut Scan, open: &mut Open) {
    let mut p = 0;
    let mut t = base;
    let maxev = max_event(ver);
    let mut args = [0u64; 5];
    while p < b.len() {
        let typ = b[p];
        let n = if typ <= maxev { ARGS[typ as usize] as usize } else { 0 };
        if n == 0 {
            // An event we cannot size: the rest of this batch is unreadable, the next one is fine.
            s.skipped_batches += 1;
            return;
        }
        p += 1;
        for a in args.iter_mut().take(n) {
            match read_varint(b, &mut p) {
                Some(v) => *a = v,
                None => {
                    s.skipped_batches += 1;
                    return;
                }
            }
        }
        t = t.saturating_add(args[0]);
        s.min_ts = Some(s.min_ts.map_or(t, |x| x.min(t)));
        s.max_ts = s.max_ts.max(t);
        goroutine_event(typ, &args, t, m, s, open);
        match typ {
            EV_GO_CREATE | EV_GO_CREATE_SYSCALL | EV_GO_CREATE_BLOCKED => s.goroutines_created += 1,
            EV_GC_BEGIN => s.gc_count += 1,
            EV_STW_BEGIN => {
                track(&mut open.stw, m, t, s);
            }
            EV_STW_END => {
                if let Some(start) = open.stw.remove(&m) {
                    add_stw(s, t.saturating_sub(start));
                }
            }
            EV_GO_SYSCALL_BEGIN => {
                track(&mut open.sys, m, t, s);
            }
            EV_GO_SYSCALL_END | EV_GO_SYSCALL_END_BLOCKED => {
                if let Some(start) = open.sys.remove(&m) {
                    s.syscall_count += 1;
                    s.syscall_total = s.syscall_total.saturating_add(t.saturating_sub(start));
                }
            }
            EV_PROCS_CHANGE => s.gomaxprocs = Some(args[1]),
            EV_HEAP_ALLOC => s.heap_alloc_max = Some(s.heap_alloc_max.unwrap_or(0).max(args[1])),
            EV_HEAP_GOAL if s.heap_goal_last.is_none_or(|(at, _)| t >= at) => s.heap_goal_last = Some((t, args[1])),
            EV_PROC_START => {
                close_proc(s, open, m, t);
                track(&mut open.proc_, m, (args[1], t), s);
            }
            EV_PROC_STOP => close_proc(s, open, m, t),
            EV_PROC_STEAL => {
                let victim = args[3];
                if open.proc_.get(&victim).is_some_and(|&(pid, _)| pid == args[1]) {
                    close_proc(s, open, victim, t);
                }
            }
            // 1 = running, 3 = in a syscall: the P is attached to this M.
            EV_PROC_STATUS if (args[2] == 1 || args[2] == 3) && !open.proc_.contains_key(&m) => {
                track(&mut open.proc_, m, (args[1], t), s);
            }
            _ => {}
        }
    }
}

/// Hands a goroutine event to the timeline, resolving "the goroutine running on this M" from
/// the M's context, which this M's own earlier events set.
fn goroutine_event(typ: u8, args: &[u64; 5], t: u64, m: u64, s: &mut Scan, open: &mut Open) {
    let cur = open.cur_g.get(&m).copied().unwrap_or(0);
    macro_rules! push {
        ($kind:expr, $g:expr, $a:expr, $b:expr) => {
            s.timeline.push(Rec { ts: t, g: $g, a: $a, b: $b, kind: $kind })
        };
    }
    match typ {
        EV_GO_CREATE => push!(Kind::Create, args[1], args[3], 0),
        EV_GO_CREATE_BLOCKED => push!(Kind::CreateBlocked, args[1], 0, 0),
        EV_GO_CREATE_SYSCALL => {
            push!(Kind::CreateSyscall, args[1], 0, 0);
            bind(open, m, args[1], s);
        }
        EV_GO_START => {
            push!(Kind::Start, args[1], 0, 0);
            bind(open, m, args[1], s);
        }
        EV_GO_DESTROY | EV_GO_DESTROY_SYSCALL if cur != 0 => {
            push!(Kind::Destroy, cur, 0, 0);
            open.cur_g.remove(&m);
        }
        EV_GO_STOP if cur != 0 => {
            push!(Kind::Stop, cur, args[1], args[2]);
            open.cur_g.remove(&m);
        }
        EV_GO_BLOCK if cur != 0 => {
            push!(Kind::Block, cur, args[1], args[2]);
            open.cur_g.remove(&m);
        }
        EV_GO_UNBLOCK => push!(Kind::Unblock, args[1], args[3], 0),
        EV_GO_SYSCALL_BEGIN if cur != 0 => push!(Kind::SyscallBegin, cur, args[2], 0),
        EV_GO_SYSCALL_END if cur != 0 => push!(Kind::SyscallEnd, cur, 0, 0),
        EV_GO_SYSCALL_END_BLOCKED if cur != 0 => {
            push!(Kind::SyscallEndBlocked, cur, 0, 0);
            open.cur_g.remove(&m);
        }
        EV_GO_STATUS | EV_GO_STATUS_STACK => {
            let (g, on_m, status) = (args[1], args[2], args[3]);
            push!(Kind::Status, g, status, 0);
            // Running: bound to this M. In a syscall: bound to the M it names.
            match status {
                2 => bind(open, m, g, s),
                3 => bind(open, on_m, g, s),
                _ => {}
            }
        }
        EV_GO_SWITCH | EV_GO_SWITCH_DESTROY if cur != 0 => {
            // A coroutine switch: the named goroutine is woken and runs here at once.
            push!(Kind::Unblock, args[1], 0, 0);
            if typ == EV_GO_SWITCH {
                push!(Kind::Block, cur, 0, 0);
            } else {
                push!(Kind::Destroy, cur, 0, 0);
            }
            push!(Kind::Start, args[1], 0, 0);
            bind(open, m, args[1], s);
        }
        EV_GC_MARK_ASSIST_ACTIVE => push!(Kind::AssistBegin, args[1], 0, 0),
        EV_GC_MARK_ASSIST_BEGIN if cur != 0 => push!(Kind::AssistBegin, cur, args[1], 0),
        EV_GC_MARK_ASSIST_END if cur != 0 => push!(Kind::AssistEnd, cur, 0, 0),
        EV_GO_LABEL if cur != 0 => push!(Kind::Label, cur, args[1], 0),
        EV_USER_TASK_BEGIN => push!(Kind::TaskBegin, args[1], args[3], 0),
        EV_USER_TASK_END => push!(Kind::TaskEnd, args[1], 0, 0),
        EV_USER_REGION_BEGIN if cur != 0 => push!(Kind::RegionBegin, cur, args[1], args[2]),
        EV_USER_REGION_END if cur != 0 => push!(Kind::RegionEnd, cur, args[1], args[2]),
        EV_USER_LOG => push!(Kind::Log, args[1], args[2], args[3]),
        _ => {}
    }
}

fn bind(open: &mut Open, m: u64, g: u64, s: &mut Scan) {
    track(&mut open.cur_g, m, g, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's uvarints are protobuf's base-128 varints.
    fn uvarint(v: u64, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(v, out);
    }

    /// One event: its type and its arguments (the first argument is the time delta).
    type Event<'a> = (u8, &'a [u64]);

    /// A trace: the Go 1.26 header, then one event batch per `(m, base time, events)`.
    fn trace(batches: &[(u64, u64, &[Event])]) -> Vec<u8> {
        let mut out = b"go 1.26 trace\0\0\0".to_vec();
        for (m, ts, events) in batches {
            let mut body = Vec::new();
            for (typ, args) in *events {
                body.push(*typ);
                for a in *args {
                    uvarint(*a, &mut body);
                }
            }
            out.push(EV_EVENT_BATCH);
            for v in [1, *m, *ts, body.len() as u64] {
                uvarint(v, &mut out);
            }
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn counts_creations_gc_stw_syscalls_and_p_time_per_m() {
        let data = trace(&[
            (
                1,
                100,
                &[
                    (EV_PROC_START, &[0, 0, 1]),
                    (EV_GO_CREATE, &[10, 7, 1, 1]),
                    (EV_GC_BEGIN, &[5, 1, 1]),
                    (EV_STW_BEGIN, &[5, 1, 1]),
                    (EV_STW_END, &[20]),
                    (EV_PROC_STOP, &[60]),
                ],
            ),
            (2, 100, &[(EV_GO_SYSCALL_BEGIN, &[0, 1, 1]), (EV_GO_SYSCALL_END, &[30])]),
        ]);
        let s = scan(&data, 26).unwrap();
        assert_eq!((s.batches, s.goroutines_created, s.gc_count), (2, 1, 1));
        assert_eq!((s.stw_count, s.stw_total, s.stw_max), (1, 20, 20));
        assert_eq!((s.syscall_count, s.syscall_total), (1, 30));
        assert_eq!(s.proc_busy.get(&0), Some(&100), "P 0 ran from t=100 to t=200 on M 1");
        assert_eq!((s.min_ts, s.max_ts), (Some(100), 200));
        assert!(s.stopped_early.is_none());
    }

    #[test]
    fn a_broken_tail_keeps_what_came_before() {
        let mut data = trace(&[(1, 0, &[(EV_GO_CREATE, &[1, 2, 1, 1])])]);
        data.push(0xee);
        let s = scan(&data, 26).unwrap();
        assert_eq!(s.goroutines_created, 1);
        assert!(s.stopped_early.as_deref().unwrap().starts_with("expected a batch"), "{:?}", s.stopped_early);
    }

    #[test]
    fn an_event_it_cannot_size_skips_the_rest_of_its_batch_only() {
        let data =
            trace(&[(1, 0, &[(0x7f, &[]), (EV_GO_CREATE, &[1, 2, 1, 1])]), (2, 0, &[(EV_GC_BEGIN, &[1, 1, 1])])]);
        let s = scan(&data, 26).unwrap();
        assert_eq!((s.skipped_batches, s.goroutines_created, s.gc_count), (1, 0, 1));
    }

    #[test]
    fn oversized_or_missing_batches_are_errors_or_stops_not_panics() {
        let mut huge = b"go 1.26 trace\0\0\0".to_vec();
        huge.push(EV_EVENT_BATCH);
        for v in [1, 1, 0, MAX_BATCH + 1] {
            uvarint(v, &mut huge);
        }
        let Err(err) = scan(&huge, 26) else { panic!("an oversized batch is an error") };
        assert!(err.to_string().contains("exceeds the format's maximum"), "{err}");
        let Err(err) = scan(b"go 1.26 trace\0\0\0", 26) else { panic!("no batches is an error") };
        assert!(err.to_string().contains("no event batches"), "{err}");
    }
}
