//! Target selection (pure): which pods a request diagnoses, decided once from the pods that exist
//! when the request starts.

use super::pod_check::{check_pod, pod_phase};
use super::target_failure::TargetFailure;
use crate::api::{TargetPhase, TargetRole, TargetStatus, Targets};
use k8s_openapi::api::core::v1::Pod;

/// Why a request has no pod to diagnose at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectionError {
    #[error("selector {selector} matched no pods in namespace {namespace}")]
    NoMatchingPods { selector: String, namespace: String },
    #[error("selector {selector} matched {count} pod(s) in namespace {namespace}, but none is Running: {states}")]
    NoRunningPods { selector: String, namespace: String, count: usize, states: String },
}

impl SelectionError {
    pub fn reason(&self) -> &'static str {
        match self {
            SelectionError::NoMatchingPods { .. } => "NoMatchingPods",
            SelectionError::NoRunningPods { .. } => "NoRunningPods",
        }
    }
}

pub(super) fn is_collectable(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod_phase(pod) == "Running"
}

/// Renders a label selector the way `kubectl` prints one (`app=checkout,tier in (web)`).
pub fn selector_string(targets: &Targets) -> String {
    let Some(sel) = &targets.selector else { return String::new() };
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            op => format!("{} {} ({values})", e.key, op.to_lowercase()),
        });
    }
    if parts.is_empty() { "{} (every pod)".into() } else { parts.join(",") }
}

/// Pods ordered oldest first, then by name.
pub(super) fn oldest_first(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ta.cmp(&tb).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

pub(super) fn target(
    pod: String,
    container: Option<String>,
    phase: TargetPhase,
    reason: Option<&str>,
    message: String,
) -> TargetStatus {
    TargetStatus {
        pod,
        role: TargetRole::Target,
        owner: None,
        container,
        phase,
        reason: reason.map(str::to_string),
        message: Some(message),
        attempts: 0,
        artifacts: vec![],
        failures: vec![],
        summary: None,
        reports: vec![],
        window_start: None,
    }
}

/// Turns the pods that exist now into the request's fixed target list.
///
/// * `selector`: `pods` are the pods the selector matched (the caller lists them by label). Only
///   Running pods that are not being deleted are chosen, oldest first, at most `maxPods`.
/// * `pods`: `pods` are the named pods that exist. Every named pod becomes a target; a missing or
///   non-Running one is a Failed target with a message, so the user sees why.
pub fn select_targets(targets: &Targets, namespace: &str, pods: &[Pod]) -> Result<Vec<TargetStatus>, SelectionError> {
    let max = usize::try_from(targets.max_pods.max(1)).unwrap_or(1);
    let chosen: Vec<TargetStatus> = if let Some(names) = &targets.pods {
        names
            .iter()
            .take(max)
            .map(|name| match pods.iter().find(|p| p.metadata.name.as_deref() == Some(name)) {
                None => failed(
                    name.clone(),
                    &TargetFailure::PodNotFound { pod: name.clone(), namespace: namespace.to_string() },
                ),
                Some(pod) => classify(pod, name, targets.container.as_deref()),
            })
            .collect()
    } else {
        let mut running: Vec<&Pod> = pods.iter().filter(|p| is_collectable(p)).collect();
        if running.is_empty() {
            let selector = selector_string(targets);
            return Err(if pods.is_empty() {
                SelectionError::NoMatchingPods { selector, namespace: namespace.into() }
            } else {
                let states = pods
                    .iter()
                    .map(|p| {
                        let state = if p.metadata.deletion_timestamp.is_some() { "Terminating" } else { pod_phase(p) };
                        format!("{} is {state}", p.metadata.name.as_deref().unwrap_or("?"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                SelectionError::NoRunningPods { selector, namespace: namespace.into(), count: pods.len(), states }
            });
        }
        running.sort_by(|a, b| oldest_first(a, b));
        running
            .into_iter()
            .take(max)
            .map(|p| classify(p, p.metadata.name.as_deref().unwrap_or_default(), targets.container.as_deref()))
            .collect()
    };
    Ok(chosen)
}

fn classify(pod: &Pod, name: &str, container: Option<&str>) -> TargetStatus {
    match check_pod(pod, name, container) {
        Ok(c) => target(name.into(), Some(c), TargetPhase::Pending, None, "waiting to collect".into()),
        Err(f) => failed(name.into(), &f),
    }
}

fn failed(pod: String, f: &TargetFailure) -> TargetStatus {
    target(pod, None, TargetPhase::Failed, Some(f.reason().as_str()), f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_pods::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
    use std::collections::BTreeMap;

    fn by_selector(max: i32) -> Targets {
        Targets {
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "checkout".to_string())])),
                ..Default::default()
            }),
            max_pods: max,
            ..Default::default()
        }
    }

    #[test]
    fn selector_picks_running_pods_oldest_first_up_to_max() {
        let pods = [
            pod("young", "Running", 10),
            pod("pending", "Pending", 500),
            pod("old", "Running", 100),
            pod("mid", "Running", 50),
        ];
        let t = select_targets(&by_selector(2), "shop", &pods).unwrap();
        let names: Vec<_> = t.iter().map(|t| t.pod.as_str()).collect();
        assert_eq!(names, ["old", "mid"]);
        assert!(t.iter().all(|t| t.phase == TargetPhase::Pending && t.container.as_deref() == Some("app")));
    }

    #[test]
    fn selector_matching_nothing_says_so() {
        let err = select_targets(&by_selector(5), "shop", &[]).unwrap_err();
        assert_eq!(err.reason(), "NoMatchingPods");
        assert_eq!(err.to_string(), "selector app=checkout matched no pods in namespace shop");
    }

    #[test]
    fn selector_matching_only_non_running_pods_lists_their_states() {
        let mut terminating = pod("b", "Running", 1);
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let err = select_targets(&by_selector(5), "shop", &[pod("a", "Pending", 1), terminating]).unwrap_err();
        assert_eq!(err.reason(), "NoRunningPods");
        assert!(err.to_string().ends_with("none is Running: a is Pending, b is Terminating"), "{err}");
    }

    #[test]
    fn named_pods_missing_or_not_running_become_failed_targets() {
        let targets =
            Targets { pods: Some(vec!["a".into(), "gone".into(), "p".into()]), max_pods: 5, ..Default::default() };
        let t = select_targets(&targets, "shop", &[pod("a", "Running", 1), pod("p", "Pending", 1)]).unwrap();
        assert_eq!(t[0].phase, TargetPhase::Pending);
        assert_eq!((t[1].phase, t[1].reason.as_deref()), (TargetPhase::Failed, Some("PodNotFound")));
        assert_eq!(t[1].message.as_deref(), Some("pod gone does not exist in namespace shop"));
        assert_eq!((t[2].phase, t[2].reason.as_deref()), (TargetPhase::Failed, Some("PodNotRunning")));
    }

    #[test]
    fn missing_container_is_reported_with_the_containers_that_exist() {
        let targets =
            Targets { pods: Some(vec!["a".into()]), container: Some("web".into()), max_pods: 5, ..Default::default() };
        let t = select_targets(&targets, "shop", &[pod("a", "Running", 1)]).unwrap();
        assert_eq!(t[0].reason.as_deref(), Some("ContainerMissing"));
        assert_eq!(t[0].message.as_deref(), Some("pod a: pod has no container \"web\" (containers: app, sidecar)"));
    }
}
