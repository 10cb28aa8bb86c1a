//! What the analysis worker writes on stdout: one JSON line, then the SVG bytes (if any).

use godiag_analyze::Analysis;
use serde::{Deserialize, Serialize};

/// Largest JSON line the parent reads (the analysis is bounded by its top-N lists and clipped
/// names; this is far above what a real one takes).
pub const MAX_REPORT_BYTES: usize = 8 << 20;

/// The worker's answer about one artifact.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReport {
    /// The analysis, when the artifact could be analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Why it could not be analysed: the analysis crate's reason and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WorkerError>,
    /// Length of the SVG that follows the JSON line (0: none).
    #[serde(default)]
    pub svg_bytes: u64,
    /// What a comparison with the pod's siblings needs of this artifact, bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<godiag_analyze::compare::Digest>,
    /// Why there is no flame graph for a kind that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flame_note: Option<String>,
    /// The worker's peak resident memory, from the kernel.
    #[serde(default)]
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerError {
    pub reason: String,
    pub message: String,
}
