//! Leader election: of all replicas, only the holder of a coordination.k8s.io Lease runs the
//! controller (kube-lease-manager does the locking, by server-side apply). A standby waits; a
//! leader that loses its Lease stops at once (the process exits and restarts as a standby), so
//! two controllers never collect for the same request. On a clean shutdown the Lease is released
//! and a standby takes over without waiting for it to expire.

use crate::cli::LeaderArgs;
use anyhow::Context;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::time::Duration;

/// Renew the Lease this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(5);

/// Runs `controller` while this process holds the Lease (at once when election is off).
/// Returns when the controller ends (shutdown), or an error when the Lease was lost. `leader`
/// (the `godiag_leader` metric) is 1 while this process runs the controller.
pub async fn run_when_leader<F: Future<Output = ()>>(
    client: Client,
    args: &LeaderArgs,
    leader_gauge: Gauge,
    controller: F,
) -> anyhow::Result<()> {
    if !args.leader_election {
        leader_gauge.set(1);
        controller.await;
        return Ok(());
    }
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("godiag-{}", std::process::id()));
    let duration = args.lease_duration.as_secs().max(RENEW_BEFORE.as_secs() + 1);
    let manager = LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&args.lease_namespace)
        .with_identity(&identity)
        .with_duration(duration)
        .with_grace(RENEW_BEFORE.as_secs())
        .build()
        .await
        .map_err(|e: LeaseManagerError| anyhow::anyhow!(e))
        .with_context(|| format!("cannot use Lease {}/{}", args.lease_namespace, args.lease_name))?;
    let (mut leader, lease_task) = manager.watch().await;
    tracing::info!(lease = %args.lease_name, %identity, "standby: waiting to hold the Lease");
    while !*leader.borrow_and_update() {
        leader.changed().await.context("the Lease watcher stopped")?;
    }
    leader_gauge.set(1);
    tracing::info!(lease = %args.lease_name, %identity, "elected leader: starting the controller");
    let lost = async {
        loop {
            if leader.changed().await.is_err() || !*leader.borrow() {
                return;
            }
        }
    };
    let outcome = tokio::select! {
        () = controller => Ok(()),
        () = lost => Err(anyhow::anyhow!(
            "lost the Lease {}: stopping so that only the new leader collects", args.lease_name
        )),
    };
    leader_gauge.set(0);
    // Dropping the receiver makes the watcher release the Lease (a clean shutdown hands over
    // at once); wait for it briefly.
    drop(leader);
    let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
    outcome
}
