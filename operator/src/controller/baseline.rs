//! `spec.baseline` at the end of a request: each target compared with the siblings of its owner
//! that were collected, from the digests their analyses stored (no profile is parsed again).
//! The comparison is stored as `comparison.json` with a differential flame graph per profile;
//! the target's status gets a bounded summary and the findings.

use super::diagnoser::BaselineOutcome;
use crate::api::{self, BaselineShift, BaselineSummary, TargetPhase, TargetStatus};
use crate::store::{ArtifactStore, layout};
use bytes::Bytes;
use godiag_analyze::compare::{self, Comparison, Digest, ProfileDigest};
use godiag_analyze::text::clip;
use godiag_analyze::{ArtifactKind, FlameGraph};
use std::collections::BTreeMap;

/// Largest `digests.json` read back (the worker writes a few MiB at most).
const MAX_DIGESTS_BYTES: usize = 24 << 20;
/// Functions per profile the status lists (the rest is in `comparison.json`).
const GREW_PER_PROFILE: usize = 2;
/// Percentage points a share must have grown by to be listed in the status.
const GREW_LISTED: f64 = 5.0;

async fn digests(store: &dyn ArtifactStore, dir: &str) -> Result<Vec<Digest>, String> {
    let bytes = store.get_bytes(&layout::join(dir, layout::DIGESTS)).await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_DIGESTS_BYTES {
        return Err(format!("{} is larger than {} MiB", layout::DIGESTS, MAX_DIGESTS_BYTES >> 20));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", layout::DIGESTS))
}

fn note(text: String) -> BaselineOutcome {
    BaselineOutcome {
        summary: BaselineSummary { note: Some(clip(&text, 240)), ..Default::default() },
        ..Default::default()
    }
}

/// Compares every collected target with its owner's collected siblings.
pub async fn compare_targets(
    store: &dyn ArtifactStore,
    namespace: &str,
    request: &str,
    targets: &[TargetStatus],
) -> BTreeMap<String, BaselineOutcome> {
    let mut out = BTreeMap::new();
    let siblings = |owner: &str| -> Vec<&TargetStatus> {
        targets.iter().filter(|s| !s.role.is_target() && s.owner.as_deref() == Some(owner)).collect()
    };
    for t in targets.iter().filter(|t| t.role.is_target() && !t.artifacts.is_empty()) {
        let Some(owner) = t.owner.as_deref() else {
            out.insert(t.pod.clone(), note(format!("no baseline: pod {} has no owner, so no siblings", t.pod)));
            continue;
        };
        let all = siblings(owner);
        let done: Vec<&TargetStatus> = all.iter().copied().filter(|s| s.phase == TargetPhase::Succeeded).collect();
        if done.is_empty() {
            let why = if all.is_empty() {
                format!("no baseline: {owner} has no other Running pod that is not a target")
            } else {
                format!("no baseline: none of the {} sibling(s) of {owner} could be collected", all.len())
            };
            out.insert(t.pod.clone(), note(why));
            continue;
        }
        let dir = layout::target_dir(namespace, request, &t.pod);
        let target = match digests(store, &dir).await {
            Ok(d) => d,
            Err(e) => {
                out.insert(t.pod.clone(), note(format!("no baseline: {e}")));
                continue;
            }
        };
        let mut sib = Vec::new();
        for s in done {
            match digests(store, &layout::target_dir(namespace, request, &s.pod)).await {
                Ok(d) => sib.push((s.pod.clone(), d)),
                Err(e) => tracing::info!(sibling = %s.pod, error = %e, "sibling left out of the baseline"),
            }
        }
        if sib.is_empty() {
            out.insert(t.pod.clone(), note("no baseline: no sibling's analysis could be read".into()));
            continue;
        }
        let (c, svgs) = match tokio::task::spawn_blocking(move || {
            let c = compare::compare(&target, &sib);
            let svgs = differential_graphs(&target, &sib);
            (c, svgs)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                out.insert(t.pod.clone(), note(format!("no baseline: the comparison failed: {e}")));
                continue;
            }
        };
        let mut reports = Vec::new();
        if let Ok(json) = serde_json::to_vec_pretty(&c)
            && let Ok(o) = store.put_bytes(&layout::join(&dir, layout::COMPARISON), Bytes::from(json)).await
        {
            reports.push(o.uri);
        }
        for (kind, svg) in svgs {
            if let Ok(o) = store.put_bytes(&layout::join(&dir, &diff_svg_name(kind)), Bytes::from(svg)).await {
                reports.push(o.uri);
            }
        }
        let summary = summary_of(&c, &t.pod, targets);
        let findings = c.findings.iter().cloned().map(api::Finding::from).collect();
        out.insert(t.pod.clone(), BaselineOutcome { summary, findings, reports });
    }
    out
}

/// The `go tool pprof` command that opens the same comparison (the siblings' profiles merged and
/// scaled to the target's total, then subtracted), run from a copy of the request's directory.
pub fn go_tool_diff(pod_dir: &str, siblings: &[String], kind: ArtifactKind) -> String {
    let file = kind.file_name();
    let bases: Vec<String> = siblings.iter().map(|s| format!("-diff_base={}/{file}", layout::segment(s))).collect();
    format!("go tool pprof -http=: -normalize {} {pod_dir}/{file}", bases.join(" "))
}

/// `cpu.diff.svg`: the file name of a kind's differential flame graph.
pub fn diff_svg_name(kind: ArtifactKind) -> String {
    format!("{kind}.diff.svg")
}

fn profile(ds: &[Digest], kind: ArtifactKind) -> Option<&ProfileDigest> {
    ds.iter().find_map(|d| match d {
        Digest::Profile(p) if p.kind == kind => Some(p),
        _ => None,
    })
}

/// A differential flame graph per profile kind both sides have.
fn differential_graphs(target: &[Digest], siblings: &[(String, Vec<Digest>)]) -> Vec<(ArtifactKind, String)> {
    let mut out = Vec::new();
    for kind in [ArtifactKind::Cpu, ArtifactKind::Heap, ArtifactKind::Allocs, ArtifactKind::Block, ArtifactKind::Mutex]
    {
        let Some(t) = profile(target, kind) else { continue };
        let sib: Vec<&ProfileDigest> = siblings.iter().filter_map(|(_, ds)| profile(ds, kind)).collect();
        if sib.is_empty() {
            continue;
        }
        let base = compare::baseline_stacks(t, &sib);
        let stacks: Vec<(String, i64)> = t.stacks.iter().map(|s| (s.name.clone(), s.value)).collect();
        let title = format!("{kind}: this pod against {} sibling(s) ({})", sib.len(), t.sample_type);
        if let Ok(FlameGraph::Svg(svg)) =
            godiag_analyze::flame::differential_flame_graph(&base, &stacks, &title, &t.unit)
        {
            out.push((kind, svg));
        }
    }
    out
}

/// The bounded summary for the target's status entry.
fn summary_of(c: &Comparison, pod: &str, targets: &[TargetStatus]) -> BaselineSummary {
    let grew = c
        .profiles
        .iter()
        .flat_map(|p| {
            p.shifts.iter().filter(|s| s.delta() >= GREW_LISTED).take(GREW_PER_PROFILE).map(|s| BaselineShift {
                profile: p.kind.into(),
                name: clip(&s.name, 96),
                percent: (s.target_percent * 10.0).round() / 10.0,
                siblings_percent: (s.siblings_percent * 10.0).round() / 10.0,
            })
        })
        .collect();
    let compared = c
        .profiles
        .iter()
        .map(|p| p.normalization)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| n.describe())
        .collect::<Vec<_>>()
        .join("; ");
    let has_cpu = |p: &str| {
        targets
            .iter()
            .find(|t| t.pod == p)
            .is_some_and(|t| t.artifacts.iter().any(|a| a.kind == api::ArtifactKind::Cpu))
    };
    let go_tool = (has_cpu(pod) && c.profiles.iter().any(|p| p.kind == ArtifactKind::Cpu)).then(|| {
        let siblings: Vec<String> = c.siblings.iter().filter(|s| has_cpu(s)).cloned().collect();
        clip(&go_tool_diff(&layout::segment(pod), &siblings, ArtifactKind::Cpu), 600)
    });
    BaselineSummary { siblings: c.siblings.clone(), compared, grew, go_tool, note: None }
}
