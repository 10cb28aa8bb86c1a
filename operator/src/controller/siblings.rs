//! Sibling selection for `spec.baseline` (pure): the healthy pods of each target's owner that the
//! targets are compared with, decided once, with the targets.

use super::pod_check::check_pod;
use super::select::{is_collectable, oldest_first, target};
use crate::api::{BaselineSpec, TargetPhase, TargetRole, TargetStatus};
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;

/// Why the request has the baseline it has (condition BaselineSelected and its Event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter)]
pub enum BaselineReason {
    /// Siblings were selected for at least one target.
    SiblingsSelected,
    /// No target has a controlling owner (a bare pod has no siblings).
    NoOwner,
    /// The targets' owners have no other Running pod that is not a target.
    NoSiblings,
}

impl BaselineReason {
    pub fn reason(self) -> &'static str {
        match self {
            BaselineReason::SiblingsSelected => "SiblingsSelected",
            BaselineReason::NoOwner => "NoOwner",
            BaselineReason::NoSiblings => "NoSiblings",
        }
    }
}

/// Most siblings one request collects in all, whatever the number of owners: with the targets'
/// 20 that bounds the status (each pod has an entry) and the pods profiled at once.
pub const MAX_SIBLINGS: usize = 20;

/// The siblings to collect and what to tell the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    pub siblings: Vec<TargetStatus>,
    pub reason: BaselineReason,
    pub message: String,
}

/// The controlling owner of a pod, as `(uid, "Kind/name")`.
pub fn owner_of(pod: &Pod) -> Option<(String, String)> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.uid.clone(), format!("{}/{}", o.kind, o.name)))
}

/// Marks each target with its owner and picks, per owner, up to `spec.siblings` Running pods of
/// that owner that are not targets (oldest first). `pods` are the candidates (the namespace's
/// pods, or those matching `spec.selector`); `all` are the pods the targets were found among.
pub fn select_siblings(
    targets: &mut [TargetStatus],
    all: &[Pod],
    candidates: &[Pod],
    spec: &BaselineSpec,
    container: Option<&str>,
) -> Baseline {
    let per_owner = usize::try_from(spec.siblings.clamp(1, 5)).unwrap_or(3);
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for t in targets.iter_mut() {
        let pod = all.iter().chain(candidates).find(|p| p.metadata.name.as_deref() == Some(t.pod.as_str()));
        if let Some((uid, name)) = pod.and_then(owner_of) {
            t.owner = Some(name.clone());
            owners.insert(uid, name);
        }
    }
    if owners.is_empty() {
        return Baseline {
            siblings: vec![],
            reason: BaselineReason::NoOwner,
            message:
                "no baseline: no target has an owner (a ReplicaSet, StatefulSet, …) whose other pods could be siblings"
                    .into(),
        };
    }
    let is_target = |name: &str| targets.iter().any(|t| t.pod == name);
    let mut siblings = Vec::new();
    let mut without = Vec::new();
    for (uid, owner) in &owners {
        let mut mine: Vec<&Pod> = candidates
            .iter()
            .filter(|p| owner_of(p).is_some_and(|(u, _)| u == *uid))
            .filter(|p| is_collectable(p) && !is_target(p.metadata.name.as_deref().unwrap_or_default()))
            .collect();
        mine.sort_by(|a, b| oldest_first(a, b));
        let room = MAX_SIBLINGS.saturating_sub(siblings.len()).min(per_owner);
        // A sibling must pass the same pod check as a target (its container runs, its pprof port is declared).
        let chosen: Vec<TargetStatus> = mine
            .into_iter()
            .filter_map(|p| {
                let name = p.metadata.name.clone().unwrap_or_default();
                let c = check_pod(p, &name, container).ok()?;
                let mut s = target(name, Some(c), TargetPhase::Pending, None, "waiting to collect (sibling)".into());
                s.role = TargetRole::Sibling;
                s.owner = Some(owner.clone());
                Some(s)
            })
            .take(room)
            .collect();
        if chosen.is_empty() {
            without.push(owner.clone());
        }
        siblings.extend(chosen);
    }
    let names: Vec<&str> = siblings.iter().map(|s| s.pod.as_str()).collect();
    let (reason, mut message) = if siblings.is_empty() {
        (BaselineReason::NoSiblings, "no baseline: ".to_string())
    } else {
        (BaselineReason::SiblingsSelected, format!("selected {} sibling(s): {}", siblings.len(), names.join(", ")))
    };
    if !without.is_empty() {
        if !siblings.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&format!(
            "{} {} no other Running pod that is not a target{}",
            without.join(", "),
            if without.len() == 1 { "has" } else { "have" },
            if spec.selector.is_some() { " and matches baseline.selector" } else { "" }
        ));
    }
    Baseline { siblings, reason, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_pods::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owned(name: &str, phase: &str, age: i64, rs: &str) -> Pod {
        let mut p = pod(name, phase, age);
        p.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: rs.into(),
            uid: format!("uid-{rs}"),
            controller: Some(true),
            ..Default::default()
        }]);
        p
    }

    fn target(name: &str) -> TargetStatus {
        let mut t = super::super::select::select_targets(
            &crate::api::Targets { pods: Some(vec![name.into()]), max_pods: 5, ..Default::default() },
            "shop",
            &[pod(name, "Running", 1)],
        )
        .unwrap()
        .remove(0);
        t.container = Some("app".into());
        t
    }

    #[test]
    fn siblings_are_running_pods_of_the_same_owner_that_are_not_targets_oldest_first() {
        let pods = [
            owned("web-a", "Running", 50, "web-1"),
            owned("web-b", "Running", 40, "web-1"),
            owned("web-c", "Running", 90, "web-1"),
            owned("web-d", "Pending", 99, "web-1"),
            owned("web-e", "Running", 10, "web-1"),
            owned("api-a", "Running", 99, "api-1"),
        ];
        let mut targets = vec![target("web-a")];
        let spec = BaselineSpec { siblings: 2, selector: None };
        let b = select_siblings(&mut targets, &pods, &pods, &spec, None);
        let names: Vec<&str> = b.siblings.iter().map(|s| s.pod.as_str()).collect();
        assert_eq!(names, ["web-c", "web-b"], "the target, a Pending pod and another owner's pod are left out");
        assert!(
            b.siblings.iter().all(|s| s.role == TargetRole::Sibling && s.owner.as_deref() == Some("ReplicaSet/web-1"))
        );
        assert_eq!(targets[0].owner.as_deref(), Some("ReplicaSet/web-1"));
        assert_eq!(
            (b.reason, b.message.as_str()),
            (BaselineReason::SiblingsSelected, "selected 2 sibling(s): web-c, web-b")
        );
    }

    #[test]
    fn a_request_collects_at_most_twenty_siblings_whatever_its_owners() {
        let mut pods = Vec::new();
        let mut targets = Vec::new();
        for rs in 0..20 {
            pods.push(owned(&format!("t{rs}"), "Running", 100, &format!("rs{rs}")));
            targets.push(target(&format!("t{rs}")));
            for i in 0..5 {
                pods.push(owned(&format!("s{rs}-{i}"), "Running", 50, &format!("rs{rs}")));
            }
        }
        let b = select_siblings(&mut targets, &pods, &pods, &BaselineSpec { siblings: 5, selector: None }, None);
        assert_eq!(b.siblings.len(), MAX_SIBLINGS);
    }

    #[test]
    fn without_siblings_the_request_says_why() {
        let pods = [owned("web-a", "Running", 50, "web-1"), owned("web-b", "Pending", 40, "web-1")];
        let mut targets = vec![target("web-a")];
        let b = select_siblings(&mut targets, &pods, &pods, &BaselineSpec::default(), None);
        assert_eq!(b.reason.reason(), "NoSiblings");
        assert_eq!(b.message, "no baseline: ReplicaSet/web-1 has no other Running pod that is not a target");

        let bare = [pod("solo", "Running", 5)];
        let mut targets = vec![target("solo")];
        let b = select_siblings(&mut targets, &bare, &bare, &BaselineSpec::default(), None);
        assert_eq!(b.reason, BaselineReason::NoOwner);
        assert!(b.siblings.is_empty() && targets[0].owner.is_none());
    }
}
