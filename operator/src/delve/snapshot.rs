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

/// What the snapshot reads, from the request's `spec.delve.snapshot`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    pub max_goroutines: usize,
    pub stack_depth: i64,
    /// Locals and arguments, within `load`.
    pub locals: bool,
    pub load: LoadConfig,
    pub max_pause: Duration,
}

/// Why a snapshot holds fewer goroutines than the program has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Partial {
    /// `maxPause` was reached.
    MaxPause,
    /// `maxGoroutines` were read; the rest were not.
    MaxGoroutines,
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
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Takes the snapshot. On a version mismatch or exited target it detaches first, then fails.
/// After an RPC error the caller drops the connection (dlv then detaches by itself).
pub async fn take<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut DelveClient<S>,
    plan: &SnapshotPlan,
) -> Result<Snapshot, SnapshotError> {
    let started = Instant::now();
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
    let mut partial = None;
    let mut listed: Vec<Goroutine> = Vec::new();
    let mut start = 0;
    loop {
        if started.elapsed() >= budget {
            partial = Some(Partial::MaxPause);
            break;
        }
        let want = (plan.max_goroutines - listed.len()).min(PAGE as usize) as i64;
        let page = client.list_goroutines(start, want).await?;
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
        let reqs: Vec<StacktraceIn> = batch
            .iter()
            .map(|g| StacktraceIn { id: g.id, depth: plan.stack_depth, full: plan.locals, cfg })
            .collect();
        let stacks = match client.stacktraces(&reqs, left).await {
            Ok(s) => s,
            // The budget ran out inside the batch: the connection is wedged until Delve answers,
            // so the caller drops it and dlv detaches on its own.
            Err(RpcError::Timeout { .. }) => return Err(SnapshotError::Rpc(RpcError::Timeout {
                method: "Stacktrace",
                timeout: plan.max_pause,
            })),
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

/// `(major, minor)` of `go1.26.8`, `1.27.0`, `go1.27rc1`.
pub fn go_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.trim().trim_start_matches("go");
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// Delve checks the range on launch but not on attach: godiag checks it.
fn unsupported(v: &Version) -> Option<SnapshotError> {
    let (target, min, max) =
        (go_minor(&v.target_go_version)?, go_minor(&v.min_supported_version_of_go)?, go_minor(&v.max_supported_version_of_go)?);
    (target < min || target > max).then(|| SnapshotError::GoVersionUnsupported {
        target: v.target_go_version.clone(),
        delve: v.delve_version.clone(),
        min: format!("{}.{}", min.0, min.1),
        max: format!("{}.{}", max.0, max.1),
    })
}
