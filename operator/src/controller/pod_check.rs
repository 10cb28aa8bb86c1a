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

/// Which ports a request may make godiag connect to. godiag's grant reaches every pod, so
/// without a rule anyone allowed to create a DiagnosisRequest could use godiag to open any port
/// of any pod in their namespace (a confused deputy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortPolicy {
    /// Only the port the pod itself declares for pprof: the annotation
    /// [`PPROF_PORT_ANNOTATION`], else a container port named [`PPROF_PORT_NAME`].
    #[default]
    Declared,
    /// Any port the request names (default 6060): for clusters where everyone who may create
    /// a request may also port-forward to the pods.
    Any,
}

/// Pod annotation declaring the pprof port: a number (`"6060"`) or a container port name.
pub const PPROF_PORT_ANNOTATION: &str = "godiag.dev/pprof-port";
/// Container port name that declares the pprof port.
pub const PPROF_PORT_NAME: &str = "pprof";

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

/// Everything [`check_pod`] checks, plus that the container runs: the container's name.
pub fn running_container(pod: &Pod, task: &TargetTask) -> Result<String, TargetFailure> {
    let name = task.pod.as_str();
    let container = check_pod(pod, name, task.container.as_deref())?;
    if let Some(state) = container_not_running(pod, &container) {
        return Err(TargetFailure::ContainerNotRunning { pod: name.to_string(), container, state });
    }
    Ok(container)
}

/// Everything [`running_container`] checks, plus the pprof port, the access and the durations
/// of the plan.
pub fn prepare_target(
    pod: &Pod,
    task: &TargetTask,
    pprof: &PprofSpec,
    policy: PortPolicy,
) -> Result<PreparedTarget, TargetFailure> {
    let name = task.pod.as_str();
    let container = running_container(pod, task)?;
    let port = resolve_port(pod, name, &container, pprof, policy)?;
    let access = match pprof.access {
        Access::PortForward => PodAccess::PortForward,
        Access::PodIp => match pod.status.as_ref().and_then(|s| s.pod_ip.clone()) {
            Some(ip) => PodAccess::PodIp(ip),
            None => return Err(TargetFailure::NoPodIp { pod: name.to_string() }),
        },
    };
    let plan = plan_for(pprof).map_err(TargetFailure::InvalidDuration)?;
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

fn container_ports(pod: &Pod, container: &str) -> Vec<k8s_openapi::api::core::v1::ContainerPort> {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.ports.clone())
        .unwrap_or_default()
}

/// The container port named `name`, or a message listing the named ports.
fn named_port(pod: &Pod, container: &str, name: &str) -> Result<i32, String> {
    let ports = container_ports(pod, container);
    match ports.iter().find(|p| p.name.as_deref() == Some(name)) {
        Some(p) => Ok(p.container_port),
        None => {
            let names: Vec<String> = ports.iter().filter_map(|p| p.name.clone()).collect();
            Err(format!(
                "container {container} has no port named {name:?} (named ports: {})",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ))
        }
    }
}

/// The port the pod declares for pprof, if any: the annotation, else the port named `pprof`.
fn declared_port(pod: &Pod, container: &str) -> Result<Option<i32>, String> {
    let annotation = pod.metadata.annotations.as_ref().and_then(|a| a.get(PPROF_PORT_ANNOTATION));
    if let Some(v) = annotation {
        let v = v.trim();
        return match v.parse::<i32>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => named_port(pod, container, v)
                .map(Some)
                .map_err(|e| format!("annotation {PPROF_PORT_ANNOTATION}={v:?}: {e}")),
        };
    }
    Ok(named_port(pod, container, PPROF_PORT_NAME).ok())
}

fn valid(pod: &str, port: i32) -> Result<u16, TargetFailure> {
    u16::try_from(port).ok().filter(|&p| p > 0).ok_or_else(|| TargetFailure::PortNotFound {
        pod: pod.to_string(),
        detail: format!("port {port} is not a valid TCP port"),
    })
}

/// The pod port of the pprof server. Asked for: `port`, or the container port named
/// `portName`. Under [`PortPolicy::Declared`] it must be the port the pod declares for pprof
/// (and is that port when the request names none); under [`PortPolicy::Any`] it is what the
/// request asks for, else the declared port, else 6060.
fn resolve_port(
    pod: &Pod,
    name: &str,
    container: &str,
    pprof: &PprofSpec,
    policy: PortPolicy,
) -> Result<u16, TargetFailure> {
    let not_found = |detail: String| TargetFailure::PortNotFound { pod: name.to_string(), detail };
    let requested = match (&pprof.port, &pprof.port_name) {
        (Some(p), _) => Some(*p),
        (None, Some(n)) => Some(named_port(pod, container, n).map_err(not_found)?),
        (None, None) => None,
    };
    let declared = declared_port(pod, container).map_err(not_found)?;
    let how = format!(
        "name the container port {PPROF_PORT_NAME:?} or annotate the pod template {PPROF_PORT_ANNOTATION}: \"PORT\""
    );
    let port = match (policy, requested, declared) {
        (PortPolicy::Any, r, d) => r.or(d).unwrap_or(PprofSpec::DEFAULT_PORT),
        (PortPolicy::Declared, _, None) => {
            return Err(TargetFailure::PortNotDeclared {
                pod: name.to_string(),
                detail: format!(
                    "the pod declares no pprof port, and godiag only connects to the one a pod declares: {how}"
                ),
            });
        }
        (PortPolicy::Declared, Some(r), Some(d)) if r != d => {
            return Err(TargetFailure::PortNotDeclared {
                pod: name.to_string(),
                detail: format!(
                    "the request asks for port {r}, but the pod declares {d} as its pprof port; godiag only connects to that one"
                ),
            });
        }
        (PortPolicy::Declared, _, Some(d)) => d,
    };
    valid(name, port)
}

/// How the container ended when it restarted between `before` and `after` (it died during
/// collection: `OOMKilled, exit code 137`); `None` when it did not restart.
pub fn restarted_meanwhile(before: &Pod, after: &Pod, container: &str) -> Option<String> {
    let status = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|v| v.iter().find(|c| c.name == container))
            .cloned()
    };
    let (b, a) = (status(before)?, status(after)?);
    (a.restart_count > b.restart_count)
        .then(|| super::last_crash::ended(a.last_state.as_ref().and_then(|s| s.terminated.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::target_failure::TargetReason;
    use crate::controller::test_pods::pod;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    #[test]
    fn a_container_that_died_during_collection_says_how() {
        use k8s_openapi::api::core::v1::ContainerStateTerminated;
        let with = |restarts: i32, reason: Option<&str>| {
            let mut p = pod("a", "Running", 1);
            p.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
                name: "app".into(),
                restart_count: restarts,
                last_state: reason.map(|r| ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        reason: Some(r.into()),
                        exit_code: 137,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]);
            p
        };
        let before = with(0, None);
        assert_eq!(
            restarted_meanwhile(&before, &with(1, Some("OOMKilled")), "app").as_deref(),
            Some("OOMKilled, exit code 137")
        );
        assert_eq!(restarted_meanwhile(&before, &with(0, None), "app"), None);
        assert_eq!(
            restarted_meanwhile(&with(2, Some("OOMKilled")), &with(2, Some("OOMKilled")), "app"),
            None,
            "an old restart"
        );
    }

    fn task(pprof: PprofSpec) -> TargetTask {
        TargetTask {
            namespace: "shop".into(),
            request: "r".into(),
            request_uid: "uid-1".into(),
            pod: "a".into(),
            container: None,
            pprof: Some(pprof),
            delve: None,
            last_crash: false,
            collected: Default::default(),
            cancel: Default::default(),
            window: Default::default(),
        }
    }

    fn prepare(pod: &Pod, t: &TargetTask, policy: PortPolicy) -> Result<PreparedTarget, TargetFailure> {
        prepare_target(pod, t, t.pprof.as_ref().unwrap(), policy)
    }

    fn reason(r: Result<PreparedTarget, TargetFailure>) -> TargetReason {
        r.unwrap_err().reason()
    }

    #[test]
    fn a_running_pod_is_prepared_with_container_port_access_and_plan() {
        let p = prepare(&pod("a", "Running", 1), &task(PprofSpec::default()), PortPolicy::Declared).unwrap();
        assert_eq!((p.container.as_str(), p.port, &p.access), ("app", 6060, &PodAccess::PortForward));
        assert!(!p.plan.fetches().is_empty());
    }

    #[test]
    fn every_reason_the_check_can_give() {
        let t = task(PprofSpec::default());
        let mut gone = pod("a", "Running", 1);
        gone.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(reason(prepare(&gone, &t, PortPolicy::Declared)), TargetReason::PodTerminating);
        assert_eq!(reason(prepare(&pod("a", "Pending", 1), &t, PortPolicy::Declared)), TargetReason::PodNotRunning);
        let web = TargetTask { container: Some("web".into()), ..t.clone() };
        assert_eq!(
            reason(prepare(&pod("a", "Running", 1), &web, PortPolicy::Declared)),
            TargetReason::ContainerMissing
        );

        let mut waiting = pod("a", "Running", 1);
        waiting.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            name: "app".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some("CrashLoopBackOff".into()), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let f = prepare(&waiting, &t, PortPolicy::Declared).unwrap_err();
        assert_eq!(f.reason(), TargetReason::ContainerNotRunning);
        assert_eq!(f.to_string(), "container app of pod a is waiting (CrashLoopBackOff)");

        let named = task(PprofSpec { port_name: Some("debug".into()), ..PprofSpec::default() });
        assert_eq!(reason(prepare(&pod("a", "Running", 1), &named, PortPolicy::Declared)), TargetReason::PortNotFound);
        let pod_ip = task(PprofSpec { access: Access::PodIp, ..PprofSpec::default() });
        assert_eq!(reason(prepare(&pod("a", "Running", 1), &pod_ip, PortPolicy::Declared)), TargetReason::NoPodIp);
        let bad = task(PprofSpec { duration: "soon".into(), ..PprofSpec::default() });
        assert_eq!(reason(prepare(&pod("a", "Running", 1), &bad, PortPolicy::Declared)), TargetReason::InvalidDuration);
    }

    #[test]
    fn default_container_annotation_wins_over_first_container() {
        let mut p = pod("a", "Running", 1);
        p.metadata.annotations =
            Some(BTreeMap::from([("kubectl.kubernetes.io/default-container".into(), "sidecar".into())]));
        assert_eq!(target_container(&p, None).unwrap(), "sidecar");
        assert_eq!(target_container(&pod("b", "Running", 1), None).unwrap(), "app");
    }

    fn with_ports(ports: &[(&str, i32)], annotation: Option<&str>) -> Pod {
        let mut p = pod("a", "Running", 1);
        p.spec.as_mut().unwrap().containers[0].ports = Some(
            ports
                .iter()
                .map(|&(n, port)| k8s_openapi::api::core::v1::ContainerPort {
                    name: Some(n.into()),
                    container_port: port,
                    ..Default::default()
                })
                .collect(),
        );
        p.metadata.annotations =
            annotation.map(|a| BTreeMap::from([(PPROF_PORT_ANNOTATION.to_string(), a.to_string())]));
        p
    }

    fn port(p: &Pod, spec: &PprofSpec, policy: PortPolicy) -> Result<u16, String> {
        resolve_port(p, "a", "app", spec, policy).map_err(|e| format!("{}: {e}", e.reason().as_str()))
    }

    /// A request can only make godiag connect to the port the pod declares for pprof.
    #[test]
    fn only_the_declared_pprof_port_is_reached() {
        let d = PortPolicy::Declared;
        let default = PprofSpec::default();
        let asks = |p: i32| PprofSpec { port: Some(p), ..PprofSpec::default() };
        let named = |n: &str| PprofSpec { port_name: Some(n.into()), ..PprofSpec::default() };

        let p = with_ports(&[("http", 8080), ("pprof", 7070)], None);
        assert_eq!(port(&p, &default, d), Ok(7070), "the port named pprof, without asking");
        assert_eq!(port(&p, &named("pprof"), d), Ok(7070));
        assert_eq!(port(&p, &asks(7070), d), Ok(7070));
        assert_eq!(
            port(&p, &named("http"), d),
            Err("PortNotDeclared: pod a: the request asks for port 8080, but the pod declares 7070 as its pprof port; godiag only connects to that one".into())
        );
        assert!(port(&p, &asks(22), d).unwrap_err().starts_with("PortNotDeclared"), "no arbitrary port");
        assert_eq!(
            port(&p, &named("debug"), d),
            Err("PortNotFound: pod a: container app has no port named \"debug\" (named ports: http, pprof)".into())
        );

        // The annotation, by number or by port name, declares it too (and wins).
        assert_eq!(port(&with_ports(&[("http", 8080)], Some("9090")), &default, d), Ok(9090));
        assert_eq!(port(&with_ports(&[("http", 8080), ("pprof", 1)], Some("http")), &default, d), Ok(8080));
        let bad = port(&with_ports(&[], Some("debug")), &default, d).unwrap_err();
        assert!(bad.starts_with("PortNotFound: pod a: annotation godiag.dev/pprof-port=\"debug\""), "{bad}");

        let undeclared = with_ports(&[("http", 8080)], None);
        let e = port(&undeclared, &default, d).unwrap_err();
        assert!(e.starts_with("PortNotDeclared: pod a: the pod declares no pprof port"), "{e}");
        assert!(e.contains("godiag.dev/pprof-port"), "says how to declare it: {e}");

        // `Any`: what the request asks, else what the pod declares, else 6060.
        let a = PortPolicy::Any;
        assert_eq!(port(&undeclared, &default, a), Ok(6060));
        assert_eq!(port(&undeclared, &asks(9999), a), Ok(9999));
        assert_eq!(port(&undeclared, &named("http"), a), Ok(8080));
        assert_eq!(port(&p, &default, a), Ok(7070));
        assert!(port(&undeclared, &asks(70000), a).unwrap_err().starts_with("PortNotFound"), "out of range");
    }
}
