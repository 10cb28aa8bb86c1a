//! The profiled container's requests and limits (pod spec) and restart count (pod status), for
//! the analysis.

use godiag_analyze::Resources;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// A Kubernetes quantity as a number of base units (cores, bytes).
pub fn quantity(s: &str) -> Result<f64, String> {
    let q: kube_quantity::ParsedQuantity =
        s.try_into().map_err(|e| format!("{s:?} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi): {e}"))?;
    q.to_bytes_f64().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| format!("{s:?} is out of range"))
}

fn get(m: Option<&BTreeMap<String, Quantity>>, key: &str) -> Option<f64> {
    m?.get(key).and_then(|q| quantity(&q.0).ok())
}

/// Requests and limits of `container` in `pod`; a quantity that does not parse counts as unset.
pub fn container_resources(pod: &Pod, container: &str) -> Resources {
    let Some(c) = pod.spec.as_ref().and_then(|s| s.containers.iter().find(|c| c.name == container)) else {
        return Resources::default();
    };
    let r = c.resources.as_ref();
    let (req, lim) = (r.and_then(|r| r.requests.as_ref()), r.and_then(|r| r.limits.as_ref()));
    let bytes = |v: Option<f64>| v.map(|b| b.round() as u64);
    Resources {
        cpu_request_cores: get(req, "cpu"),
        cpu_limit_cores: get(lim, "cpu"),
        memory_request_bytes: bytes(get(req, "memory")),
        memory_limit_bytes: bytes(get(lim, "memory")),
        restarts: restarts(pod, container),
    }
}

/// The container's restart count from the pod's status.
pub fn restarts(pod: &Pod, container: &str) -> Option<u32> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find(|c| c.name == container).map(|c| c.restart_count.max(0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_limits_come_from_the_target_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "sidecar", "resources": {"limits": {"cpu": "4"}}},
                {"name": "app", "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"cpu": "1500m", "memory": "0.5Gi"}
                }}
            ]}
        }))
        .unwrap();
        let r = container_resources(&pod, "app");
        assert_eq!(r.cpu_request_cores, Some(0.25));
        assert_eq!(r.cpu_limit_cores, Some(1.5));
        assert_eq!(r.memory_request_bytes, Some(256 << 20));
        assert_eq!(r.memory_limit_bytes, Some(512 << 20));
        assert_eq!(container_resources(&pod, "missing"), Resources::default());
        assert!(quantity("lots").is_err());
        assert_eq!(quantity("1k").unwrap(), 1000.0);
    }
}
