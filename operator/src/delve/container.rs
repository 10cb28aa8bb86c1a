//! The debugger's ephemeral container, as pure values: its name (one per request and pod, so a
//! retry sees it is already there), the privilege profile the namespace admits, and the spec.

use crate::api::DelvePrivilege;
use k8s_openapi::api::core::v1::{Capabilities, EphemeralContainer, Pod, SeccompProfile, SecurityContext};
use std::collections::BTreeMap;

/// Where dlv listens inside the pod: loopback only, reached through the API server's
/// port-forward.
pub const DLV_PORT: u16 = 40163;
/// The wrapper in godiag's Delve image: it runs dlv under a deadline and leaves the target
/// running (SIGCONT, then a check of `/proc/<pid>/status`).
pub const WRAPPER: &str = "/godiag-dlv-wrapper";
/// The Pod Security admission label that says what a namespace enforces.
pub const PSA_ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// The profile a container actually runs with (Auto resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    SysPtrace,
    SameUser,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::SysPtrace => "SysPtrace",
            Privilege::SameUser => "SameUser",
        }
    }
}

/// Auto picks SameUser where the namespace enforces `baseline` or `restricted` (both refuse
/// `SYS_PTRACE`), SysPtrace elsewhere.
pub fn choose_privilege(requested: DelvePrivilege, namespace_labels: &BTreeMap<String, String>) -> Privilege {
    match requested {
        DelvePrivilege::SysPtrace => Privilege::SysPtrace,
        DelvePrivilege::SameUser => Privilege::SameUser,
        DelvePrivilege::Auto => match namespace_labels.get(PSA_ENFORCE_LABEL).map(String::as_str) {
            Some("baseline" | "restricted") => Privilege::SameUser,
            _ => Privilege::SysPtrace,
        },
    }
}

/// The name of this request's debugger container in a pod: `godiag-dlv-` and the first 12
/// hex digits of the request's UID.
pub fn container_name(request_uid: &str) -> String {
    let hex: String = request_uid.chars().filter(char::is_ascii_hexdigit).take(12).collect();
    format!("godiag-dlv-{}", hex.to_ascii_lowercase())
}

/// The ephemeral container of `pod` with this name, if godiag added it before.
pub fn existing<'a>(pod: &'a Pod, name: &str) -> Option<&'a EphemeralContainer> {
    pod.spec.as_ref()?.ephemeral_containers.as_ref()?.iter().find(|c| c.name == name)
}

/// The UID and GID the target container runs as, from its security context or the pod's.
pub fn target_identity(pod: &Pod, container: &str) -> (Option<i64>, Option<i64>) {
    let spec = pod.spec.as_ref();
    let c =
        spec.and_then(|s| s.containers.iter().find(|c| c.name == container)).and_then(|c| c.security_context.as_ref());
    let p = spec.and_then(|s| s.security_context.as_ref());
    let uid = c.and_then(|c| c.run_as_user).or_else(|| p.and_then(|p| p.run_as_user));
    let gid = c.and_then(|c| c.run_as_group).or_else(|| p.and_then(|p| p.run_as_group));
    (uid, gid)
}

/// What the wrapper is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperArgs {
    /// The program: PID 1 of the target container, or the process whose command line starts so.
    pub process: Option<String>,
    /// Hard deadline: after it, dlv is stopped (it detaches without killing) whatever happens.
    pub deadline_secs: u64,
    /// A session: dlv lets the program run (`--continue`) and serves several clients.
    pub session: bool,
}

impl WrapperArgs {
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![format!("--listen=127.0.0.1:{DLV_PORT}"), format!("--deadline={}s", self.deadline_secs)];
        match &self.process {
            Some(prefix) => a.push(format!("--process={prefix}")),
            None => a.push("--pid=1".into()),
        }
        if self.session {
            a.extend(["--multiclient".to_string(), "--continue".to_string()]);
        }
        a
    }
}

/// Why the spec cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "the SameUser profile runs dlv as the program's own user, but container {container} sets no {missing}: set securityContext.runAsUser and runAsGroup on the container or the pod, or use privilege: SysPtrace where the namespace's Pod Security level allows it"
    )]
    IdentityUnknown { container: String, missing: &'static str },
}

/// The debugger container for `target` (the app container) with `privilege`.
pub fn ephemeral_container(
    name: &str,
    image: &str,
    target: &str,
    privilege: Privilege,
    identity: (Option<i64>, Option<i64>),
    args: &WrapperArgs,
) -> Result<EphemeralContainer, SpecError> {
    let security_context = match privilege {
        Privilege::SysPtrace => SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            capabilities: Some(Capabilities { add: Some(vec!["SYS_PTRACE".into()]), drop: None }),
            ..SecurityContext::default()
        },
        Privilege::SameUser => {
            let (uid, gid) = match identity {
                (Some(u), Some(g)) => (u, g),
                (None, _) => return Err(SpecError::IdentityUnknown { container: target.into(), missing: "runAsUser" }),
                (_, None) => {
                    return Err(SpecError::IdentityUnknown { container: target.into(), missing: "runAsGroup" });
                }
            };
            SecurityContext {
                run_as_user: Some(uid),
                run_as_group: Some(gid),
                run_as_non_root: (uid != 0).then_some(true),
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities { add: None, drop: Some(vec!["ALL".into()]) }),
                seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
                ..SecurityContext::default()
            }
        }
    };
    Ok(EphemeralContainer {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec![WRAPPER.into()]),
        args: Some(args.to_args()),
        target_container_name: Some(target.into()),
        termination_message_policy: Some("File".into()),
        security_context: Some(security_context),
        ..EphemeralContainer::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(enforce: Option<&str>) -> BTreeMap<String, String> {
        enforce.map(|e| (PSA_ENFORCE_LABEL.to_string(), e.to_string())).into_iter().collect()
    }

    #[test]
    fn auto_follows_the_namespace_pod_security_level() {
        assert_eq!(choose_privilege(DelvePrivilege::Auto, &labels(None)), Privilege::SysPtrace);
        assert_eq!(choose_privilege(DelvePrivilege::Auto, &labels(Some("privileged"))), Privilege::SysPtrace);
        assert_eq!(choose_privilege(DelvePrivilege::Auto, &labels(Some("baseline"))), Privilege::SameUser);
        assert_eq!(choose_privilege(DelvePrivilege::Auto, &labels(Some("restricted"))), Privilege::SameUser);
        // Asked for explicitly, the profile is used as asked (Pod Security may then refuse it).
        assert_eq!(choose_privilege(DelvePrivilege::SysPtrace, &labels(Some("restricted"))), Privilege::SysPtrace);
    }

    #[test]
    fn names_are_per_request_and_valid_container_names() {
        let n = container_name("0f3c7a9e-1b2d-4c5e-8f90-a1b2c3d4e5f6");
        assert_eq!(n, "godiag-dlv-0f3c7a9e1b2d");
        assert!(n.len() <= 63 && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn sysptrace_is_root_with_only_sys_ptrace_added() {
        let args = WrapperArgs { process: None, deadline_secs: 95, session: false };
        let c =
            ephemeral_container("d", "img", "app", Privilege::SysPtrace, (Some(65532), Some(65532)), &args).unwrap();
        let sc = c.security_context.unwrap();
        assert_eq!(sc.run_as_user, Some(0));
        assert_eq!(sc.capabilities.unwrap().add, Some(vec!["SYS_PTRACE".to_string()]));
        assert_eq!(sc.privileged, None);
        assert_eq!(c.target_container_name.as_deref(), Some("app"));
        assert_eq!(
            c.args.unwrap(),
            vec!["--listen=127.0.0.1:40163".to_string(), "--deadline=95s".into(), "--pid=1".into()]
        );
    }

    #[test]
    fn same_user_is_restricted_compliant_and_needs_the_identity() {
        let args = WrapperArgs { process: Some("/app/server".into()), deadline_secs: 40, session: true };
        let c = ephemeral_container("d", "img", "app", Privilege::SameUser, (Some(65532), Some(65533)), &args).unwrap();
        let sc = c.security_context.unwrap();
        assert_eq!((sc.run_as_user, sc.run_as_group, sc.run_as_non_root), (Some(65532), Some(65533), Some(true)));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let argv = c.args.unwrap();
        assert!(argv.contains(&"--process=/app/server".to_string()));
        assert!(argv.ends_with(&["--multiclient".to_string(), "--continue".to_string()]), "a session: {argv:?}");
        let err = ephemeral_container("d", "img", "app", Privilege::SameUser, (Some(1), None), &args).unwrap_err();
        assert!(err.to_string().contains("sets no runAsGroup"), "{err}");
    }

    #[test]
    fn identity_comes_from_the_container_then_the_pod() {
        let mut pod = crate::controller::test_pods::pod("a", "Running", 1);
        let spec = pod.spec.as_mut().unwrap();
        spec.security_context = Some(k8s_openapi::api::core::v1::PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(2000),
            ..Default::default()
        });
        spec.containers[0].security_context = Some(SecurityContext { run_as_user: Some(65532), ..Default::default() });
        assert_eq!(target_identity(&pod, "app"), (Some(65532), Some(2000)));
    }
}
