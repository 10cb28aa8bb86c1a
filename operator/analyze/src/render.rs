//! Human-readable text for `godiag analyze --format text`.

use crate::findings::{Finding, percent};
use crate::frames::short_name;
use crate::units;
use crate::{Analysis, GoroutineReport, PprofReport, TraceReport};
use std::fmt::Write;

pub fn text(a: &Analysis) -> String {
    match a {
        Analysis::Pprof(r) => pprof(r),
        Analysis::Goroutines(r) => goroutines(r),
        Analysis::Trace(r) => trace(r),
    }
}

fn findings(out: &mut String, f: &[Finding]) {
    if f.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nFindings:");
    for x in f {
        let _ = writeln!(out, "  [{:?}] {}: {}", x.severity, x.rule.reason(), x.message);
        for e in &x.evidence {
            let _ = writeln!(out, "      {e}");
        }
    }
}

fn pprof(r: &PprofReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Profile: {}", r.profile);
    if let Some(d) = r.duration_ns.filter(|d| *d > 0) {
        // pprof's "Duration: 10s, Total samples = 1.20s (12.00%)" line, for time-valued profiles.
        let share =
            if r.unit == "nanoseconds" { format!(" ({}%)", units::fixed2(percent(r.total, d))) } else { String::new() };
        let _ = writeln!(
            o,
            "Duration: {}, Total samples = {}{share}",
            units::nanoseconds(d),
            units::scaled(r.total, &r.unit)
        );
    }
    let _ = writeln!(o, "Sample type: {} ({}), total {}", r.sample_type, r.unit, units::scaled(r.total, &r.unit));
    for t in &r.sample_types {
        let _ = writeln!(o, "  {:<16} {}", t.name, units::scaled(t.total, &t.unit));
    }
    if let Some(n) = &r.note {
        let _ = writeln!(o, "Note: {n}");
    }
    if !r.functions.is_empty() {
        let _ = writeln!(o, "\n{:>12} {:>7} {:>7} {:>12} {:>7}  function", "flat", "flat%", "sum%", "cum", "cum%");
        let mut sum = 0i64;
        for f in &r.functions {
            sum = sum.saturating_add(f.flat);
            let _ = writeln!(
                o,
                "{:>12} {:>6.2}% {:>6.2}% {:>12} {:>6.2}%  {}",
                units::scaled(f.flat, &r.unit),
                percent(f.flat, r.total),
                percent(sum, r.total),
                units::scaled(f.cum, &r.unit),
                percent(f.cum, r.total),
                f.name
            );
        }
    }
    if !r.own_code.is_empty() {
        let _ = writeln!(o, "\nThe program's code (each sample charged to the innermost function of the program):");
        let _ = writeln!(o, "{:>12} {:>7}  function", "value", "share");
        for f in &r.own_code {
            let label = match &f.leaf {
                Some(l) => format!("{} → {} ({})", f.name, short_name(l), units::scaled(f.leaf_value, &r.unit)),
                None => f.name.clone(),
            };
            let _ =
                writeln!(o, "{:>12} {:>6.2}%  {label}", units::scaled(f.value, &r.unit), percent(f.value, r.own_total));
        }
        if r.profiling > 0 {
            let _ = writeln!(
                o,
                "Left out: {} ({:.1}%) taken inside the profilers (runtime/pprof, runtime/trace, net/http/pprof)",
                units::scaled(r.profiling, &r.unit),
                percent(r.profiling, r.own_total.saturating_add(r.profiling))
            );
        }
    }
    findings(&mut o, &r.findings);
    o
}

fn goroutines(r: &GoroutineReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Goroutines: {} ({} groups, source: {})", r.total, r.distinct_groups, r.source.as_str());
    if r.leaked > 0 {
        let _ = writeln!(o, "Leaked (runtime): {}", r.leaked);
    }
    if let Some(n) = &r.note {
        let _ = writeln!(o, "Note: {n}");
    }
    if !r.by_state.is_empty() {
        let _ = writeln!(o, "\nBy state:");
        let mut v: Vec<_> = r.by_state.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        for (s, n) in v {
            let _ = writeln!(o, "  {n:>8}  {s}");
        }
    }
    let _ = writeln!(o, "\nLargest groups:");
    for g in &r.groups {
        let wait =
            if g.max_wait_minutes > 0 { format!(", up to {} minutes", g.max_wait_minutes) } else { String::new() };
        let _ = writeln!(o, "  {} × [{}{}]", g.count, g.state, wait);
        for f in g.stack.iter().take(8) {
            let _ = writeln!(o, "        {f}");
        }
        if let Some(c) = &g.created_by {
            let _ = writeln!(o, "        created by {c}");
        }
    }
    findings(&mut o, &r.findings);
    o
}

fn trace(r: &TraceReport) -> String {
    let mut o = String::new();
    let ms = |ns: u64| ns as f64 / 1e6;
    let _ = writeln!(o, "Execution trace ({} format), {}", r.version, units::nanoseconds(r.duration_ns as i64));
    let _ = writeln!(o, "  goroutines created: {}", r.goroutines_created);
    let _ = writeln!(o, "  GC cycles:          {}", r.gc_count);
    let _ = writeln!(
        o,
        "  stop-the-world:     {} pauses, {:.3} ms total, {:.3} ms longest",
        r.stw_count,
        ms(r.stw_total_ns),
        ms(r.stw_max_ns)
    );
    match &r.blocking.syscall {
        Some(w) if w.left_out_count > 0 => {
            let _ = writeln!(
                o,
                "  syscalls:           {} ({}), and {} ({}) of the profilers' own",
                w.count,
                units::nanoseconds_u64(w.total_ns),
                w.left_out_count,
                units::nanoseconds_u64(w.left_out_ns)
            );
        }
        _ => {
            let _ = writeln!(o, "  syscalls:           {} ({:.3} ms)", r.syscall_count, ms(r.syscall_ns));
        }
    }
    if let Some(g) = r.gomaxprocs {
        let _ = writeln!(o, "  GOMAXPROCS:         {g}");
    }
    if let Some(pct) = r.gc_cpu_percent {
        let _ = writeln!(o, "  GC CPU:             {pct:.1}% (mark workers, assists, stop-the-world)");
    }
    if let (Some(peak), Some(goal)) = (r.heap_alloc_max_bytes, r.heap_goal_bytes) {
        let _ =
            writeln!(o, "  heap:               peak {}, next GC at {}", units::bytes_u64(peak), units::bytes_u64(goal));
    }
    if let Some(g) = &r.goroutines {
        let _ = writeln!(o, "  goroutines alive:   max {}, {} at the end", g.max, g.end);
    }
    let _ = writeln!(o, "  per-P utilisation:");
    for p in &r.proc_utilization {
        let _ = writeln!(o, "    P{:<4} {:>6.1}%  ({:.3} ms busy)", p.p, p.utilization * 100.0, ms(p.busy_ns));
    }
    let b = &r.blocking;
    for (title, w) in [
        ("Scheduler latency (runnable → running, as go tool trace -pprof=sched)", &b.scheduler),
        ("In syscalls (go tool trace -pprof=syscall)", &b.syscall),
        ("Blocked on the network (go tool trace -pprof=net)", &b.network),
        ("Blocked on channels, select and sync (go tool trace -pprof=sync)", &b.sync),
        ("GC mark assist", &b.gc_assist),
    ] {
        let Some(w) = w.as_ref().filter(|w| w.count > 0) else { continue };
        let _ = writeln!(
            o,
            "{title}: {} intervals, {} total; p50 {}, p99 {}, max {}",
            w.count,
            units::nanoseconds_u64(w.total_ns),
            units::nanoseconds_u64(w.p50_ns),
            units::nanoseconds_u64(w.p99_ns),
            units::nanoseconds_u64(w.max_ns)
        );
        for t in &w.top {
            let _ = writeln!(
                o,
                "  {:>9} {:>7}x  max {:>9}  {}",
                units::nanoseconds_u64(t.total_ns),
                t.count,
                units::nanoseconds_u64(t.max_ns),
                t.who()
            );
        }
    }
    if let Some(a) = &r.annotations {
        for t in &a.tasks {
            let l = &t.latency;
            let _ = writeln!(
                o,
                "Task {:?}: {} ended; p50 {}, p99 {}, max {}",
                l.name,
                l.count,
                units::nanoseconds_u64(l.p50_ns),
                units::nanoseconds_u64(l.p99_ns),
                units::nanoseconds_u64(l.max_ns)
            );
            if let Some(where_) = t.slowest.as_ref().and_then(|b| b.largest()) {
                let _ = writeln!(o, "  the slowest spent its time {where_}");
            }
        }
        for l in &a.regions {
            let _ = writeln!(
                o,
                "Region {:?}: {} ended; p50 {}, p99 {}, max {}",
                l.name,
                l.count,
                units::nanoseconds_u64(l.p50_ns),
                units::nanoseconds_u64(l.p99_ns),
                units::nanoseconds_u64(l.max_ns)
            );
        }
        for l in &a.logs {
            let _ = writeln!(o, "Log {}/{}: {} messages, last {:?}", l.category, l.key, l.count, l.last);
        }
    }
    if let Some(n) = &r.note {
        let _ = writeln!(o, "Note: {n}");
    }
    findings(&mut o, &r.findings);
    o
}

/// A comparison with siblings (or older profiles), as `godiag analyze --base` prints it.
pub fn comparison(c: &crate::compare::Comparison) -> String {
    use crate::compare::Normalization;
    let mut o = String::new();
    let _ = writeln!(o, "\nCompared with {} base(s): {}", c.siblings.len(), c.siblings.join(", "));
    for p in &c.profiles {
        let value = |v: f64| match p.normalization {
            Normalization::CpuShare => format!("{v:.2}"),
            Normalization::ShareOfTotal => units::scaled(v.round() as i64, &p.unit),
        };
        let _ = writeln!(
            o,
            "\n{} ({}): {} here, {} on average in the base(s)\n  compared: {}",
            p.kind,
            p.sample_type,
            value(p.target_total),
            value(p.siblings_total),
            p.normalization.describe()
        );
        let _ = writeln!(o, "{:>8} {:>8} {:>8} {:>10} {:>10}  function", "here", "base", "highest", "here", "base");
        for s in &p.shifts {
            let _ = writeln!(
                o,
                "{:>7.1}% {:>7.1}% {:>7.1}% {:>10} {:>10}  {}",
                s.target_percent,
                s.siblings_percent,
                s.siblings_max_percent,
                value(s.target_value),
                value(s.siblings_value),
                s.name
            );
        }
    }
    if let Some(g) = &c.goroutines {
        let _ = writeln!(o, "\ngoroutines: {} here, {:.0} on average in the base(s)", g.target_total, g.siblings_total);
        let _ = writeln!(o, "{:>8} {:>8} {:>8}  state at site", "here", "base", "highest");
        for x in &g.groups {
            let _ = writeln!(
                o,
                "{:>8} {:>8.0} {:>8}  {} at {}",
                x.target, x.siblings_mean, x.siblings_max, x.state, x.site
            );
        }
    }
    if let Some(t) = &c.trace {
        let _ = writeln!(o, "\ntrace:\n{:>12} {:>12} {:>12} {:>12}  figure", "here", "base", "lowest", "highest");
        for r in &t.rows {
            let _ = writeln!(
                o,
                "{:>12.1} {:>12.1} {:>12.1} {:>12.1}  {} ({})",
                r.target, r.siblings_mean, r.siblings_min, r.siblings_max, r.figure, r.unit
            );
        }
    }
    findings(&mut o, &c.findings);
    o
}
