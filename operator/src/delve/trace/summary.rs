//! From a trace's record to its bounded status entry: hits and stop time per tracepoint, and
//! the most frequent values of each captured expression.

use super::{Hit, TraceRecord};
use crate::api::{CapturedValues, DelveTraceSummary, TracepointSummary};
use std::collections::HashMap;

/// Distinct values counted per expression; later new values are not counted.
const MAX_DISTINCT: usize = 1000;
/// Values shown per expression.
const TOP_VALUES: usize = 5;
/// Longest value shown in the status.
const VALUE_CHARS: usize = 120;

pub fn summarize(r: &TraceRecord) -> DelveTraceSummary {
    let tracepoints = r
        .tracepoints
        .iter()
        .map(|t| {
            let hits: Vec<&Hit> = r.hits.iter().filter(|h| h.tracepoint == t.name).collect();
            let mut stops: Vec<usize> = hits.iter().map(|h| h.stop).collect();
            stops.dedup();
            let stop_ms = |i: &usize| r.stops.get(*i).map_or(0.0, |s| s.stopped_ms);
            TracepointSummary {
                name: t.name.clone(),
                location: t.resolved.clone(),
                hits: hits.len() as u64,
                stopped_ms: round(stops.iter().map(stop_ms).sum()),
                slowest_stop_ms: stops.iter().map(stop_ms).fold(0.0, f64::max),
                values: t.capture.iter().enumerate().map(|(k, expr)| values(expr, &hits, k)).collect(),
            }
        })
        .collect();
    DelveTraceSummary {
        started: r.started.clone(),
        window_ms: r.window_ms,
        hits: r.hits.len() as u64,
        ended_by: r.ended_by.reason().into(),
        ended: r.ended.clone(),
        breaking_hit: r.breaking_hit.and_then(|i| r.hits.get(i)).map(|h| godiag_analyze::text::clip(&hit_line(h), 300)),
        stopped_ms: r.stopped_ms,
        longest_stop_ms: r.longest_stop_ms,
        end_ms: r.end_ms,
        setup_ms: r.setup_ms,
        round_trip_ms: r.round_trip_ms,
        tracepoints,
    }
}

fn values(expr: &str, hits: &[&Hit], k: usize) -> CapturedValues {
    let mut counts: HashMap<&str, (u64, usize)> = HashMap::new();
    for (order, h) in hits.iter().enumerate() {
        let Some(c) = h.captured.get(k) else { continue };
        if let Some(e) = counts.get_mut(c.value.as_str()) {
            e.0 += 1;
        } else if counts.len() < MAX_DISTINCT {
            counts.insert(&c.value, (1, order));
        }
    }
    let distinct = counts.len() as u64;
    let mut ranked: Vec<(&str, (u64, usize))> = counts.into_iter().collect();
    // Most frequent first; ties in the order they were first seen.
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    CapturedValues {
        expression: expr.into(),
        distinct,
        top: ranked
            .into_iter()
            .take(TOP_VALUES)
            .map(|(v, (n, _))| format!("{n}× {}", godiag_analyze::text::clip(v, VALUE_CHARS)))
            .collect(),
    }
}

/// `price at 1.204s on goroutine 41: o.Customer = "c4", o.Qty = 5`.
pub fn hit_line(h: &Hit) -> String {
    let values: Vec<String> = h.captured.iter().map(|c| format!("{} = {}", c.expression, c.value)).collect();
    let mut line = format!("{} at {:.3}s on goroutine {}", h.tracepoint, h.at_ms as f64 / 1000.0, h.goroutine);
    if !values.is_empty() {
        line.push_str(": ");
        line.push_str(&values.join(", "));
    }
    line
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
