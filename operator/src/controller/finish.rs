//! The end of a request, once every pod is done: each target compared with its siblings
//! (`spec.baseline`), then `manifest.json`, then `report.html` made from what is stored.

use super::diagnoser::{DiagnoserError, Finished, RequestRecord};
use crate::api::{TargetPhase, TargetStatus};
use crate::store::manifest::{ArtifactEntry, FailureEntry, TargetEntry};
use crate::store::{ArtifactStore, Manifest, StoredObject, layout};
use godiag_analyze::ArtifactKind;

/// Compares, writes the manifest (an error is retried by the controller) and stores the report
/// (an error is logged: the request still finishes, without `status.report`).
pub async fn finish_request(store: &dyn ArtifactStore, record: RequestRecord) -> Result<Finished, DiagnoserError> {
    // Without spec.baseline there are no siblings to compare with, and nothing to say about it.
    let baselines = if record.baseline {
        super::baseline::compare_targets(store, &record.namespace, &record.request, &record.targets).await
    } else {
        Default::default()
    };
    let path = layout::manifest_path(&record.namespace, &record.request);
    let uri = store.uri(&path);
    let now = jiff::Timestamp::now();
    let mut manifest = Manifest::new(Some(record.namespace.clone()), Some(record.request.clone()), now);
    manifest.targets = record.targets.iter().map(|t| manifest_entry(&record, t)).collect();
    manifest
        .write(store, &path)
        .await
        .map_err(|e| DiagnoserError::ManifestWrite { uri: uri.clone(), message: e.to_string() })?;
    let request_dir = layout::request_dir(&record.namespace, &record.request);
    let report = match crate::report::store_report(store, &request_dir).await {
        Ok(o) => Some(o.uri),
        Err(e) => {
            tracing::warn!(request = %record.request, error = %e, "cannot store the report");
            None
        }
    };
    Ok(Finished { manifest: uri, report, baselines })
}

/// A pod's manifest entry from its status entry (all a restarted operator still has).
pub(crate) fn manifest_entry(record: &RequestRecord, t: &TargetStatus) -> TargetEntry {
    let dir = layout::target_dir(&record.namespace, &record.request, &t.pod);
    TargetEntry {
        name: t.pod.clone(),
        source: format!("pod {}/{}", record.namespace, t.pod),
        sibling: !t.role.is_target(),
        owner: t.owner.clone(),
        artifacts: t
            .artifacts
            .iter()
            .map(|a| {
                let kind = ArtifactKind::from(a.kind);
                let object = StoredObject {
                    path: layout::artifact_path(&dir, kind),
                    uri: a.uri.clone(),
                    bytes: u64::try_from(a.bytes).unwrap_or(0),
                    sha256: a.sha256.clone(),
                    note: None,
                };
                ArtifactEntry::new(kind, object, a.note.clone())
            })
            .collect(),
        failures: t.failures.iter().map(|f| FailureEntry::new(f.kind.into(), &f.reason, f.message.clone())).collect(),
        error: (t.phase == TargetPhase::Failed && t.failures.is_empty()).then(|| {
            format!("{}: {}", t.reason.as_deref().unwrap_or("Failed"), t.message.as_deref().unwrap_or_default())
        }),
        window_start: t.window_start.as_ref().map(|w| w.0),
    }
}
