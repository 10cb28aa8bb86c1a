//! The snapshot: with the target stopped by `dlv attach`, read its version, every goroutine
//! (paged) and their stacks (pipelined, within the load limits), then detach with `Kill:false`.
//! The pause is bounded: when the budget runs out godiag stops reading, keeps what it has, marks
//! the snapshot partial and detaches. This never sends `halt` (the target is already stopped,
//! and halting a stopped target kills it with SIGTRAP) and never continues it.

use super::rpc::{DelveClient, RpcError};
use super::types::{Goroutine, LoadConfig, Stackframe, StacktraceIn, Version};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// Goroutines listed per `ListGoroutines` call.
const PAGE: i64 = 1000;
/// Stacks requested per round trip.
const STACK_BATCH: usize = 64;
/// Kept back from the pause budget for the detach itself.
const DETACH_RESERVE: Duration = Duration::from_millis(500);
/// Most bytes of Delve answers one snapshot reads: what the operator holds in memory for it
/// (parsed, then written as JSON) stays a small part of its own limit, whatever the program's
/// goroutines and values look like.
pub const MAX_SNAPSHOT_BYTES: u64 = 24 << 20;

/// What the snapshot reads, from the request's `spec.delve.snapshot`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    pub max_goroutines: usize,
    pub stack_depth: i64,
    /// Locals and arguments, within `load`.
    pub locals: bool,
    pub load: LoadConfig,
    pub max_pause: Duration,
    /// Most bytes of answers read ([`MAX_SNAPSHOT_BYTES`] in the operator).
    pub max_bytes: u64,
}

/// Why a snapshot holds fewer goroutines than the program has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Partial {
    /// `maxPause` was reached.
    MaxPause,
    /// `maxGoroutines` were read; the rest were not.
    MaxGoroutines,
    /// Delve's answers reached [`MAX_SNAPSHOT_BYTES`]; godiag dropped the connection, and dlv
    /// detached by itself.
    MaxBytes,
}

/// One goroutine with its stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoroutineRecord {
    pub goroutine: Goroutine,
    pub stack: Vec<Stackframe>,
    /// Delve could not read this goroutine's stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_error: Option<String>,
}

/// Everything the snapshot read: stored as `delve-snapshot.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: Version,
    pub goroutines: Vec<GoroutineRecord>,
    /// Set when the snapshot stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// From godiag's first call to Delve's answer to the detach (the target was stopped at least
    /// this long; attaching adds the time dlv took to load the binary's debug info).
    pub paused_ms: u64,
    /// Delve acknowledged the detach.
    pub detached: bool,
    pub locals: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("the target's {target} is outside what Delve {delve} reads (Go {min} to {max}); use a newer Delve image")]
    GoVersionUnsupported { target: String, delve: String, min: String, max: String },
    #[error("the target process has exited (status {status})")]
    TargetExited { status: i64 },
    /// Delve attaches to a binary without DWARF but cannot find the runtime's goroutines.
    #[error("Delve found no Go debug information in the program: {message}")]
    NoDebugInfo { message: String },
    #[error(
        "the target is running under this dlv (started with --continue?): godiag only snapshots a target that dlv holds stopped, and does not halt it"
    )]
    TargetRunning,
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Takes the snapshot. When Delve refuses a call (the connection still works) godiag detaches
/// before it fails; after a timeout or a broken connection the caller drops the connection,
/// and dlv (not multiclient) detaches by itself.
pub async fn take<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut DelveClient<S>,
    plan: &SnapshotPlan,
) -> Result<Snapshot, SnapshotError> {
    match read(client, plan).await {
        Ok(s) => Ok(s),
        Err(e) => {
            if matches!(
                e,
                SnapshotError::NoDebugInfo { .. }
                    | SnapshotError::Rpc(RpcError::Remote { .. } | RpcError::Malformed { .. })
            ) {
                let _ = client.detach().await;
            }
            Err(e)
        }
    }
}

async fn read<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut DelveClient<S>,
    plan: &SnapshotPlan,
) -> Result<Snapshot, SnapshotError> {
    let started = Instant::now();
    client.budget = plan.max_bytes;
    let budget = plan.max_pause.saturating_sub(DETACH_RESERVE);
    let version = client.get_version().await?;
    if let Some(err) = unsupported(&version) {
        client.detach().await?;
        return Err(err);
    }
    let state = client.state().await?;
    if let Some(s) = state.state.as_ref().filter(|s| s.exited) {
        return Err(SnapshotError::TargetExited { status: s.exit_status });
    }
    if state.state.as_ref().is_some_and(|s| s.running) {
        // Attached without --continue the target is stopped; a running one means this dlv was
        // started to let it run. Reading it would need a halt: refuse, and leave it alone.
        return Err(SnapshotError::TargetRunning);
    }
    let mut partial = None;
    let mut listed: Vec<Goroutine> = Vec::new();
    let mut start = 0;
    loop {
        if started.elapsed() >= budget {
            partial = Some(Partial::MaxPause);
            break;
        }
        let want = (plan.max_goroutines - listed.len()).min(PAGE as usize) as i64;
        let page = match client.list_goroutines(start, want).await {
            // A binary without DWARF: Delve attaches but cannot find the runtime's `allgs`.
            Err(RpcError::Remote { message, .. }) if version.target_go_version.is_empty() => {
                return Err(SnapshotError::NoDebugInfo { message });
            }
            r => r?,
        };
        let got = page.goroutines.len();
        listed.extend(page.goroutines);
        if listed.len() >= plan.max_goroutines {
            listed.truncate(plan.max_goroutines);
            if page.nextg >= 0 {
                partial = Some(Partial::MaxGoroutines);
            }
            break;
        }
        if page.nextg < 0 || got == 0 {
            break;
        }
        start = page.nextg;
    }
    let cfg = plan.locals.then_some(plan.load);
    let mut records = Vec::with_capacity(listed.len());
    let mut rest = listed.into_iter().peekable();
    while rest.peek().is_some() {
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            partial = Some(Partial::MaxPause);
            break;
        }
        let batch: Vec<Goroutine> = rest.by_ref().take(STACK_BATCH).collect();
        let reqs: Vec<StacktraceIn> =
            batch.iter().map(|g| StacktraceIn { id: g.id, depth: plan.stack_depth, full: plan.locals, cfg }).collect();
        let stacks = match client.stacktraces(&reqs, left).await {
            Ok(s) => s,
            // Enough: keep what was read. The connection has unread answers, so it is dropped
            // without a detach and dlv (not multiclient) detaches on its own.
            Err(RpcError::BudgetExceeded { .. }) => {
                return Ok(Snapshot {
                    version,
                    goroutines: records,
                    partial: Some(Partial::MaxBytes),
                    paused_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    detached: false,
                    locals: plan.locals,
                });
            }
            // The budget ran out inside the batch: the connection is wedged until Delve answers,
            // so the caller drops it and dlv detaches on its own.
            Err(RpcError::Timeout { .. }) => {
                return Err(SnapshotError::Rpc(RpcError::Timeout { method: "Stacktrace", timeout: plan.max_pause }));
            }
            Err(e) => return Err(e.into()),
        };
        for (goroutine, stack) in batch.into_iter().zip(stacks) {
            let (stack, stack_error) = match stack {
                Ok(s) => (s.locations, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            records.push(GoroutineRecord { goroutine, stack, stack_error });
        }
    }
    client.detach().await?;
    Ok(Snapshot {
        version,
        goroutines: records,
        partial,
        paused_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        detached: true,
        locals: plan.locals,
    })
}

/// `(major, minor)` of `go1.26.8`, `Go cmd/compile go1.26.8` (what Delve reports), `1.27.0`,
/// `go1.27rc1`.
pub fn go_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.trim();
    let v = v.rfind("go").map_or(v, |i| &v[i + 2..]);
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// Delve checks the range on launch but not on attach: godiag checks it.
pub fn unsupported(v: &Version) -> Option<SnapshotError> {
    let (target, min, max) = (
        go_minor(&v.target_go_version)?,
        go_minor(&v.min_supported_version_of_go)?,
        go_minor(&v.max_supported_version_of_go)?,
    );
    (target < min || target > max).then(|| SnapshotError::GoVersionUnsupported {
        target: v.target_go_version.clone(),
        delve: v.delve_version.clone(),
        min: format!("{}.{}", min.0, min.1),
        max: format!("{}.{}", max.0, max.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delve::replay::{Answer, Replay};
    use serde_json::json;

    fn plan(locals: bool) -> SnapshotPlan {
        SnapshotPlan {
            max_goroutines: 10_000,
            stack_depth: 8,
            locals,
            load: LoadConfig {
                follow_pointers: true,
                max_variable_recurse: 1,
                max_string_len: 64,
                max_array_values: 16,
                max_struct_fields: 16,
            },
            max_pause: Duration::from_secs(5),
            max_bytes: MAX_SNAPSHOT_BYTES,
        }
    }

    fn methods(replay: &std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) -> Vec<String> {
        replay.lock().unwrap().iter().map(|r| r["method"].as_str().unwrap().to_string()).collect()
    }

    #[tokio::test]
    async fn a_snapshot_of_recorded_replies_reads_every_stack_then_detaches_without_kill() {
        let replay = Replay::recorded();
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        let snap = take(&mut client, &plan(true)).await.unwrap();
        assert_eq!(snap.goroutines.len(), 2);
        assert!(snap.detached && snap.partial.is_none());
        let leaked = &snap.goroutines[1];
        let names: Vec<&str> = leaked.stack.iter().map(|f| f.location.function_name()).collect();
        assert!(names.contains(&"main.leakOne"), "{names:?}");
        assert_eq!(crate::delve::render::state(&leaked.goroutine, &snap.version.target_go_version), "chan send");
        // Never a halt, never a kill; stacks always with a bounded load config.
        let reqs = sent.lock().unwrap().clone();
        assert!(reqs.iter().all(|r| r["method"] != "RPCServer.Command"), "{reqs:?}");
        let detach = reqs.iter().find(|r| r["method"] == "RPCServer.Detach").unwrap();
        assert_eq!(detach["params"][0], json!({"Kill": false}));
        for st in reqs.iter().filter(|r| r["method"] == "RPCServer.Stacktrace") {
            assert_eq!(st["params"][0]["Cfg"]["MaxStringLen"], 64, "{st}");
        }
        assert_eq!(methods(&sent).last().map(String::as_str), Some("RPCServer.Detach"));
        // The rendering is a dump the analysis reads like Go's own.
        let text = crate::delve::render::dump(&snap);
        assert!(text.contains("goroutine 1 [IO wait]:\n"), "{text}");
        let analysis = godiag_analyze::goroutine::analyze_text(text.as_bytes(), &Default::default()).unwrap();
        assert_eq!(analysis.total, 2);
        assert_eq!(analysis.by_state.get("chan send"), Some(&1));
    }

    #[tokio::test]
    async fn an_error_reply_for_one_stack_is_kept_with_that_goroutine() {
        let mut replay = Replay::recorded();
        let recorded = replay.answers["Stacktrace"].clone();
        // The second goroutine's stack fails as an unknown goroutine does.
        replay.set("Stacktrace", vec![recorded[0].clone(), recorded[2].clone()]);
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        let snap = take(&mut client, &plan(false)).await.unwrap();
        assert_eq!(
            snap.goroutines[1].stack_error.as_deref(),
            Some("Delve refused Stacktrace: unknown goroutine 999999")
        );
        let text = crate::delve::render::dump(&snap);
        assert!(text.contains("runtime.gopark(...)\n") && text.contains("main.main.gowrap1(...)\n"), "{text}");
    }

    #[tokio::test]
    async fn a_reply_that_never_comes_is_a_timeout_not_a_hang() {
        let mut replay = Replay::recorded();
        replay.set("ListGoroutines", vec![Answer::Never]);
        let mut client = DelveClient::new(replay.serve(), Duration::from_millis(200));
        let err = take(&mut client, &plan(false)).await.unwrap_err();
        assert_eq!(
            err,
            SnapshotError::Rpc(RpcError::Timeout { method: "ListGoroutines", timeout: Duration::from_millis(200) })
        );
    }

    #[tokio::test]
    async fn a_binary_without_dwarf_is_no_debug_info_and_is_detached() {
        let mut replay = Replay::recorded();
        // What Delve 1.27.2 answers attached to goapp built with -ldflags="-s -w".
        replay.set("GetVersion", vec![Answer::Reply(json!({"result": {"DelveVersion": "Version: 1.27.2", "APIVersion": 2, "TargetGoVersion": "", "MinSupportedVersionOfGo": "1.25.0", "MaxSupportedVersionOfGo": "1.27.0"}, "error": null}))]);
        replay.set(
            "ListGoroutines",
            vec![Answer::Reply(json!({"result": null, "error": "could not find goroutine array"}))],
        );
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        let err = take(&mut client, &plan(false)).await.unwrap_err();
        assert_eq!(err, SnapshotError::NoDebugInfo { message: "could not find goroutine array".into() });
        assert_eq!(methods(&sent).last().map(String::as_str), Some("RPCServer.Detach"));
    }

    #[tokio::test]
    async fn a_newer_go_than_delve_reads_is_refused_after_detaching() {
        let mut replay = Replay::recorded();
        replay.set("GetVersion", vec![Answer::Reply(json!({"result": {"DelveVersion": "Version: 1.27.2", "APIVersion": 2, "TargetGoVersion": "Go cmd/compile go1.29.1", "MinSupportedVersionOfGo": "1.25.0", "MaxSupportedVersionOfGo": "1.27.0"}, "error": null}))]);
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        let err = take(&mut client, &plan(false)).await.unwrap_err();
        assert!(
            err.to_string().contains("go1.29.1 is outside what Delve Version: 1.27.2 reads (Go 1.25 to 1.27)"),
            "{err}"
        );
        assert_eq!(methods(&sent), ["RPCServer.GetVersion", "RPCServer.Detach"]);
    }

    #[tokio::test]
    async fn the_goroutine_cap_marks_the_snapshot_partial() {
        let replay = Replay::recorded();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        let snap = take(&mut client, &SnapshotPlan { max_goroutines: 1, ..plan(false) }).await.unwrap();
        assert_eq!(snap.goroutines.len(), 1);
        // The recorded page ends the list (Nextg -1): one read, nothing left, so not partial.
        assert_eq!(snap.partial, None);
    }

    #[tokio::test]
    async fn the_byte_budget_keeps_what_was_read_and_leaves_the_detach_to_dlv() {
        let replay = Replay::recorded();
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        // Room for the version, state and goroutine list, not for the stacks with locals.
        let list_bytes = crate::delve::replay::RECORDED.lines().take(3).map(|l| l.len() as u64 + 1).sum::<u64>();
        let snap = take(&mut client, &SnapshotPlan { max_bytes: list_bytes + 100, ..plan(true) }).await.unwrap();
        assert_eq!(snap.partial, Some(Partial::MaxBytes));
        assert!(!snap.detached && snap.goroutines.is_empty());
        assert!(
            !methods(&sent).iter().any(|m| m == "RPCServer.Detach"),
            "unread answers: no detach on this connection"
        );
    }

    #[test]
    fn go_versions_as_delve_reports_them() {
        assert_eq!(go_minor("Go cmd/compile go1.26.8"), Some((1, 26)));
        assert_eq!(go_minor("go1.27rc1"), Some((1, 27)));
        assert_eq!(go_minor("1.25.0"), Some((1, 25)));
        assert_eq!(go_minor(""), None);
    }
}
