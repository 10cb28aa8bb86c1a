//! Collecting one target: the CPU profile and the trace in the same window, the snapshot
//! profiles taken right after they start, each artifact streamed to the store. A failing kind
//! never stops the others.

use super::body::{peek, read_limited, with_deadline};
use super::http;
use super::plan::{CollectPlan, Fetch};
use super::quirks::{self, ERROR_BODY_LIMIT, HttpFailure, SNIFF_LEN};
use super::{CollectError, CollectedArtifact, Connector, KindFailure, TargetOutcome, WindowGate};
use crate::store::{ArtifactStore, StoreError, layout};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::StreamExt;
use godiag_analyze::ArtifactKind;
use godiag_analyze::pprof::sample_count::SampleCounter;
use std::time::Duration;
use tokio::time::Instant;

/// Pause between starting the windowed requests (cpu, trace) and the snapshots, so the
/// snapshots land inside the window rather than before it.
const SNAPSHOT_DELAY: Duration = Duration::from_millis(200);
/// The marker error that cuts a body off at its byte cap.
#[derive(Debug, thiserror::Error)]
#[error("the body grew past its byte cap")]
struct CapExceeded;

/// A deadline that never comes, for windows too long to add to the clock.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Snapshot requests in flight at once: gentle on the target (goroutine dumps stop the world).
const SNAPSHOT_CONCURRENCY: usize = 2;

/// Where each artifact goes the moment it is stored (the operator analyses snapshots while the
/// window still runs); dropped when the collection ends.
pub type StoredSender = tokio::sync::mpsc::UnboundedSender<CollectedArtifact>;

/// Collects `plan` from the target behind `conn` into `store` under `dir`
/// (`<dir>/<kind>.<ext>`). Returns what was stored and what failed, in plan order; each stored
/// artifact is also sent to `stored` as soon as it is. The window starts when every pod of
/// `window` is ready (`who` is this one).
pub async fn collect_target(
    conn: &dyn Connector,
    plan: &CollectPlan,
    store: &dyn ArtifactStore,
    dir: &str,
    window: &WindowGate,
    who: &str,
    stored: Option<StoredSender>,
) -> TargetOutcome {
    let stored = &stored;
    let handed_over = |result: Result<CollectedArtifact, CollectError>| {
        if let (Ok(artifact), Some(tx)) = (&result, stored) {
            // The receiver may be gone (the request was deleted): the outcome still has it.
            let _ = tx.send(artifact.clone());
        }
        result
    };
    let handed_over = &handed_over;
    let fetches = plan.fetches();
    let (windowed, snapshots): (Vec<_>, Vec<_>) = fetches.iter().enumerate().partition(|(_, j)| !j.window.is_zero());
    let delay = if windowed.is_empty() { Duration::ZERO } else { SNAPSHOT_DELAY };
    let window_start = if windowed.is_empty() {
        window.release(who);
        None
    } else {
        window.ready(who, super::window::MAX_WAIT).await;
        Some(jiff::Timestamp::now())
    };

    let windowed_fut = futures::future::join_all(
        windowed
            .into_iter()
            .map(|(i, fetch)| async move { (i, handed_over(run_fetch(conn, plan, store, dir, fetch).await)) }),
    );
    // Snapshots start right after the windowed requests, a few at a time.
    let gate = tokio::sync::Semaphore::new(SNAPSHOT_CONCURRENCY);
    let gate = &gate;
    let snapshots_fut = futures::future::join_all(snapshots.into_iter().map(|(i, fetch)| async move {
        tokio::time::sleep(delay).await;
        let _permit = gate.acquire().await;
        (i, handed_over(run_fetch(conn, plan, store, dir, fetch).await))
    }));
    let (mut results, snapshot_results) = futures::future::join(windowed_fut, snapshots_fut).await;
    results.extend(snapshot_results);
    results.sort_by_key(|(i, _)| *i);

    let mut outcome = TargetOutcome { window_start, ..TargetOutcome::default() };
    for (i, result) in results {
        let kind = fetches[i].kind;
        match result {
            Ok(artifact) => outcome.artifacts.push(artifact),
            Err(CollectError::ProfileNotAvailable { .. }) if fetches[i].optional => outcome.unavailable.push(kind),
            Err(error) => {
                tracing::debug!(%kind, reason = error.reason(), %error, "collection failed");
                outcome.failures.push(KindFailure { kind, error });
            }
        }
    }
    outcome
}

/// One request, retried with backoff while another profiler or tracer holds the resource.
async fn run_fetch(
    conn: &dyn Connector,
    plan: &CollectPlan,
    store: &dyn ArtifactStore,
    dir: &str,
    fetch: &Fetch,
) -> Result<CollectedArtifact, CollectError> {
    if !fetch.retry_busy || plan.busy_retries == 0 {
        return fetch_and_store(conn, plan, store, dir, fetch).await;
    }
    let started = Instant::now();
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(plan.busy_backoff)
        .with_factor(2.0)
        .with_max_times(plan.busy_retries)
        .with_jitter();
    let result = (|| {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fetch_and_store(conn, plan, store, dir, fetch)
    })
    .retry(backoff)
    .sleep(tokio::time::sleep)
    .when(CollectError::is_busy)
    .notify(|e, after| tracing::info!(kind = %fetch.kind, reason = e.reason(), ?after, "busy; retrying"))
    .await;
    result.map_err(|e| {
        let waited = Duration::from_millis(started.elapsed().as_millis() as u64);
        e.with_attempts(attempts.load(std::sync::atomic::Ordering::Relaxed), waited)
    })
}

/// GET one endpoint, check what came back, stream it into the store.
async fn fetch_and_store(
    conn: &dyn Connector,
    plan: &CollectPlan,
    store: &dyn ArtifactStore,
    dir: &str,
    fetch: &Fetch,
) -> Result<CollectedArtifact, CollectError> {
    let target = conn.describe();
    // Saturating: a window from `godiag collect --duration 99999999999999999h` is absurd, not a panic.
    let limit = fetch.window.saturating_add(plan.grace);
    let deadline = Instant::now().checked_add(limit).unwrap_or_else(|| Instant::now() + FAR_FUTURE);
    let timeout = || CollectError::Timeout { target: target.clone(), path: fetch.request.clone(), limit };
    let body_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            timeout()
        } else {
            CollectError::BodyInterrupted {
                target: target.clone(),
                path: fetch.request.clone(),
                message: e.to_string(),
            }
        }
    };

    let response =
        tokio::time::timeout_at(deadline, http::get(conn, &fetch.request)).await.map_err(|_| timeout())??;
    let body = with_deadline(response.body, deadline);
    if response.status != 200 {
        let text = read_limited(body, ERROR_BODY_LIMIT).await;
        return Err(quirks::classify(&HttpFailure {
            target: &target,
            path: &fetch.request,
            status: response.status,
            go_pprof: response.go_pprof,
            body: &text,
            requested: fetch.window,
        }));
    }

    let (head, body) = peek(body, SNIFF_LEN).await.map_err(body_error)?;
    if let Err(expected) = quirks::check_body_start(fetch.kind.format(), &head) {
        return Err(CollectError::UnexpectedBody {
            target,
            path: fetch.request.clone(),
            expected,
            content_type: if response.content_type.is_empty() {
                "no Content-Type".into()
            } else {
                quirks::snippet(&response.content_type, 100)
            },
            snippet: quirks::snippet(&String::from_utf8_lossy(&head), 120),
        });
    }

    // Cut the body off at the cap while it streams: the store aborts the upload on the error.
    let cap = plan.caps.for_kind(fetch.kind);
    let mut seen: u64 = 0;
    let body = body
        .map(move |chunk| {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > cap { Err(std::io::Error::other(CapExceeded)) } else { Ok(chunk) }
        })
        .boxed();

    // Block and mutex profiles: count samples as they stream, to explain an empty profile. The
    // inflating happens on a blocking thread (a gzip bomb must not stall the executor), fed
    // the chunks the store receives; the count is bounded like decoding.
    let (body, counter) = if matches!(fetch.kind, ArtifactKind::Block | ArtifactKind::Mutex) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let counter = tokio::task::spawn_blocking(move || {
            let mut c = SampleCounter::default();
            while let Some(chunk) = rx.blocking_recv() {
                c.feed(&chunk);
            }
            c.finish()
        });
        let body = body
            .inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    let _ = tx.send(bytes.clone());
                }
            })
            .boxed();
        (body, Some(counter))
    } else {
        (body, None)
    };

    let path = layout::artifact_path(dir, fetch.kind);
    let object = store.put_stream(&path, body).await.map_err(|e| match e {
        StoreError::Source { source, .. } if source.get_ref().is_some_and(|e| e.is::<CapExceeded>()) => {
            CollectError::ArtifactTooLarge { target: target.clone(), path: fetch.request.clone(), limit: cap }
        }
        StoreError::Source { source, .. } => body_error(source),
        other => CollectError::Store(other),
    })?;

    // The body stream (and with it the sender) is gone once stored: the count is final.
    let samples = match counter {
        Some(c) => c.await.ok().flatten(),
        None => None,
    };
    let note = match samples {
        Some(0) => quirks::empty_profile_note(fetch.kind).map(str::to_owned),
        _ => None,
    };
    // A note of the store's (it took retries through an outage) when the profile has none.
    let note = note.or_else(|| object.note.clone());
    Ok(CollectedArtifact { kind: fetch.kind, object, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::TcpConnector;

    fn assert_send<T: Send>(_: &T) {}

    /// The controller spawns one collection per pod on the multi-threaded runtime.
    #[test]
    fn collect_target_future_is_send() {
        let conn = TcpConnector::new("127.0.0.1", 1);
        let plan = CollectPlan::default();
        let store = crate::store::open("memory://").unwrap();
        let alone = WindowGate::none();
        let fut = collect_target(&conn, &plan, store.as_ref(), "x", &alone, "x", None);
        assert_send(&fut);
    }

    /// An absurd window (`godiag collect --duration 99999999999999999h`) is a failed fetch, not a
    /// panic on adding durations.
    #[tokio::test]
    async fn an_absurd_window_does_not_panic() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conn = TcpConnector::new("127.0.0.1", port);
        let plan = CollectPlan {
            kinds: vec![crate::api::ProfileKind::Cpu],
            cpu_duration: Duration::MAX,
            busy_retries: 0,
            ..CollectPlan::default()
        };
        let store = crate::store::open("memory://").unwrap();
        let outcome = collect_target(&conn, &plan, store.as_ref(), "x", &WindowGate::none(), "x", None).await;
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(outcome.failures[0].error.reason(), "NoPprofEndpoint", "nothing listens there");
    }
}
