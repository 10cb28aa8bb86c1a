//! What a report is made of, read back from a request's stored artifacts: the manifest, each
//! pod's `summary.json`, `comparison.json` and flame graphs. Everything read is bounded; what is
//! missing or too large is left out with a note, never fatal (but the manifest).

use crate::store::manifest::{Manifest, TargetEntry};
use crate::store::{ArtifactStore, StoreError, layout};
use godiag_analyze::compare::Comparison;
use godiag_analyze::summary::TargetSummary;
use godiag_analyze::{Analysis, ArtifactKind};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest `summary.json` or `comparison.json` read.
const MAX_JSON_BYTES: usize = 16 << 20;
/// Largest flame graph drawn inline; a larger one is linked.
pub const MAX_INLINE_SVG: usize = 4 << 20;
/// Flame graph bytes one report inlines in all; past it, they are linked (the report is built in
/// the operator: this bounds its memory, and a browser opens the page quickly).
pub const MAX_INLINE_TOTAL: usize = 16 << 20;

/// A pod's `summary.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSummary {
    #[serde(default)]
    pub one_line: String,
    #[serde(default)]
    pub summary: TargetSummary,
    /// Each artifact's analysis, by artifact kind name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, Analysis>,
}

/// A flame graph: inline, or only linked (and why).
#[derive(Debug, Clone, PartialEq)]
pub enum Flame {
    Inline { kind: ArtifactKind, file: String, svg: String },
    Linked { kind: ArtifactKind, file: String, why: String },
}

/// One pod of the report.
#[derive(Debug, Clone)]
pub struct PodReport {
    pub entry: TargetEntry,
    /// The pod's directory relative to the request's (what links start with).
    pub dir: String,
    pub summary: Option<StoredSummary>,
    pub comparison: Option<Comparison>,
    pub flames: Vec<Flame>,
    /// Differential flame graphs against the siblings.
    pub diffs: Vec<Flame>,
    /// What could not be read.
    pub notes: Vec<String>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub manifest: Manifest,
    pub pods: Vec<PodReport>,
}

async fn read_json<T: for<'de> Deserialize<'de>>(store: &dyn ArtifactStore, path: &str) -> Result<Option<T>, String> {
    match store.get_bytes(path).await {
        Ok(b) if b.len() > MAX_JSON_BYTES => Err(format!("{path} is larger than {} MiB", MAX_JSON_BYTES >> 20)),
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| format!("{path} is not valid: {e}")),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn read_flame(
    store: &dyn ArtifactStore,
    dir: &str,
    rel: &str,
    kind: ArtifactKind,
    file: &str,
    budget: &mut usize,
) -> Option<Flame> {
    let path = layout::join(dir, file);
    let link = |why: String| Flame::Linked { kind, file: layout::join(rel, file), why };
    match store.get_bytes(&path).await {
        Ok(b) if b.len() > MAX_INLINE_SVG || b.len() > *budget => Some(link(format!(
            "{} is too large to show inline; open it on its own",
            godiag_analyze::units::bytes(b.len() as i64)
        ))),
        Ok(b) => match String::from_utf8(b.to_vec()) {
            Ok(svg) => {
                *budget -= svg.len();
                Some(Flame::Inline { kind, file: layout::join(rel, file), svg })
            }
            Err(_) => Some(link("not UTF-8".into())),
        },
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => Some(link(e.to_string())),
    }
}

/// Reads what the report of the request stored under `request_dir` shows.
pub async fn load(store: &dyn ArtifactStore, request_dir: &str) -> Result<ReportData, StoreError> {
    let manifest = Manifest::read(store, &layout::join(request_dir, layout::MANIFEST_FILE)).await?;
    let mut budget = MAX_INLINE_TOTAL;
    let mut pods = Vec::new();
    for entry in &manifest.targets {
        let rel = layout::segment(&entry.name);
        let dir = layout::join(request_dir, &rel);
        let mut notes = Vec::new();
        let summary =
            read_json::<StoredSummary>(store, &layout::join(&dir, layout::SUMMARY)).await.unwrap_or_else(|e| {
                notes.push(e);
                None
            });
        let comparison =
            read_json::<Comparison>(store, &layout::join(&dir, layout::COMPARISON)).await.unwrap_or_else(|e| {
                notes.push(e);
                None
            });
        let mut flames = Vec::new();
        let mut diffs = Vec::new();
        for kind in entry.artifacts.iter().map(|a| a.kind).filter(|k| k.has_flame_graph()) {
            flames.extend(read_flame(store, &dir, &rel, kind, &format!("{kind}.svg"), &mut budget).await);
            if comparison.is_some() {
                let file = crate::controller::baseline::diff_svg_name(kind);
                diffs.extend(read_flame(store, &dir, &rel, kind, &file, &mut budget).await);
            }
        }
        pods.push(PodReport { entry: entry.clone(), dir: rel, summary, comparison, flames, diffs, notes });
    }
    Ok(ReportData { manifest, pods })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::TargetEntry;
    use bytes::Bytes;

    fn entry(name: &str) -> TargetEntry {
        TargetEntry {
            name: name.into(),
            source: format!("pod shop/{name}"),
            sibling: false,
            owner: None,
            artifacts: vec![],
            failures: vec![],
            error: None,
            window_start: None,
        }
    }

    #[tokio::test]
    async fn a_corrupt_or_missing_analysis_is_a_note_and_the_report_still_renders() {
        let store = crate::store::open("memory://").unwrap();
        let s = store.as_ref();
        let mut m = Manifest::new(Some("shop".into()), Some("slow".into()), jiff::Timestamp::now());
        m.targets = vec![entry("broken"), entry("bare")];
        m.write(s, "shop/slow/manifest.json").await.unwrap();
        s.put_bytes("shop/slow/broken/summary.json", Bytes::from_static(b"{\"oneLine\": 42")).await.unwrap();
        let d = load(s, "shop/slow").await.unwrap();
        assert!(d.pods[0].summary.is_none());
        assert!(d.pods[0].notes[0].starts_with("shop/slow/broken/summary.json is not valid"), "{:?}", d.pods[0].notes);
        assert!(d.pods[1].notes.is_empty(), "a missing file is not an error");
        let html = super::super::html::render(&d, jiff::Timestamp::now());
        assert!(html.contains("Pod broken") && html.contains("no analysis stored for this pod"));
        // The manifest itself is what a report cannot do without.
        assert!(load(s, "shop/none").await.is_err());
    }
}
