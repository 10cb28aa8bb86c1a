//! Target progression (pure): given the recorded targets, the collections running in this process
//! and the results that finished, decide each target's next state and which collections to start.

use super::diagnoser::TargetResult;
use super::target_failure::{TargetFailure, TargetReason};
use crate::api::{TargetPhase, TargetStatus};
use std::collections::{BTreeMap, BTreeSet};

/// How often collection may be started for one pod. A second start happens only when the operator
/// restarted while the first was running (the collection window died with the process).
pub const MAX_ATTEMPTS: i32 = 2;

/// What to do next for a request's targets.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetProgress {
    pub targets: Vec<TargetStatus>,
    /// Pods whose collection must be started now (after the new status is written).
    pub start: Vec<String>,
}

/// Advances every target one step. `running` holds the pods this process is collecting (or
/// analysing) right now; `collected` what the ones being analysed stored; `finished` the
/// results of collections that ended and are not yet in the status.
pub fn advance_targets(
    targets: &[TargetStatus],
    running: &BTreeSet<String>,
    collected: &BTreeMap<String, TargetResult>,
    finished: &BTreeMap<String, TargetResult>,
) -> TargetProgress {
    let mut start = Vec::new();
    let targets = targets
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if t.phase.is_terminal() {
                return t;
            }
            if let Some(result) = finished.get(&t.pod) {
                result.apply_to(&mut t);
                return t;
            }
            if running.contains(&t.pod) {
                match collected.get(&t.pod) {
                    // A Delve session is open: the status says how to connect.
                    Some(c) if c.phase == TargetPhase::SessionOpen => {
                        c.apply_to(&mut t);
                    }
                    Some(c) if matches!(t.phase, TargetPhase::Collecting | TargetPhase::SessionOpen) => {
                        t.phase = TargetPhase::Analyzing;
                        t.artifacts = c.artifacts.clone();
                        t.failures = c.failures.clone();
                        t.message = Some(format!("analysing {} stored artifact(s)", c.artifacts.len()));
                    }
                    _ => {}
                }
                return t;
            }
            match t.phase {
                // A session, but this process does not hold it: godiag restarted meanwhile and
                // (in reconcile, before this) ended it; nothing is attached again.
                TargetPhase::SessionOpen => {
                    t.phase = TargetPhase::Failed;
                    t.reason = Some(crate::delve::DelveReason::DelveInterrupted.as_str().into());
                    t.message = Some(
                        "godiag restarted during the Delve session and ended it (halted only if running, detached without killing; the debugger container's deadline is the backstop): the program runs on. Create a new request for a new session"
                            .into(),
                    );
                }
                // Analysing, but no analysis runs in this process: godiag stopped mid-analysis.
                // The artifacts are in the status already; collecting again would lose them.
                TargetPhase::Analyzing => {
                    t.phase = if t.failures.is_empty() { TargetPhase::Succeeded } else { TargetPhase::Failed };
                    t.reason = Some(TargetReason::AnalysisCrashed.as_str().into());
                    t.message = Some(format!(
                        "godiag stopped while analysing this pod's {} stored artifact(s): they are kept (see artifacts), \
                         the summary is missing; `godiag analyze` reads them",
                        t.artifacts.len()
                    ));
                }
                TargetPhase::Pending => {
                    t.phase = TargetPhase::Collecting;
                    t.attempts += 1;
                    t.reason = None;
                    t.message = Some("collecting".into());
                    start.push(t.pod.clone());
                }
                // Collecting, but no collection runs in this process and none finished: the
                // operator restarted mid-collection and the window is lost.
                _ if t.attempts < MAX_ATTEMPTS => {
                    t.attempts += 1;
                    t.reason = Some(TargetReason::CollectionRestarted.as_str().into());
                    t.message = Some(
                        "godiag restarted during collection; the earlier window was lost and collection started again"
                            .into(),
                    );
                    start.push(t.pod.clone());
                }
                _ => TargetResult::failed(&TargetFailure::OperatorRestarted { attempts: t.attempts }).apply_to(&mut t),
            }
            t
        })
        .collect();
    TargetProgress { targets, start }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ArtifactFormat, ArtifactKind, ArtifactStatus};

    fn t(pod: &str, phase: TargetPhase, attempts: i32) -> TargetStatus {
        TargetStatus {
            pod: pod.into(),
            role: Default::default(),
            owner: None,
            container: Some("app".into()),
            phase,
            reason: None,
            message: None,
            attempts,
            artifacts: vec![],
            failures: vec![],
            summary: None,
            reports: vec![],
            window_start: None,
        }
    }

    fn ok_result() -> TargetResult {
        TargetResult {
            phase: TargetPhase::Succeeded,
            reason: None,
            message: "collected cpu".into(),
            artifacts: vec![ArtifactStatus {
                kind: ArtifactKind::Cpu,
                format: ArtifactFormat::Pprof,
                uri: "memory:///ns/r/a/cpu.pb.gz".into(),
                bytes: 10,
                sha256: "00".into(),
                note: None,
            }],
            failures: vec![],
            summary: None,
            reports: vec![],
            window_start: None,
        }
    }

    #[test]
    fn pending_targets_start_once() {
        let p = advance_targets(
            &[t("a", TargetPhase::Pending, 0), t("b", TargetPhase::Failed, 0)],
            &BTreeSet::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(p.start, ["a"]);
        assert_eq!((p.targets[0].phase, p.targets[0].attempts), (TargetPhase::Collecting, 1));
        assert_eq!(p.targets[1].phase, TargetPhase::Failed);
    }

    #[test]
    fn running_collections_are_left_alone() {
        let running = BTreeSet::from(["a".to_string()]);
        let p = advance_targets(&[t("a", TargetPhase::Collecting, 1)], &running, &BTreeMap::new(), &BTreeMap::new());
        assert!(p.start.is_empty());
        assert_eq!(p.targets[0], t("a", TargetPhase::Collecting, 1));
    }

    #[test]
    fn finished_results_land_in_the_target() {
        let finished = BTreeMap::from([("a".to_string(), ok_result())]);
        let p = advance_targets(&[t("a", TargetPhase::Collecting, 1)], &BTreeSet::new(), &BTreeMap::new(), &finished);
        assert_eq!(p.targets[0].phase, TargetPhase::Succeeded);
        assert_eq!(p.targets[0].artifacts.len(), 1);
        assert!(p.start.is_empty());
    }

    #[test]
    fn restart_mid_collection_retries_once_then_reports_the_loss() {
        let p = advance_targets(
            &[t("a", TargetPhase::Collecting, 1)],
            &BTreeSet::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(p.start, ["a"]);
        assert_eq!(p.targets[0].reason.as_deref(), Some("CollectionRestarted"));
        assert_eq!(p.targets[0].attempts, 2);

        let p = advance_targets(
            &[t("a", TargetPhase::Collecting, 2)],
            &BTreeSet::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert!(p.start.is_empty());
        assert_eq!(
            (p.targets[0].phase, p.targets[0].reason.as_deref()),
            (TargetPhase::Failed, Some("OperatorRestarted"))
        );
    }

    /// An open Delve session shows how to connect; after a restart (no task holds it) the pod is
    /// DelveInterrupted, and nothing is attached again.
    #[test]
    fn an_open_session_is_shown_and_a_restart_ends_it_without_attaching_again() {
        let running = BTreeSet::from(["a".to_string()]);
        let open = TargetResult {
            phase: TargetPhase::SessionOpen,
            message: "Delve session open until …".into(),
            artifacts: vec![],
            ..ok_result()
        };
        let collected = BTreeMap::from([("a".to_string(), open)]);
        let p = advance_targets(&[t("a", TargetPhase::Collecting, 1)], &running, &collected, &BTreeMap::new());
        assert_eq!(p.targets[0].phase, TargetPhase::SessionOpen);
        assert_eq!(p.targets[0].message.as_deref(), Some("Delve session open until …"));

        let p = advance_targets(&p.targets, &BTreeSet::new(), &BTreeMap::new(), &BTreeMap::new());
        assert!(p.start.is_empty(), "no second debugger container");
        let t = &p.targets[0];
        assert_eq!((t.phase, t.reason.as_deref()), (TargetPhase::Failed, Some("DelveInterrupted")));
        assert!(t.message.as_deref().unwrap().contains("the program runs on"), "{t:?}");
    }

    /// Collection ended and analysis runs: the status lists what was stored. If godiag stops
    /// then, the next process reports it and keeps the artifacts instead of collecting again.
    #[test]
    fn a_stop_mid_analysis_is_reported_not_recollected() {
        let running = BTreeSet::from(["a".to_string()]);
        let collected = BTreeMap::from([("a".to_string(), ok_result())]);
        let p = advance_targets(&[t("a", TargetPhase::Collecting, 1)], &running, &collected, &BTreeMap::new());
        assert!(p.start.is_empty());
        assert_eq!((p.targets[0].phase, p.targets[0].artifacts.len()), (TargetPhase::Analyzing, 1));

        let p = advance_targets(&p.targets, &BTreeSet::new(), &BTreeMap::new(), &BTreeMap::new());
        assert!(p.start.is_empty(), "nothing is collected again");
        let t = &p.targets[0];
        assert_eq!((t.phase, t.reason.as_deref()), (TargetPhase::Succeeded, Some("AnalysisCrashed")));
        assert_eq!(t.artifacts.len(), 1, "the artifacts are kept");
        assert!(t.message.as_deref().unwrap().contains("godiag analyze"), "{t:?}");
    }

    #[test]
    fn terminal_targets_never_change() {
        let done = TargetStatus { phase: TargetPhase::Succeeded, ..t("a", TargetPhase::Succeeded, 1) };
        let finished = BTreeMap::from([("a".to_string(), ok_result())]);
        let p = advance_targets(std::slice::from_ref(&done), &BTreeSet::new(), &BTreeMap::new(), &finished);
        assert_eq!(p.targets[0], done);
    }
}
