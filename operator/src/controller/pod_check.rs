//! The pure pod check: from a pod (as the API server returned it) and the task for it, either
//! everything collection needs — container, port, how to reach it, the collection plan — or the
//! typed [`TargetFailure`] that says why not. Used when targets are selected and again right
//! before collection starts.

use super::diagnoser::TargetTask;
use super::target_failure::TargetFailure;
use crate::api::{Access, PprofSpec};
use crate::collect::CollectPlan;
use k8s_openapi::api::core::v1::Pod;

/// Everything collection from one pod needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedTarget {
    /// The container whose Go program is diagnosed.
    pub container: String,
    /// The pprof server's port in the pod.
    pub port: u16,
    /// How to reach that port.
    pub access: PodAccess,
    /// What to fetch.
    pub plan: CollectPlan,
}

/// How godiag reaches the pod's pprof port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAccess {
    /// Through the API server's port-forward (`pods/portforward`).
    PortForward,
    /// Straight to the pod's IP.
    PodIp(String),
}

/// Whether `pod` can be diagnosed now: the container to diagnose, or why not.
pub fn check_pod(pod: &Pod, name: &str, container: Option<&str>) -> Result<String, TargetFailure> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Err(TargetFailure::PodTerminating { pod: name.to_string() });
    }
    let phase = pod_phase(pod);
    if phase != "Running" {
        return Err(TargetFailure::PodNotRunning { pod: name.to_string(), phase: phase.to_string() });
    }
    target_container(pod, container).map_err(|detail| TargetFailure::ContainerMissing { pod: name.to_string(), detail })
}

/// Everything [`check_pod`] checks, plus the container's state, the port, the access and the
/// durations of the plan.
pub fn prepare_target(pod: &Pod, task: &TargetTask) -> Result<PreparedTarget, TargetFailure> {
    let name = task.pod.as_str();
    let container = check_pod(pod, name, task.container.as_deref())?;
    if let Some(state) = container_not_running(pod, &container) {
        return Err(TargetFailure::ContainerNotRunning { pod: name.to_string(), container, state });
    }
    let port = resolve_port(pod, &container, &task.pprof)
        .map_err(|detail| TargetFailure::PortNotFound { pod: name.to_string(), detail })?;
    let access = match task.pprof.access {
        Access::PortForward => PodAccess::PortForward,
        Access::PodIp => match pod.status.as_ref().and_then(|s| s.pod_ip.clone()) {
            Some(ip) => PodAccess::PodIp(ip),
            None => return Err(TargetFailure::NoPodIp { pod: name.to_string() }),
        },
    };
    let plan = plan_for(&task.pprof).map_err(TargetFailure::InvalidDuration)?;
    Ok(PreparedTarget { container, port, access, plan })
}

/// The collection plan of a pprof spec; durations were validated by the API server, but an
/// object that predates a schema change could still carry a bad one.
pub fn plan_for(pprof: &PprofSpec) -> Result<CollectPlan, String> {
    let cpu = crate::api::duration::parse(&pprof.duration)?;
    let trace = crate::api::duration::parse(&pprof.trace_duration)?;
    Ok(CollectPlan::new(pprof.profiles.clone(), &pprof.path, cpu, trace))
}

pub(crate) fn pod_phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Unknown")
}

/// `None` when the container runs; otherwise its state in words.
fn container_not_running(pod: &Pod, container: &str) -> Option<String> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?;
    let state = status.state.as_ref()?;
    if state.running.is_some() {
        return None;
    }
    if let Some(w) = &state.waiting {
        return Some(format!("waiting ({})", w.reason.as_deref().unwrap_or("no reason given")));
    }
    if let Some(t) = &state.terminated {
        return Some(format!(
            "terminated ({}, exit code {})",
            t.reason.as_deref().unwrap_or("no reason given"),
            t.exit_code
        ));
    }
    None
}

/// The container godiag diagnoses in `pod`: the requested one, else the pod's
/// `kubectl.kubernetes.io/default-container`, else its first container.
fn target_container(pod: &Pod, requested: Option<&str>) -> Result<String, String> {
    let spec = pod.spec.as_ref();
    let names: Vec<&str> = spec.map(|s| s.containers.iter().map(|c| c.name.as_str()).collect()).unwrap_or_default();
    if let Some(want) = requested {
        return if names.contains(&want) {
            Ok(want.to_string())
        } else {
            Err(format!("pod has no container {want:?} (containers: {})", names.join(", ")))
        };
    }
    let default = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
        .filter(|c| names.contains(&c.as_str()));
    match (default, names.first()) {
        (Some(c), _) => Ok(c.clone()),
        (None, Some(first)) => Ok((*first).to_string()),
        (None, None) => Err("pod has no containers".into()),
    }
}

/// The pod port of the pprof server: `port`, the container port named `portName`, or 6060.
fn resolve_port(pod: &Pod, container: &str, pprof: &PprofSpec) -> Result<u16, String> {
    let port = match (&pprof.port, &pprof.port_name) {
        (Some(p), _) => *p,
        (None, Some(name)) => {
            let ports = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|c| c.name == container))
                .and_then(|c| c.ports.clone())
                .unwrap_or_default();
            match ports.iter().find(|p| p.name.as_deref() == Some(name.as_str())) {
                Some(p) => p.container_port,
                None => {
                    let names: Vec<String> = ports.iter().filter_map(|p| p.name.clone()).collect();
                    return Err(format!(
                        "container {container} has no port named {name:?} (named ports: {})",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ));
                }
            }
        }
        (None, None) => PprofSpec::DEFAULT_PORT,
    };
    u16::try_from(port).map_err(|_| format!("port {port} is not a valid TCP port"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::target_failure::TargetReason;
    use crate::controller::test_pods::pod;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    fn task(pprof: PprofSpec) -> TargetTask {
        TargetTask { namespace: "shop".into(), request: "r".into(), pod: "a".into(), container: None, pprof }
    }

    fn reason(r: Result<PreparedTarget, TargetFailure>) -> TargetReason {
        r.unwrap_err().reason()
    }

    #[test]
    fn a_running_pod_is_prepared_with_container_port_access_and_plan() {
        let p = prepare_target(&pod("a", "Running", 1), &task(PprofSpec::default())).unwrap();
        assert_eq!((p.container.as_str(), p.port, &p.access), ("app", 6060, &PodAccess::PortForward));
        assert!(!p.plan.fetches().is_empty());
    }

    #[test]
    fn every_reason_the_check_can_give() {
        let t = task(PprofSpec::default());
        let mut gone = pod("a", "Running", 1);
        gone.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(reason(prepare_target(&gone, &t)), TargetReason::PodTerminating);
        assert_eq!(reason(prepare_target(&pod("a", "Pending", 1), &t)), TargetReason::PodNotRunning);
        let web = TargetTask { container: Some("web".into()), ..t.clone() };
        assert_eq!(reason(prepare_target(&pod("a", "Running", 1), &web)), TargetReason::ContainerMissing);

        let mut waiting = pod("a", "Running", 1);
        waiting.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            name: "app".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some("CrashLoopBackOff".into()), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let f = prepare_target(&waiting, &t).unwrap_err();
        assert_eq!(f.reason(), TargetReason::ContainerNotRunning);
        assert_eq!(f.to_string(), "container app of pod a is waiting (CrashLoopBackOff)");

        let named = task(PprofSpec { port_name: Some("debug".into()), ..PprofSpec::default() });
        assert_eq!(reason(prepare_target(&pod("a", "Running", 1), &named)), TargetReason::PortNotFound);
        let pod_ip = task(PprofSpec { access: Access::PodIp, ..PprofSpec::default() });
        assert_eq!(reason(prepare_target(&pod("a", "Running", 1), &pod_ip)), TargetReason::NoPodIp);
        let bad = task(PprofSpec { duration: "soon".into(), ..PprofSpec::default() });
        assert_eq!(reason(prepare_target(&pod("a", "Running", 1), &bad)), TargetReason::InvalidDuration);
    }

    #[test]
    fn default_container_annotation_wins_over_first_container() {
        let mut p = pod("a", "Running", 1);
        p.metadata.annotations =
            Some(BTreeMap::from([("kubectl.kubernetes.io/default-container".into(), "sidecar".into())]));
        assert_eq!(target_container(&p, None).unwrap(), "sidecar");
        assert_eq!(target_container(&pod("b", "Running", 1), None).unwrap(), "app");
    }

    #[test]
    fn port_comes_from_port_then_port_name_then_default() {
        let mut p = pod("a", "Running", 1);
        p.spec.as_mut().unwrap().containers[0].ports = Some(vec![k8s_openapi::api::core::v1::ContainerPort {
            name: Some("pprof".into()),
            container_port: 7070,
            ..Default::default()
        }]);
        let mut spec = PprofSpec::default();
        assert_eq!(resolve_port(&p, "app", &spec), Ok(6060));
        spec.port_name = Some("pprof".into());
        assert_eq!(resolve_port(&p, "app", &spec), Ok(7070));
        spec.port_name = Some("debug".into());
        assert_eq!(
            resolve_port(&p, "app", &spec),
            Err("container app has no port named \"debug\" (named ports: pprof)".into())
        );
        spec.port = Some(9090);
        assert_eq!(resolve_port(&p, "app", &spec), Ok(9090));
    }
}
