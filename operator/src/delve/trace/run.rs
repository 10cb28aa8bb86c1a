//! The trace loop against Delve. The target is stopped by `dlv attach` when it starts:
//! 1. check the versions and every location (`FindLocation`), then set the tracepoints; any
//!    refusal clears what was set and detaches (never continued, so never halted);
//! 2. continue; at each hit record it, clear the tracepoints that reached their limit, and
//!    continue again unless a bound is reached (checked while stopped);
//! 3. at the window's end the target runs: `halt` only after State said it runs;
//! 4. end: clear every tracepoint, then detach `Kill:false`. When a hit crossed the halt (the
//!    halt's SIGTRAP may be pending, and would kill the program at the detach) godiag first
//!    lets it run once more without tracepoints, so the signal is taken by Delve, and halts it
//!    again only while it runs.

use super::bounds::{EndReason, Tally};
use super::{Captured, Hit, MAX_VALUE_CHARS, Stop, TraceError, TracePlan, TraceRecord, TracepointRecord, ms};
use crate::delve::render::{value_line, variable_line};
use crate::delve::rpc::{Continued, DelveClient, RpcError};
use crate::delve::snapshot::{SnapshotError, unsupported};
use crate::delve::types::{
    CreateBreakpointIn, DebuggerState, EvalScope, FindLocationIn, NewTracepoint, StateOut, Thread,
};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// How long godiag lets a program without tracepoints run before it halts it again, when a hit
/// crossed a halt.
const DRAIN: Duration = Duration::from_millis(300);

/// Runs the trace. On a setup error nothing is left set and the target was detached (when
/// the connection still works); after a broken connection the caller drops it and dlv (not
/// multiclient) detaches by itself.
pub async fn trace<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut DelveClient<S>,
    plan: &TracePlan,
    cancel: &CancellationToken,
) -> Result<TraceRecord, TraceError> {
    let started = Instant::now();
    client.budget = plan.max_bytes;
    let version = client.get_version().await?;
    if let Some(SnapshotError::GoVersionUnsupported { target, delve, min, max }) = unsupported(&version) {
        client.detach().await?;
        return Err(TraceError::GoVersionUnsupported { target, delve, min, max });
    }
    if version.target_go_version.is_empty() {
        client.detach().await?;
        return Err(TraceError::NoDebugInfo);
    }
    let t0 = Instant::now();
    let state = client.state().await?;
    let round_trip = t0.elapsed();
    if let Some(s) = state.state.as_ref().filter(|s| s.exited) {
        return Err(TraceError::TargetExited { status: s.exit_status });
    }
    if state.state.as_ref().is_some_and(|s| s.running) {
        return Err(TraceError::TargetRunning);
    }
    let mut ids = Vec::new();
    let tracepoints = match set_tracepoints(client, plan, &mut ids).await {
        Ok(t) => t,
        Err(e) => {
            if !matches!(e, TraceError::Rpc(RpcError::Timeout { .. } | RpcError::Closed { .. } | RpcError::Io(_))) {
                let _ = client.clear_breakpoints(&ids).await;
                let _ = client.detach().await;
            }
            return Err(e);
        }
    };
    let setup = started.elapsed();
    let mut rec = TraceRecord {
        version,
        tracepoints,
        hits: Vec::new(),
        stops: Vec::new(),
        started: jiff::Timestamp::now().to_string(),
        setup_ms: u64::try_from(setup.as_millis()).unwrap_or(u64::MAX),
        window_ms: 0,
        round_trip_ms: ms(round_trip),
        stopped_ms: 0.0,
        longest_stop_ms: 0.0,
        end_ms: 0.0,
        ended_by: EndReason::WindowEnded,
        ended: String::new(),
        breaking_hit: None,
        dropped_hits: 0,
        detached: false,
    };
    let bounds = plan.bounds();
    let mut tally = Tally::new(plan.tracepoints.len());
    let window_start = Instant::now();
    let until = tokio::time::Instant::now() + plan.window;
    // Set while the program is stopped: since when (Delve's answer).
    let mut stopped_at: Option<Instant> = None;
    let mut crossed_halt = false;
    let ended: Result<(EndReason, String), RpcError> = loop {
        let current = stopped_at.map(|at| at.elapsed() + round_trip).unwrap_or_default();
        if cancel.is_cancelled() {
            break Ok((EndReason::Cancelled, "the request was deleted".into()));
        }
        if let Some(end) = tally.next(&bounds, window_start.elapsed(), current, round_trip) {
            rec.breaking_hit = (stopped_at.is_some() && end != EndReason::WindowEnded)
                .then(|| rec.hits.len().checked_sub(1))
                .flatten();
            if stopped_at.is_some() {
                // This hit's stop ends here; the rest is the end's (clear and detach).
                close_stop(&mut rec, &mut tally, current);
                stopped_at = Some(Instant::now());
            }
            break Ok((end, bound_text(end, plan, &tally)));
        }
        if stopped_at.take().is_some() {
            close_stop(&mut rec, &mut tally, current);
        }
        let reply = match client.continue_until(until, cancel).await {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        let at = Instant::now();
        let at_ms = u64::try_from(window_start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match reply {
            Continued::Stopped(StateOut { state: Some(DebuggerState { exited: true, exit_status, .. }) }) => {
                break Ok((EndReason::TargetExited, format!("the program exited with status {exit_status}")));
            }
            Continued::Stopped(state) => {
                stopped_at = Some(at);
                let threads = state.state.map(|s| s.threads).unwrap_or_default();
                let n = record_hits(&mut rec, &mut tally, &bounds, plan, &ids, &threads, at_ms);
                if n == 0 {
                    let why = threads
                        .iter()
                        .find_map(|t| t.breakpoint.as_ref().map(|b| b.name.clone()))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| "no breakpoint".into());
                    break Ok((
                        EndReason::ProgramStopped,
                        format!("the program stopped outside the tracepoints ({why})"),
                    ));
                }
                let full: Vec<i64> = tally.take_full(&bounds).into_iter().map(|i| ids[i]).collect();
                if !full.is_empty()
                    && let Err(e) = client.clear_breakpoints(&full).await
                {
                    break Err(e);
                }
            }
            Continued::Failed(message) => {
                stopped_at = Some(at);
                let which = match client.state().await {
                    Ok(s) => s.state.map(|s| s.threads).unwrap_or_default(),
                    Err(e) => break Err(e),
                };
                let name = which
                    .iter()
                    .find_map(|t| t.breakpoint.as_ref().and_then(|b| ids.iter().position(|id| *id == b.id)))
                    .map(|i| &plan.tracepoints[i]);
                let text = match name {
                    Some(t) => format!(
                        "Delve could not evaluate the condition {:?} of tracepoint {}: {message}",
                        t.condition.as_deref().unwrap_or_default(),
                        t.name
                    ),
                    None => format!("Delve's continue failed: {message}"),
                };
                break Ok((EndReason::ConditionFailed, text));
            }
            Continued::Halted(state) => {
                stopped_at = Some(at);
                let threads = state.state.map(|s| s.threads).unwrap_or_default();
                // A hit that crossed the halt is recorded, and the halt's signal may be pending.
                let crossed = record_hits(&mut rec, &mut tally, &bounds, plan, &ids, &threads, at_ms);
                // Its hits belong to the end's stop.
                if crossed > 0 {
                    rec.stops.pop();
                }
                crossed_halt = crossed > 0 || threads.iter().any(|t| t.breakpoint.is_some());
                let end = if cancel.is_cancelled() { EndReason::Cancelled } else { EndReason::WindowEnded };
                break Ok((end, bound_text(end, plan, &tally)));
            }
        }
    };
    rec.window_ms = u64::try_from(window_start.elapsed().as_millis()).unwrap_or(u64::MAX);
    rec.dropped_hits = tally.dropped;
    for (r, n) in rec.tracepoints.iter_mut().zip(&tally.per) {
        r.hits = *n;
    }
    let (end, text) = match ended {
        Ok(e) => e,
        Err(RpcError::BudgetExceeded { budget, .. }) => {
            // Unread answers: the caller drops the connection and dlv detaches by itself.
            rec.ended_by = EndReason::MaxBytes;
            rec.ended = format!(
                "Delve's answers passed {} MiB: godiag dropped the connection, and dlv detaches by itself; lower stackDepth, the captures or the load limits",
                budget >> 20
            );
            finish_tally(&mut rec, &tally);
            return Ok(rec);
        }
        Err(e) => return Err(e.into()),
    };
    rec.ended_by = end;
    rec.ended = text;
    let mut ran_meanwhile = Duration::ZERO;
    if end != EndReason::TargetExited {
        let set: Vec<i64> = ids.iter().zip(&tally.cleared).filter(|(_, c)| !**c).map(|(id, _)| *id).collect();
        client.clear_breakpoints(&set).await?;
        if crossed_halt {
            // Take the pending SIGTRAP inside Delve: it stops the program at once, or the
            // program runs and is halted while it runs (that time it ran is not a stop).
            let never = CancellationToken::new();
            if let Continued::Halted(_) = client.continue_until(tokio::time::Instant::now() + DRAIN, &never).await? {
                ran_meanwhile = DRAIN;
            }
        }
        client.detach().await?;
        rec.detached = true;
    }
    if let Some(at) = stopped_at {
        let end = (at.elapsed() + round_trip).saturating_sub(ran_meanwhile);
        rec.end_ms = ms(end);
        let at_ms = u64::try_from(at.duration_since(window_start).as_millis()).unwrap_or(u64::MAX);
        rec.stops.push(Stop {
            at_ms,
            stopped_ms: ms(end),
            cause: format!("the end ({})", end_steps(end_with_halt(&rec), crossed_halt)),
            end: true,
        });
    }
    finish_tally(&mut rec, &tally);
    Ok(rec)
}

/// True when the window ended while the program ran (godiag halted it).
fn end_with_halt(rec: &TraceRecord) -> bool {
    matches!(rec.ended_by, EndReason::WindowEnded | EndReason::Cancelled)
}

fn end_steps(halted: bool, drained: bool) -> &'static str {
    match (halted, drained) {
        (true, true) => "halt, clear, one more run to take the crossed halt, detach",
        (true, false) => "halt, clear, detach",
        _ => "clear, detach",
    }
}

/// The hit's stop lasted `d`: counted against the budget and written on its record.
fn close_stop(rec: &mut TraceRecord, tally: &mut Tally, d: Duration) {
    tally.stop(d);
    if let Some(s) = rec.stops.last_mut() {
        s.stopped_ms = ms(d);
    }
}

fn finish_tally(rec: &mut TraceRecord, tally: &Tally) {
    rec.stopped_ms = ms(tally.stopped);
    rec.longest_stop_ms = ms(tally.longest);
}

/// Checks every location, then sets every tracepoint; `ids` gets Delve's id of each one set.
async fn set_tracepoints<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut DelveClient<S>,
    plan: &TracePlan,
    ids: &mut Vec<i64>,
) -> Result<Vec<TracepointRecord>, TraceError> {
    for t in &plan.tracepoints {
        let req = FindLocationIn {
            scope: EvalScope { goroutine_id: -1, frame: 0, deferred_call: 0 },
            loc: t.location.clone(),
            include_non_executable_lines: false,
        };
        let not_found = |message: String| TraceError::LocationNotFound {
            tracepoint: t.name.clone(),
            location: t.location.clone(),
            message,
        };
        match client.find_location(&req).await {
            Ok(found) if found.locations.is_empty() => return Err(not_found("no code there".into())),
            Ok(_) => {}
            Err(RpcError::Remote { message, .. }) => return Err(not_found(message)),
            Err(e) => return Err(e.into()),
        }
    }
    let mut records = Vec::new();
    for t in &plan.tracepoints {
        let load = plan.load;
        let req = CreateBreakpointIn {
            breakpoint: NewTracepoint {
                name: format!("godiag{}", t.name),
                tracepoint: true,
                cond: t.condition.clone().unwrap_or_default(),
                variables: t.capture.clone(),
                load_args: t.arguments.then_some(load),
                load_locals: t.locals.then_some(load),
                stacktrace: t.stack_depth,
                goroutine: true,
            },
            loc_expr: t.location.clone(),
        };
        let bp = match client.create_breakpoint(&req).await {
            Ok(bp) => bp,
            Err(RpcError::Remote { message, .. }) => {
                return Err(match &t.condition {
                    // Go's parser: `1:8: expected operand, found 'EOF'`.
                    Some(c) if message.split(':').next().is_some_and(|p| p.parse::<u32>().is_ok()) => {
                        TraceError::ConditionInvalid { tracepoint: t.name.clone(), condition: c.clone(), message }
                    }
                    _ => TraceError::TracepointRefused {
                        tracepoint: t.name.clone(),
                        location: t.location.clone(),
                        message,
                    },
                });
            }
            Err(e) => return Err(e.into()),
        };
        ids.push(bp.id);
        if bp.addrs.is_empty() {
            return Err(TraceError::LocationNotFound {
                tracepoint: t.name.clone(),
                location: t.location.clone(),
                message: "Delve set it nowhere (no code at that location)".into(),
            });
        }
        records.push(TracepointRecord {
            name: t.name.clone(),
            location: t.location.clone(),
            resolved: format!("{} at {}:{}", bp.function_name, bp.file, bp.line),
            condition: t.condition.clone(),
            capture: t.capture.clone(),
            hits: 0,
        });
    }
    Ok(records)
}

/// Records the hits in a stopped target's threads, within the limits; returns how many hits of
/// godiag's tracepoints Delve reported (recorded or not).
fn record_hits(
    rec: &mut TraceRecord,
    tally: &mut Tally,
    bounds: &super::bounds::Bounds,
    plan: &TracePlan,
    ids: &[i64],
    threads: &[Thread],
    at_ms: u64,
) -> usize {
    let stop = rec.stops.len();
    let mut seen = 0;
    for th in threads {
        let Some(i) = th.breakpoint.as_ref().and_then(|b| ids.iter().position(|id| *id == b.id)) else { continue };
        seen += 1;
        if !tally.admit(bounds, i) {
            continue;
        }
        let t = &plan.tracepoints[i];
        let info = th.info.clone().unwrap_or_default();
        let captured = t
            .capture
            .iter()
            .enumerate()
            .map(|(k, expr)| Captured {
                expression: expr.clone(),
                value: info.variables.get(k).map_or_else(|| "(not read)".into(), |v| value_line(v, MAX_VALUE_CHARS)),
            })
            .collect();
        let line = |v: &crate::delve::types::Variable| variable_line(v, MAX_VALUE_CHARS);
        rec.hits.push(Hit {
            tracepoint: t.name.clone(),
            at_ms,
            goroutine: th.goroutine_id,
            captured,
            // `~r0`, … are the results, not set yet at a function's entry.
            arguments: info.arguments.iter().filter(|a| !a.name.starts_with("~r")).take(16).map(line).collect(),
            locals: info.locals.iter().take(16).map(line).collect(),
            stack: info
                .stacktrace
                .iter()
                .take(50)
                .map(|f| {
                    godiag_analyze::text::clip(
                        &format!("{} ({}:{})", f.location.function_name(), f.location.file, f.location.line),
                        MAX_VALUE_CHARS,
                    )
                })
                .collect(),
            stop,
        });
    }
    if seen > 0 {
        rec.stops.push(Stop { at_ms, stopped_ms: 0.0, cause: format!("{seen} hit(s)"), end: false });
    }
    seen
}

/// The bound in words.
fn bound_text(end: EndReason, plan: &TracePlan, tally: &Tally) -> String {
    match end {
        EndReason::WindowEnded => format!("the window of {:?} passed", plan.window),
        EndReason::MaxHits => format!("{} hits were recorded (maxHits)", tally.hits),
        EndReason::TracepointHits => "every tracepoint reached its own maxHits".into(),
        EndReason::StopBudget => format!(
            "one more stop could pass the stop budget of {:?} (stopped {:.1} ms so far, the longest stop {:.1} ms)",
            plan.stop_budget,
            ms(tally.stopped),
            ms(tally.longest)
        ),
        EndReason::Cancelled => "the request was deleted".into(),
        other => other.reason().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delve::replay::{Answer, Replay, trace_reply};
    use crate::delve::trace::TracepointPlan;
    use crate::delve::types::LoadConfig;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};

    fn plan(max_hits: usize, own: Option<usize>, window: Duration) -> TracePlan {
        TracePlan {
            tracepoints: vec![TracepointPlan {
                name: "price".into(),
                location: "main.(*Shop).Price".into(),
                condition: Some("o.Qty > 2".into()),
                capture: vec!["o.Customer".into(), "o.Qty".into(), "s.unitCents".into()],
                arguments: true,
                locals: false,
                stack_depth: 5,
                max_hits: own,
            }],
            window,
            max_hits,
            stop_budget: Duration::from_secs(5),
            load: LoadConfig {
                follow_pointers: true,
                max_variable_recurse: 1,
                max_string_len: 64,
                max_array_values: 16,
                max_struct_fields: 16,
            },
            max_bytes: super::super::MAX_TRACE_BYTES,
        }
    }

    /// The recorded session: attached and stopped, the location found, the tracepoint set, and
    /// every continue answered by a hit of it.
    fn replay() -> Replay {
        let mut r = Replay { answers: Default::default(), requests: Arc::default() };
        for (method, label) in [
            ("GetVersion", "GetVersion"),
            ("State", "State stopped"),
            ("FindLocation", "FindLocation ok"),
            ("CreateBreakpoint", "CreateBreakpoint ok"),
            ("Command", "continue hit"),
            ("ClearBreakpoint", "ClearBreakpoint"),
            ("Detach", "Detach"),
        ] {
            r.set(method, vec![trace_reply(label)]);
        }
        r
    }

    fn sent(r: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
        r.lock()
            .unwrap()
            .iter()
            .map(|q| {
                let m = q["method"].as_str().unwrap().trim_start_matches("RPCServer.").to_string();
                match q["params"][0]["name"].as_str() {
                    Some(n) if m == "Command" => format!("Command {n}"),
                    _ => m,
                }
            })
            .collect()
    }

    async fn run(r: Replay, p: &TracePlan) -> (Result<TraceRecord, TraceError>, Vec<String>, Arc<Mutex<Vec<Value>>>) {
        let requests = r.requests.clone();
        let mut client = DelveClient::new(r.serve(), Duration::from_secs(5));
        let out = trace(&mut client, p, &CancellationToken::new()).await;
        let names = sent(&requests);
        (out, names, requests)
    }

    #[tokio::test]
    async fn a_hit_limit_of_five_ends_after_exactly_five_hits_with_the_values() {
        let (rec, sent, requests) = run(replay(), &plan(100, Some(5), Duration::from_secs(30))).await;
        let rec = rec.unwrap();
        assert_eq!(rec.hits.len(), 5);
        assert_eq!(rec.ended_by, EndReason::TracepointHits);
        assert_eq!(rec.breaking_hit, Some(4), "the fifth hit ended it");
        let h = &rec.hits[0];
        assert_eq!(h.goroutine, 13);
        let values: Vec<(&str, &str)> = h.captured.iter().map(|c| (c.expression.as_str(), c.value.as_str())).collect();
        assert_eq!(values, [("o.Customer", "\"c0\""), ("o.Qty", "5"), ("s.unitCents", "250")]);
        assert!(h.arguments.iter().any(|a| a.starts_with("o = main.Order{")), "{:?}", h.arguments);
        assert_eq!(h.stack[0], "main.(*Shop).Price (godiag.dev/fixtures/goapp/main.go:220)");
        assert_eq!(rec.tracepoints[0].resolved, "main.(*Shop).Price at godiag.dev/fixtures/goapp/main.go:220");
        assert!(rec.detached);
        assert!(!sent.contains(&"Command halt".to_string()), "a stopped target is never halted: {sent:?}");
        let continues = sent.iter().filter(|m| *m == "Command continue").count();
        assert_eq!(continues, 5);
        assert_eq!(sent.last().map(String::as_str), Some("Detach"));
        let req = requests.lock().unwrap().clone();
        let bp = req.iter().find(|q| q["method"] == "RPCServer.CreateBreakpoint").unwrap();
        let b = &bp["params"][0]["Breakpoint"];
        assert_eq!(b["continue"], true, "a tracepoint");
        assert_eq!(b["Cond"], "o.Qty > 2");
        assert_eq!(b["LoadArgs"]["MaxStringLen"], 64, "bounded loads, always");
        assert_eq!(b["LoadLocals"], Value::Null);
        assert_eq!(bp["params"][0]["LocExpr"], "main.(*Shop).Price");
        // Each stop is measured and in the total.
        assert_eq!(rec.stops.len(), 6, "five hits and the end");
        assert_eq!(rec.stops[5].cause, "the end (clear, detach)");
        assert!(rec.stopped_ms >= rec.longest_stop_ms && rec.longest_stop_ms > 0.0);
        assert!(rec.end_ms > 0.0);
    }

    #[tokio::test]
    async fn the_total_hit_limit_also_ends_it() {
        let (rec, _, _) = run(replay(), &plan(3, None, Duration::from_secs(30))).await;
        let rec = rec.unwrap();
        assert_eq!((rec.hits.len(), rec.ended_by), (3, EndReason::MaxHits));
    }

    #[tokio::test]
    async fn at_the_window_end_a_running_target_is_halted_only_after_state_says_it_runs() {
        let mut r = replay();
        let Answer::Reply(halted) = trace_reply("continue halted") else { unreachable!() };
        r.set("Command", vec![Answer::UntilNextCommand(halted), trace_reply("halt")]);
        r.set("State", vec![trace_reply("State stopped"), trace_reply("State running")]);
        let (rec, sent, _) = run(r, &plan(100, None, Duration::from_millis(200))).await;
        let rec = rec.unwrap();
        assert_eq!(rec.ended_by, EndReason::WindowEnded);
        assert!(rec.hits.is_empty());
        assert!(rec.window_ms >= 200);
        assert_eq!(
            sent,
            [
                "GetVersion",
                "State",
                "FindLocation",
                "CreateBreakpoint",
                "Command continue",
                "State",
                "Command halt",
                "ClearBreakpoint",
                "Detach"
            ]
        );
    }

    #[tokio::test]
    async fn a_hit_that_crosses_the_halt_is_kept_and_the_pending_signal_is_taken_before_the_detach() {
        let mut r = replay();
        let Answer::Reply(hit) = trace_reply("continue hit") else { unreachable!() };
        // The continue's answer is a hit although godiag halted: then the drain continue stops
        // at once (Delve takes the pending SIGTRAP).
        r.set("Command", vec![Answer::UntilNextCommand(hit), trace_reply("halt"), trace_reply("continue halted")]);
        r.set("State", vec![trace_reply("State stopped"), trace_reply("State running")]);
        let (rec, sent, _) = run(r, &plan(100, None, Duration::from_millis(200))).await;
        let rec = rec.unwrap();
        assert_eq!((rec.ended_by, rec.hits.len()), (EndReason::WindowEnded, 1));
        let tail: Vec<&str> = sent.iter().skip(4).map(String::as_str).collect();
        assert_eq!(
            tail,
            ["Command continue", "State", "Command halt", "ClearBreakpoint", "Command continue", "Detach"]
        );
    }

    #[tokio::test]
    async fn a_location_that_does_not_exist_is_named_and_nothing_is_left_attached() {
        let mut r = replay();
        r.set("FindLocation", vec![trace_reply("FindLocation missing")]);
        let mut p = plan(100, None, Duration::from_secs(30));
        p.tracepoints[0].location = "main.nope".into();
        let (err, sent, _) = run(r, &p).await;
        let err = err.unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint price: Delve cannot find \"main.nope\": location \"main.nope\" not found; nothing was left in the program"
        );
        assert_eq!(sent, ["GetVersion", "State", "FindLocation", "Detach"], "never continued, never halted");
    }

    #[tokio::test]
    async fn a_line_without_code_is_named() {
        let mut r = replay();
        r.set("FindLocation", vec![trace_reply("FindLocation no statement")]);
        let (err, _, _) = run(r, &plan(100, None, Duration::from_secs(30))).await;
        assert!(err.unwrap_err().to_string().contains("please use a line with a statement"));
    }

    #[tokio::test]
    async fn a_condition_that_is_not_go_is_refused_before_the_window_and_the_others_are_cleared() {
        let mut r = replay();
        r.set(
            "CreateBreakpoint",
            vec![trace_reply("CreateBreakpoint ok"), trace_reply("CreateBreakpoint bad condition")],
        );
        let mut p = plan(100, None, Duration::from_secs(30));
        let mut second = p.tracepoints[0].clone();
        second.name = "bad".into();
        second.location = "main.main".into();
        second.condition = Some("o.Qty >".into());
        p.tracepoints.push(second);
        let (err, sent, _) = run(r, &p).await;
        let err = err.unwrap_err();
        assert!(matches!(err, TraceError::ConditionInvalid { .. }), "{err:?}");
        assert!(
            err.to_string().contains("\"o.Qty >\" is not a Go expression Delve accepts: 1:8: expected operand"),
            "{err}"
        );
        assert_eq!(
            sent,
            [
                "GetVersion",
                "State",
                "FindLocation",
                "FindLocation",
                "CreateBreakpoint",
                "CreateBreakpoint",
                "ClearBreakpoint",
                "Detach"
            ],
            "the first tracepoint is cleared again"
        );
    }

    #[tokio::test]
    async fn a_condition_delve_cannot_evaluate_ends_the_trace_naming_it() {
        let mut r = replay();
        r.set("Command", vec![trace_reply("continue hit"), trace_reply("continue condition error")]);
        r.set("State", vec![trace_reply("State stopped"), trace_reply("State at condition error")]);
        let (rec, sent, _) = run(r, &plan(100, None, Duration::from_secs(30))).await;
        let rec = rec.unwrap();
        assert_eq!(rec.ended_by, EndReason::ConditionFailed);
        assert_eq!(rec.hits.len(), 1, "the hit before it is kept");
        assert_eq!(
            rec.ended,
            "Delve could not evaluate the condition \"o.Qty > 2\" of tracepoint price: error evaluating expression: could not find symbol value for nosuch"
        );
        assert!(!sent.contains(&"Command halt".to_string()));
        assert_eq!(sent.last().map(String::as_str), Some("Detach"));
    }

    #[tokio::test]
    async fn a_dlv_that_stops_answering_is_a_timeout_not_a_hang() {
        let mut r = replay();
        r.set("Command", vec![Answer::Never]);
        r.set("State", vec![trace_reply("State stopped"), Answer::Never]);
        let requests = r.requests.clone();
        let mut client = DelveClient::new(r.serve(), Duration::from_millis(300));
        let started = Instant::now();
        let err = trace(&mut client, &plan(100, None, Duration::from_millis(200)), &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, TraceError::Rpc(RpcError::Timeout { .. })), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // State went unanswered: no halt was sent blindly.
        assert!(!sent(&requests).contains(&"Command halt".to_string()), "{:?}", sent(&requests));
    }

    #[tokio::test]
    async fn garbage_from_dlv_fails_the_trace_with_the_detail() {
        let mut r = replay();
        r.set(
            "Command",
            vec![Answer::Reply(serde_json::json!({"result": {"State": {"Threads": "not a list"}}, "error": null}))],
        );
        let (err, _, _) = run(r, &plan(100, None, Duration::from_secs(30))).await;
        let err = err.unwrap_err();
        assert!(matches!(err, TraceError::Rpc(RpcError::Malformed { .. })), "{err:?}");
        assert!(err.to_string().contains("not JSON-RPC"), "{err}");
    }
}
