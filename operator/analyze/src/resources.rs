//! What the container may use, from its pod spec (or `godiag analyze --cpu-limit …` on a
//! laptop): findings compare what the program used with these.

use serde::{Deserialize, Serialize};

/// CPU and memory requests and limits of the profiled container; each is absent when the pod
/// spec does not set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request_cores: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_cores: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    /// How often the container has restarted (its status' `restartCount`), for a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// Cores as a person writes them: `2`, `0.5`, `1.25`.
pub fn cores(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".to_string() } else { s.to_string() }
}

/// Bytes in binary units as Kubernetes writes limits: `512MiB`, `1.5GiB`.
pub fn mebibytes(v: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let f = v as f64;
    if f >= GIB { format!("{}GiB", cores(f / GIB)) } else { format!("{}MiB", cores(f / MIB)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_a_pod_spec() {
        assert_eq!(cores(2.0), "2");
        assert_eq!(cores(0.5), "0.5");
        assert_eq!(cores(1.254), "1.25");
        assert_eq!(cores(0.001), "0");
        assert_eq!(mebibytes(512 << 20), "512MiB");
        assert_eq!(mebibytes(3 << 29), "1.5GiB");
        assert_eq!(mebibytes(410 << 20), "410MiB");
    }
}
