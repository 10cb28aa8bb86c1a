//! `spec.baseline`: healthy siblings of each target, collected in the same window, to compare
//! the target with. Every `///` comment on a field is user documentation (`kubectl explain`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Also collect, in the same window and with the same `pprof` settings, from up to `siblings`
/// healthy siblings of each target: pods of the same owner (ReplicaSet, StatefulSet, DaemonSet,
/// Job) that are Running and are not targets themselves (20 siblings at most in all). Each
/// target is then compared with its
/// siblings: the functions whose share of CPU, heap or allocations grew most, the goroutine
/// groups found only or mostly in the target, and the trace figures side by side. Shares are of
/// each pod's own total, so a busier sibling does not look like a regression. Siblings are
/// listed in `status.targets` with role Sibling; their failures do not fail the request. With no
/// sibling available the request runs anyway and condition BaselineSelected says why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSpec {
    /// Siblings to collect per owner of the targets (1–5), oldest first.
    #[serde(default = "default_siblings")]
    #[schemars(range(min = 1, max = 5))]
    pub siblings: i32,
    /// Only siblings whose labels also match this selector (e.g. `track: stable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

fn default_siblings() -> i32 {
    3
}

impl Default for BaselineSpec {
    fn default() -> Self {
        BaselineSpec { siblings: default_siblings(), selector: None }
    }
}

/// Why a pod is in the request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum TargetRole {
    /// A pod the request diagnoses.
    #[default]
    Target,
    /// A healthy sibling collected for `spec.baseline`, to compare the targets with.
    Sibling,
}

impl TargetRole {
    pub fn is_target(&self) -> bool {
        *self == TargetRole::Target
    }
}

/// How one pod compares with its siblings (the full comparison is in `comparison.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSummary {
    /// The siblings this pod was compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<String>,
    /// How values were made comparable between pods of unequal load.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub compared: String,
    /// The functions and allocation sites whose share grew most, by 5 points or more (two per
    /// profile at most).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grew: Vec<BaselineShift>,
    /// Opens the same CPU comparison in Go's own tool, from a copy of `status.artifactRoot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_tool: Option<String>,
    /// Why this pod has no comparison, when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One function's share here and in the siblings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineShift {
    /// The profile: cpu, heap, allocs, block, mutex.
    pub profile: super::ArtifactKind,
    pub name: String,
    /// Share of this pod's total, in percent.
    pub percent: f64,
    /// Mean of the siblings' shares, in percent.
    pub siblings_percent: f64,
}
