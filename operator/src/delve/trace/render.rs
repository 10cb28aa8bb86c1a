//! A trace as text for people (`delve-trace.txt`): what was traced, one block per hit, and how
//! it ended.

use super::TraceRecord;
use super::summary::hit_line;
use std::fmt::Write;

pub fn text(r: &TraceRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Delve trace started {}: {} hits in {:.1}s; ended by {}: {}",
        r.started,
        r.hits.len(),
        r.window_ms as f64 / 1000.0,
        r.ended_by.reason(),
        r.ended
    );
    let _ = writeln!(
        out,
        "# the program was stopped {:.1} ms in all at hits (longest {:.1} ms; one round trip {:.1} ms), {} ms while the tracepoints were set and {:.1} ms for the end",
        r.stopped_ms, r.longest_stop_ms, r.round_trip_ms, r.setup_ms, r.end_ms
    );
    for t in &r.tracepoints {
        let cond = t.condition.as_deref().map(|c| format!(" if {c}")).unwrap_or_default();
        let _ = writeln!(out, "# tracepoint {}: {}{cond} ({}): {} hits", t.name, t.location, t.resolved, t.hits);
    }
    if r.dropped_hits > 0 {
        let _ = writeln!(out, "# {} more hits came past a hit limit and were not recorded", r.dropped_hits);
    }
    for h in &r.hits {
        let _ = writeln!(out, "\n{}", hit_line(h));
        for a in &h.arguments {
            let _ = writeln!(out, "    arg   {a}");
        }
        for l in &h.locals {
            let _ = writeln!(out, "    local {l}");
        }
        for f in &h.stack {
            let _ = writeln!(out, "    {f}");
        }
    }
    out
}
