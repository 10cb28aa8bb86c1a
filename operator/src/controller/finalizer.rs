//! The `godiag.dev/cleanup` finalizer: a request with a Delve session holds something outside the
//! object (dlv attached to a pod), so its deletion waits until godiag has let go — also when the
//! operator that opened the session is gone.

use super::error::Error;
use crate::api::{DelveMode, DiagnosisRequest};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};

pub const CLEANUP_FINALIZER: &str = "godiag.dev/cleanup";

/// True for requests whose work must be undone when they are deleted: Delve sessions.
pub fn needs_cleanup(req: &DiagnosisRequest) -> bool {
    req.spec.delve.as_ref().is_some_and(|d| d.mode == DelveMode::Session)
}

pub fn has(req: &DiagnosisRequest) -> bool {
    req.finalizers().iter().any(|f| f == CLEANUP_FINALIZER)
}

/// Adds the finalizer (a merge patch guarded by the resourceVersion: a concurrent change makes
/// it fail and the reconcile retry).
pub async fn add(requests: &Api<DiagnosisRequest>, req: &DiagnosisRequest) -> Result<(), Error> {
    let mut list = req.finalizers().to_vec();
    list.push(CLEANUP_FINALIZER.into());
    let body = serde_json::json!({ "metadata": { "finalizers": list, "resourceVersion": req.resource_version() } });
    requests.patch(&req.name_any(), &PatchParams::default(), &Patch::Merge(&body)).await?;
    Ok(())
}

/// Removes the finalizer. Not guarded by the resourceVersion: the status was usually written a
/// moment ago (a newer version), and only godiag's own entry leaves the list.
pub async fn remove(requests: &Api<DiagnosisRequest>, req: &DiagnosisRequest) -> Result<(), Error> {
    let list: Vec<String> = req.finalizers().iter().filter(|f| *f != CLEANUP_FINALIZER).cloned().collect();
    let body = serde_json::json!({ "metadata": { "finalizers": list } });
    match requests.patch(&req.name_any(), &PatchParams::default(), &Patch::Merge(&body)).await {
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(delve: serde_json::Value) -> DiagnosisRequest {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisRequest",
            "metadata": {"name": "r", "namespace": "shop", "finalizers": ["other.io/keep"]},
            "spec": {"targets": {"pods": ["a"]}, "delve": delve},
        }))
        .unwrap()
    }

    #[test]
    fn only_sessions_hold_a_finalizer() {
        assert!(needs_cleanup(&req(serde_json::json!({"mode": "Session"}))));
        assert!(!needs_cleanup(&req(serde_json::json!({"mode": "Snapshot"}))));
        assert!(!has(&req(serde_json::json!({"mode": "Session"}))), "someone else's finalizer is not ours");
    }
}
