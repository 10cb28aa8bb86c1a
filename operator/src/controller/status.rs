//! Status computation (pure): phase, progress, conditions and the one-line summary, from the
//! targets. Condition transition times are kept when nothing changed, so a status write that
//! changes nothing is not a write at all.

use crate::api::status::SUMMARY_MAX;
use crate::api::{DiagnosisRequestStatus, Phase, TargetPhase, TargetStatus};
use godiag_analyze::text::clip;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const COND_TARGETS_RESOLVED: &str = "TargetsResolved";
pub const COND_COMPLETE: &str = "Complete";
/// With `spec.baseline`: which siblings were selected, or why there are none.
pub const COND_BASELINE_SELECTED: &str = "BaselineSelected";
/// Warning Event: a pod's artifacts reached object storage only after retries (an outage).
pub const EVENT_STORAGE_RETRIED: &str = "StorageRetried";

/// The request phase the targets add up to. Siblings (`spec.baseline`) must finish too, but
/// their failures only thin the baseline.
pub fn phase_of(all: &[TargetStatus]) -> Phase {
    if !all.iter().all(|t| t.phase.is_terminal()) {
        return Phase::Running;
    }
    let targets: Vec<&TargetStatus> = all.iter().filter(|t| t.role.is_target()).collect();
    if targets.is_empty() {
        return Phase::Failed;
    }
    let succeeded = targets.iter().filter(|t| t.phase == TargetPhase::Succeeded).count();
    let collected_any = targets.iter().any(|t| !t.artifacts.is_empty());
    if succeeded == targets.len() {
        Phase::Succeeded
    } else if collected_any {
        Phase::PartiallySucceeded
    } else {
        Phase::Failed
    }
}

/// `done/total`.
pub fn progress(targets: &[TargetStatus]) -> String {
    let done = targets.iter().filter(|t| t.phase.is_terminal()).count();
    format!("{done}/{}", targets.len())
}

/// One line for `kubectl get diag`: how many pods were collected, what the analysis of the first
/// analysed pod says, and the first thing each failing pod reported. Siblings are counted apart.
pub fn summary(all: &[TargetStatus]) -> String {
    let targets: Vec<&TargetStatus> = all.iter().filter(|t| t.role.is_target()).collect();
    let ok = targets.iter().filter(|t| t.phase == TargetPhase::Succeeded).count();
    let mut parts = vec![format!("{ok}/{} pods collected", targets.len())];
    let siblings = all.len() - targets.len();
    if siblings > 0 {
        let ok = all.iter().filter(|t| !t.role.is_target() && t.phase == TargetPhase::Succeeded).count();
        parts[0].push_str(&format!(" (and {ok}/{siblings} siblings)"));
    }
    if let Some(s) = targets.iter().find_map(|t| t.summary.as_ref()) {
        match s.delve.as_ref().and_then(|d| d.trace.as_ref()) {
            // A trace's headline is what went through the tracepoints.
            Some(tr) => parts.push(crate::delve::trace::summary::one_line(tr)),
            None => parts.push(godiag_analyze::one_line(&s.clone().into())),
        }
    }
    for t in targets.iter().filter(|t| t.phase == TargetPhase::Failed) {
        parts.push(format!("{}: {}", t.pod, t.reason.as_deref().unwrap_or("Failed")));
    }
    clip(&parts.join("; "), SUMMARY_MAX)
}

/// Sets a condition, keeping its `lastTransitionTime` when the status did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The whole status for a request whose targets are known, from the previous status and the
/// targets' new states.
pub fn with_targets(
    prev: &DiagnosisRequestStatus,
    targets: Vec<TargetStatus>,
    generation: Option<i64>,
    now: &Time,
) -> DiagnosisRequestStatus {
    let mut st = prev.clone();
    let phase = phase_of(&targets);
    st.phase = Some(phase);
    st.observed_generation = generation;
    st.progress = Some(progress(&targets));
    st.start_time = st.start_time.or_else(|| Some(now.clone()));
    let complete = phase.is_terminal();
    if complete {
        st.summary = Some(summary(&targets));
        st.completion_time = st.completion_time.or_else(|| Some(now.clone()));
    } else {
        st.summary =
            Some(format!("collecting from {} pod(s)", targets.iter().filter(|t| !t.phase.is_terminal()).count()));
    }
    let (reason, message) = if complete {
        (phase.as_str(), st.summary.clone().unwrap_or_default())
    } else {
        ("Collecting", format!("{} pods done", progress(&targets)))
    };
    set_condition(&mut st.conditions, condition(COND_COMPLETE, complete, reason, message, generation, now));
    st.targets = targets;
    st
}

/// Status of a request that selected no pod at all.
pub fn no_targets(
    prev: &DiagnosisRequestStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> DiagnosisRequestStatus {
    let mut st = prev.clone();
    st.phase = Some(Phase::Failed);
    st.observed_generation = generation;
    st.progress = Some("0/0".into());
    st.summary = Some(clip(message, SUMMARY_MAX));
    st.completion_time = Some(now.clone());
    set_condition(&mut st.conditions, condition(COND_TARGETS_RESOLVED, false, reason, message, generation, now));
    set_condition(&mut st.conditions, condition(COND_COMPLETE, true, Phase::Failed.as_str(), message, generation, now));
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ArtifactFormat, ArtifactKind, ArtifactStatus};

    fn now() -> Time {
        Time(jiff::Timestamp::from_second(1_800_000_000).unwrap())
    }

    fn t(pod: &str, phase: TargetPhase, artifacts: usize, reason: Option<&str>) -> TargetStatus {
        let a = ArtifactStatus {
            kind: ArtifactKind::Heap,
            format: ArtifactFormat::Pprof,
            uri: "u".into(),
            bytes: 1,
            sha256: "s".into(),
            note: None,
        };
        TargetStatus {
            pod: pod.into(),
            role: Default::default(),
            owner: None,
            container: None,
            phase,
            reason: reason.map(Into::into),
            message: None,
            attempts: 1,
            artifacts: vec![a; artifacts],
            failures: vec![],
            summary: None,
            reports: vec![],
            window_start: None,
        }
    }

    #[test]
    fn phase_adds_up_targets() {
        use TargetPhase::*;
        assert_eq!(phase_of(&[t("a", Succeeded, 2, None), t("b", Collecting, 0, None)]), Phase::Running);
        assert_eq!(phase_of(&[t("a", Succeeded, 2, None), t("b", Succeeded, 1, None)]), Phase::Succeeded);
        assert_eq!(
            phase_of(&[t("a", Succeeded, 2, None), t("b", Failed, 0, Some("PodDeleted"))]),
            Phase::PartiallySucceeded
        );
        // a pod that failed some kinds but stored others still counts as collected data
        assert_eq!(phase_of(&[t("a", Failed, 1, Some("CpuProfilingInUse"))]), Phase::PartiallySucceeded);
        assert_eq!(phase_of(&[t("a", Failed, 0, Some("NoPprofEndpoint"))]), Phase::Failed);
        assert_eq!(phase_of(&[]), Phase::Failed);
    }

    #[test]
    fn siblings_must_finish_but_their_failures_only_thin_the_baseline() {
        use TargetPhase::*;
        let sibling =
            |pod, phase, n, reason| TargetStatus { role: crate::api::TargetRole::Sibling, ..t(pod, phase, n, reason) };
        let target = t("bad", Succeeded, 3, None);
        assert_eq!(phase_of(&[target.clone(), sibling("s1", Collecting, 0, None)]), Phase::Running);
        let done = [target, sibling("s1", Failed, 0, Some("PodDeleted")), sibling("s2", Succeeded, 3, None)];
        assert_eq!(phase_of(&done), Phase::Succeeded);
        assert_eq!(summary(&done), "1/1 pods collected (and 1/2 siblings)");
        assert_eq!(phase_of(&[sibling("s1", Succeeded, 3, None)]), Phase::Failed, "siblings alone diagnose nothing");
    }

    #[test]
    fn summary_names_failing_pods_and_is_bounded() {
        let s = summary(&[t("a", TargetPhase::Succeeded, 1, None), t("b", TargetPhase::Failed, 0, Some("PodDeleted"))]);
        assert_eq!(s, "1/2 pods collected; b: PodDeleted");
        let many: Vec<_> = (0..50)
            .map(|i| t(&format!("pod-with-a-long-name-{i}"), TargetPhase::Failed, 0, Some("NoPprofEndpoint")))
            .collect();
        assert!(summary(&many).chars().count() <= SUMMARY_MAX);
    }

    #[test]
    fn unchanged_condition_keeps_its_transition_time() {
        let earlier = Time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let mut conds = vec![condition(COND_COMPLETE, false, "Collecting", "0/1 pods done", Some(1), &earlier)];
        set_condition(&mut conds, condition(COND_COMPLETE, false, "Collecting", "0/2 pods done", Some(1), &now()));
        assert_eq!(conds[0].last_transition_time, earlier);
        assert_eq!(conds[0].message, "0/2 pods done");
        set_condition(&mut conds, condition(COND_COMPLETE, true, "Succeeded", "done", Some(1), &now()));
        assert_eq!(conds[0].last_transition_time, now());
    }

    #[test]
    fn recomputing_an_unchanged_status_is_identical() {
        let targets = vec![t("a", TargetPhase::Collecting, 0, None)];
        let first = with_targets(&DiagnosisRequestStatus::default(), targets.clone(), Some(1), &now());
        let later = Time(jiff::Timestamp::from_second(1_800_000_100).unwrap());
        assert_eq!(with_targets(&first, targets, Some(1), &later), first);
    }

    #[test]
    fn terminal_status_sets_completion_and_complete_condition() {
        let st = with_targets(
            &DiagnosisRequestStatus::default(),
            vec![t("a", TargetPhase::Succeeded, 3, None)],
            Some(1),
            &now(),
        );
        assert_eq!(st.phase, Some(Phase::Succeeded));
        assert_eq!(st.completion_time, Some(now()));
        assert_eq!(st.progress.as_deref(), Some("1/1"));
        let c = st.conditions.iter().find(|c| c.type_ == COND_COMPLETE).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Succeeded"));
    }
}
