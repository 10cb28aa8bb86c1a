//! From a trace's record to its bounded status entry: hits and stop time per tracepoint, and
//! the most frequent values of each captured expression.

use super::{Hit, TraceRecord};
use crate::api::{CapturedValues, DelveTraceSummary, TracepointSummary};
use std::collections::HashMap;

/// Distinct values counted per expression; later new values are not counted.
const MAX_DISTINCT: usize = 1000;
/// Values shown per expression.
const TOP_VALUES: usize = 3;
/// Longest value (and expression) shown in the status.
const VALUE_CHARS: usize = 80;
/// Expressions whose values the status lists, over all tracepoints (the artifact has them all).
const MAX_VALUE_LISTS: usize = 12;

pub fn summarize(r: &TraceRecord) -> DelveTraceSummary {
    let mut lists = MAX_VALUE_LISTS;
    let tracepoints = r
        .tracepoints
        .iter()
        .map(|t| {
            let hits: Vec<&Hit> = r.hits.iter().filter(|h| h.tracepoint == t.name).collect();
            let mut stops: Vec<usize> = hits.iter().map(|h| h.stop).collect();
            stops.dedup();
            // The end's stop is not this tracepoint's (a hit that crossed the halt belongs to it).
            let stop_ms = |i: &usize| r.stops.get(*i).filter(|s| !s.end).map_or(0.0, |s| s.stopped_ms);
            TracepointSummary {
                name: t.name.clone(),
                location: godiag_analyze::text::clip(&t.resolved, 200),
                hits: hits.len() as u64,
                stopped_ms: round(stops.iter().map(stop_ms).sum()),
                slowest_stop_ms: stops.iter().map(stop_ms).fold(0.0, f64::max),
                values: t
                    .capture
                    .iter()
                    .enumerate()
                    .take_while(|_| lists.checked_sub(1).map(|l| lists = l).is_some())
                    .map(|(k, expr)| values(expr, &hits, k))
                    .collect(),
            }
        })
        .collect();
    DelveTraceSummary {
        started: r.started.clone(),
        window_ms: r.window_ms,
        hits: r.hits.len() as u64,
        ended_by: r.ended_by.reason().into(),
        ended: godiag_analyze::text::clip(&r.ended, 400),
        breaking_hit: r.breaking_hit.and_then(|i| r.hits.get(i)).map(|h| godiag_analyze::text::clip(&hit_line(h), 200)),
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
        expression: godiag_analyze::text::clip(expr, VALUE_CHARS),
        distinct,
        top: ranked
            .into_iter()
            .take(TOP_VALUES)
            .map(|(v, (n, _))| format!("{n}× {}", godiag_analyze::text::clip(v, VALUE_CHARS)))
            .collect(),
    }
}

/// `traced price: 54 hits (o.Customer 19× "acme-0", 18× "acme-2"; o.Qty 14× 10, 14× 11), ended by StopBudget`.
pub fn one_line(s: &DelveTraceSummary) -> String {
    let per: Vec<String> = s
        .tracepoints
        .iter()
        .map(|t| {
            let values: Vec<String> = t
                .values
                .iter()
                .filter(|v| !v.top.is_empty())
                .map(|v| format!("{} {}", v.expression, v.top.iter().take(2).cloned().collect::<Vec<_>>().join(", ")))
                .collect();
            match (t.hits, values.is_empty()) {
                (0, _) => format!("{}: no hits in {:.1}s", t.name, s.window_ms as f64 / 1000.0),
                (_, true) => format!("{}: {} hits", t.name, t.hits),
                _ => format!("{}: {} hits ({})", t.name, t.hits, values.join("; ")),
            }
        })
        .collect();
    godiag_analyze::text::clip(&format!("traced {}, ended by {}", per.join(", "), s.ended_by), 200)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delve::trace::bounds::EndReason;
    use crate::delve::trace::{Captured, Stop, TracepointRecord};
    use crate::delve::types::Version;

    fn hit(customer: &str, qty: u32, stop: usize) -> Hit {
        Hit {
            tracepoint: "price".into(),
            at_ms: 1204,
            goroutine: 41,
            captured: vec![
                Captured { expression: "o.Customer".into(), value: format!("{customer:?}") },
                Captured { expression: "o.Qty".into(), value: qty.to_string() },
            ],
            arguments: vec![],
            locals: vec![],
            stack: vec![],
            stop,
        }
    }

    #[test]
    fn values_are_counted_most_frequent_first_and_the_headline_names_them() {
        // Two hits at once at stop 1; the last hit crossed the halt and belongs to the end's stop.
        let hits =
            vec![hit("acme", 10, 0), hit("zed", 11, 1), hit("acme", 12, 1), hit("acme", 10, 2), hit("acme", 13, 3)];
        let mut stops: Vec<Stop> =
            (0..3).map(|i| Stop { at_ms: i, stopped_ms: 2.0 + i as f64, cause: "hit".into(), end: false }).collect();
        stops.push(Stop { at_ms: 3, stopped_ms: 60.0, cause: "the end".into(), end: true });
        let r = TraceRecord {
            version: Version::default(),
            tracepoints: vec![TracepointRecord {
                name: "price".into(),
                location: "main.(*Shop).Price".into(),
                resolved: "main.(*Shop).Price at shop.go:220".into(),
                condition: None,
                capture: vec!["o.Customer".into(), "o.Qty".into()],
                hits: 4,
            }],
            hits,
            stops,
            started: "2026-12-03T19:16:26Z".into(),
            setup_ms: 184,
            window_ms: 18_770,
            round_trip_ms: 5.2,
            stopped_ms: 9.0,
            longest_stop_ms: 4.0,
            end_ms: 60.0,
            ended_by: EndReason::StopBudget,
            ended: "budget".into(),
            breaking_hit: Some(3),
            dropped_hits: 0,
            detached: true,
        };
        let s = summarize(&r);
        let t = &s.tracepoints[0];
        assert_eq!((t.hits, t.stopped_ms, t.slowest_stop_ms), (5, 9.0, 4.0), "each stop counted once, the end's not");
        assert_eq!(t.values[0].top, vec!["4× \"acme\"".to_string(), "1× \"zed\"".into()]);
        assert_eq!(t.values[1].distinct, 4);
        assert_eq!(t.values[1].top[0], "2× 10");
        assert_eq!(
            s.breaking_hit.as_deref(),
            Some("price at 1.204s on goroutine 41: o.Customer = \"acme\", o.Qty = 10")
        );
        let mut none = s.clone();
        none.tracepoints[0].hits = 0;
        none.tracepoints[0].values.iter_mut().for_each(|v| v.top.clear());
        assert_eq!(one_line(&none), "traced price: no hits in 18.8s, ended by StopBudget");
        assert_eq!(
            one_line(&s),
            "traced price: 5 hits (o.Customer 4× \"acme\", 1× \"zed\"; o.Qty 2× 10, 1× 11), ended by StopBudget"
        );
    }
}
