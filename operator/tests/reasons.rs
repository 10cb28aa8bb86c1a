//! Every reason a user can see is one the code produces, and every reason the code produces is
//! explained: in the CRD (`kubectl explain diag.status.targets.reason`) and in the README's
//! troubleshooting table. Both directions fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use godiag::collect::ArtifactReason;
use godiag::controller::diagnoser::DiagnoserError;
use godiag::controller::error::Error as ReconcileError;
use godiag::controller::select::SelectionError;
use godiag::controller::siblings::BaselineReason;
use godiag::controller::status::{COND_BASELINE_SELECTED, COND_COMPLETE, COND_TARGETS_RESOLVED, EVENT_STORAGE_RETRIED};
use godiag::controller::target_failure::TargetReason;
use godiag::delve::DelveReason;
use std::collections::BTreeSet;
use std::path::Path;
use strum::IntoEnumIterator;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The words of `text` spelled like reasons: CamelCase with at least two humps (`PodNotFound`,
/// `NoPodIP`), or a one-hump word that is a real reason (`Timeout`; other capitalised words such
/// as "Running" are prose).
fn reason_words(text: &str) -> BTreeSet<String> {
    let real: BTreeSet<String> = target_reasons().into_iter().chain(trigger_reasons()).collect();
    let mut out = BTreeSet::new();
    for w in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let humps = w.chars().filter(char::is_ascii_uppercase).count();
        let camel =
            w.len() > 3 && w.starts_with(|c: char| c.is_ascii_uppercase()) && w.chars().any(|c| c.is_ascii_lowercase());
        if camel && (humps >= 2 || real.contains(w)) {
            out.insert(w.to_string());
        }
    }
    out
}

/// What a pod's `reason` (and a failed artifact's) can hold.
fn target_reasons() -> BTreeSet<String> {
    TargetReason::iter()
        .map(|r| r.as_str().to_string())
        .chain(ArtifactReason::iter().map(|r| r.as_str().to_string()))
        .chain(DelveReason::iter().map(|r| r.as_str().to_string()))
        .collect()
}

/// What a trigger can say about an alert that created nothing (status `suppressedBy`, Events).
fn trigger_reasons() -> Vec<String> {
    godiag::webhook::outcome::SuppressReason::iter()
        .filter(|r| *r != godiag::webhook::outcome::SuppressReason::InvalidTrigger) // a receiver outcome, not an Event
        .map(|r| r.reason().to_string())
        .chain(["CreateFailed".to_string()])
        .collect()
}

/// Reasons at the request level: conditions, selection failures, reconcile failures, phases.
fn request_reasons() -> BTreeSet<String> {
    let selection = [
        SelectionError::NoMatchingPods { selector: String::new(), namespace: String::new() },
        SelectionError::NoRunningPods {
            selector: String::new(),
            namespace: String::new(),
            count: 0,
            states: String::new(),
        },
    ];
    let storage = DiagnoserError::ManifestWrite { uri: String::new(), message: String::new() };
    let reconcile = [ReconcileError::InvalidSelector(String::new()), ReconcileError::MissingMetadata("uid")];
    selection
        .iter()
        .map(|e| e.reason().to_string())
        .chain(reconcile.iter().map(|e| e.reason().to_string()))
        .chain([
            storage.reason().to_string(),
            COND_TARGETS_RESOLVED.into(),
            COND_COMPLETE.into(),
            EVENT_STORAGE_RETRIED.into(),
            COND_BASELINE_SELECTED.into(),
        ])
        .chain(BaselineReason::iter().map(|r| r.reason().to_string()))
        .chain(["PartiallySucceeded".to_string()])
        .collect()
}

/// The `description`s of the `reason` fields under `status.targets` in the CRD (a pod's reason
/// and its failed artifacts' reasons; conditions have Kubernetes' own `reason`).
fn crd_reason_docs() -> String {
    let crds: Vec<serde_json::Value> = godiag::api::crds().iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    let mut docs = String::new();
    fn walk(v: &serde_json::Value, in_targets: bool, docs: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, child) in m {
                    if in_targets
                        && k == "reason"
                        && let Some(d) = child.get("description").and_then(|d| d.as_str())
                    {
                        docs.push_str(d);
                        docs.push('\n');
                    }
                    walk(child, in_targets || k == "targets", docs);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, in_targets, docs)),
            _ => {}
        }
    }
    crds.iter().for_each(|c| walk(c, false, &mut docs));
    docs
}

#[test]
fn the_crd_documents_exactly_the_reasons_a_target_can_have() {
    let documented = reason_words(&crd_reason_docs());
    let produced = target_reasons();
    let unknown: Vec<_> = documented.difference(&produced).collect();
    let undocumented: Vec<_> = produced.difference(&documented).collect();
    assert!(unknown.is_empty(), "the CRD names reasons godiag never produces: {unknown:?}");
    assert!(undocumented.is_empty(), "reasons missing from the CRD's reason docs (kubectl explain): {undocumented:?}");
}

#[test]
fn the_readme_troubleshooting_table_explains_every_reason_and_only_real_ones() {
    let readme = repo_file("README.md");
    let start = readme.find("## Troubleshooting").expect("README has a Troubleshooting section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    // The first column ("you see") of each row: the reasons as a user meets them.
    let named: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).flat_map(reason_words).collect::<Vec<_>>())
        .collect();
    let known: BTreeSet<String> =
        target_reasons().union(&request_reasons()).cloned().chain(trigger_reasons()).collect();
    let unknown: Vec<_> = named.difference(&known).collect();
    assert!(unknown.is_empty(), "README troubleshooting names reasons godiag never produces: {unknown:?}");
    // Why a request has no baseline is a Warning Event and a False condition: explained too.
    let no_baseline =
        BaselineReason::iter().filter(|r| *r != BaselineReason::SiblingsSelected).map(|r| r.reason().to_string());
    let missing: Vec<_> = target_reasons()
        .into_iter()
        .chain(trigger_reasons())
        .chain(no_baseline)
        .filter(|r| !named.contains(r))
        .collect();
    assert!(missing.is_empty(), "README troubleshooting does not explain: {missing:?}");
}
