//! What a batch of firing alerts does to one trigger: duplicates, suspension, targets,
//! cooldowns and the cap on active requests, decided from the trigger's status and the requests
//! that exist, never from the operator's memory. Pure: the receiver reads, calls [`decide`],
//! writes the new status (conditional on its resourceVersion), then creates what it says.

use super::outcome::{Outcome, SuppressReason};
use super::payload::Alert;
use super::target::{alert_target, build_request, request_name};
use crate::api::trigger::{COOLDOWNS_MAX, REMEMBERED_REQUESTS_MAX};
use crate::api::{
    Cooldown, DiagnosisRequest, DiagnosisTrigger, DiagnosisTriggerStatus, Suppression, TriggeredRequest, TriggeredState,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// A claimed request that never appeared is forgotten after this long (the receiver died
/// between claiming and creating, and Alertmanager stopped retrying).
pub const CLAIM_EXPIRY: Duration = Duration::from_secs(300);
/// A suppression Event of the same reason is published at most this often per trigger.
pub const SUPPRESSION_EVENT_INTERVAL: Duration = Duration::from_secs(60);

/// A request of this trigger as it exists in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub finished: bool,
}

/// Everything the receiver must do for one trigger.
#[derive(Debug, Default)]
pub struct Decision {
    pub status: DiagnosisTriggerStatus,
    /// One per alert of the batch, in order.
    pub outcomes: Vec<Outcome>,
    /// Requests to create (claimed in `status`).
    pub create: Vec<DiagnosisRequest>,
    /// Events for the trigger: (warning?, reason, note).
    pub events: Vec<TriggerEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

/// Decides what the firing `alerts` (all matching `trigger`) do. `observed` holds the requests
/// labelled with this trigger that exist now.
pub fn decide(
    trigger: &DiagnosisTrigger,
    alerts: &[&Alert],
    observed: &BTreeMap<String, Observed>,
    now: Timestamp,
) -> Decision {
    let mut status = trigger.status.clone().unwrap_or_default();
    refresh(&mut status, observed, now);
    let cooldown = crate::api::duration::parse(&trigger.spec.cooldown).unwrap_or(Duration::from_secs(600));
    let trigger_name = trigger.name_any();
    let mut d = Decision::default();
    for alert in alerts {
        status.matched += 1;
        let name = request_name(&trigger_name, &alert.fingerprint, &alert.starts_at);
        let outcome = if let Some(entry) = status.requests.iter().find(|r| r.name == name) {
            let creating = d.create.iter().any(|r| r.metadata.name.as_deref() == Some(name.as_str()));
            if entry.state == TriggeredState::Claimed && !observed.contains_key(&name) && !creating {
                // Claimed by a delivery that could not create it: this retry does.
                if let Ok(target) = alert_target(trigger, alert) {
                    d.create.push(build_request(trigger, alert, &target, &name));
                }
                Outcome::Created { request: name }
            } else {
                status.deduplicated += 1;
                Outcome::Duplicate { request: name }
            }
        } else if observed.contains_key(&name) {
            status.deduplicated += 1;
            Outcome::Duplicate { request: name }
        } else {
            match admit(trigger, &status, alert, now) {
                Err(s) => {
                    suppress(&mut status, &mut d.events, &s, now);
                    s
                }
                Ok(target) => {
                    let until = now + SignedDuration::try_from(cooldown).unwrap_or(SignedDuration::ZERO);
                    status.cooldowns.retain(|c| c.target != target.key);
                    if !cooldown.is_zero() {
                        status.cooldowns.push(Cooldown { target: target.key.clone(), until: time(until) });
                    }
                    status.requests.push(TriggeredRequest {
                        name: name.clone(),
                        target: target.key.clone(),
                        fingerprint: alert.fingerprint.clone(),
                        starts_at: alert.starts_at.clone(),
                        created_at: time(now),
                        state: TriggeredState::Claimed,
                    });
                    status.created += 1;
                    status.last_request = Some(name.clone());
                    status.last_request_time = Some(time(now));
                    d.events.push(TriggerEvent {
                        warning: false,
                        reason: "RequestCreated",
                        note: format!(
                            "Created DiagnosisRequest {name} for {} from alert {} (fingerprint {}, started {})",
                            target.key,
                            alert.name(),
                            alert.fingerprint,
                            alert.starts_at
                        ),
                    });
                    d.create.push(build_request(trigger, alert, &target, &name));
                    Outcome::Created { request: name }
                }
            }
        };
        d.outcomes.push(outcome);
    }
    prune(&mut status, now);
    d.status = status;
    d
}

/// Whether a new firing may create a request now, and for which pods.
fn admit(
    trigger: &DiagnosisTrigger,
    status: &DiagnosisTriggerStatus,
    alert: &Alert,
    now: Timestamp,
) -> Result<super::target::AlertTarget, Outcome> {
    let suppressed = |reason, message: String, until| Outcome::Suppressed { reason, message, until };
    if trigger.spec.suspend {
        return Err(suppressed(
            SuppressReason::Suspended,
            "the trigger is suspended (spec.suspend: true)".into(),
            None,
        ));
    }
    let target = alert_target(trigger, alert).map_err(|e| suppressed(SuppressReason::NoTarget, e.to_string(), None))?;
    if let Some(c) = status.cooldowns.iter().find(|c| c.target == target.key && c.until.0 > now) {
        return Err(suppressed(
            SuppressReason::Cooldown,
            format!("{} is in its cooldown until {} (spec.cooldown {})", target.key, c.until.0, trigger.spec.cooldown),
            Some(c.until.0),
        ));
    }
    let active: Vec<&str> =
        status.requests.iter().filter(|r| r.state != TriggeredState::Finished).map(|r| r.name.as_str()).collect();
    let max = usize::try_from(trigger.spec.max_active_requests.max(1)).unwrap_or(1);
    if active.len() >= max {
        return Err(suppressed(
            SuppressReason::TooManyActive,
            format!(
                "{} of at most {max} requests of this trigger are still running ({}); not diagnosing {}",
                active.len(),
                active.join(", "),
                target.key
            ),
            None,
        ));
    }
    Ok(target)
}

fn suppress(status: &mut DiagnosisTriggerStatus, events: &mut Vec<TriggerEvent>, s: &Outcome, now: Timestamp) {
    let Outcome::Suppressed { reason, message, .. } = s else { return };
    status.suppressed += 1;
    *status.suppressed_by.entry(reason.reason().to_string()).or_default() += 1;
    let quiet = status.last_suppression.as_ref().is_some_and(|l| {
        l.reason == reason.reason()
            && now.duration_since(l.time.0) < SignedDuration::try_from(SUPPRESSION_EVENT_INTERVAL).unwrap_or_default()
    });
    if !quiet {
        events.push(TriggerEvent { warning: reason.is_warning(), reason: reason.reason(), note: message.clone() });
        status.last_suppression =
            Some(Suppression { reason: reason.reason().to_string(), message: message.clone(), time: time(now) });
    } else if let Some(l) = status.last_suppression.as_mut() {
        // Keep the newest message; the time stays that of the last Event, which paces them.
        l.message.clone_from(message);
    }
}

/// Brings the remembered requests up to date with what exists.
fn refresh(status: &mut DiagnosisTriggerStatus, observed: &BTreeMap<String, Observed>, now: Timestamp) {
    let expiry = SignedDuration::try_from(CLAIM_EXPIRY).unwrap_or_default();
    status.requests.retain_mut(|r| {
        match (observed.get(&r.name), r.state) {
            (Some(o), _) => r.state = if o.finished { TriggeredState::Finished } else { TriggeredState::Active },
            (None, TriggeredState::Active) => r.state = TriggeredState::Finished,
            (None, TriggeredState::Claimed) => return now.duration_since(r.created_at.0) < expiry,
            (None, TriggeredState::Finished) => {}
        }
        true
    });
}

/// After the creates: the requests that now exist are Active; those the API server refused
/// (a quota, an admission policy) are forgotten with their cooldown, so they neither hold a place
/// under `maxActiveRequests` nor keep their target waiting for a diagnosis that never ran.
pub fn mark_created(status: &mut DiagnosisTriggerStatus, created: &[String], refused: &[String]) {
    for r in status.requests.iter_mut().filter(|r| created.contains(&r.name) && r.state == TriggeredState::Claimed) {
        r.state = TriggeredState::Active;
    }
    let gone: Vec<TriggeredRequest> = status
        .requests
        .iter()
        .filter(|r| refused.contains(&r.name) && r.state == TriggeredState::Claimed)
        .cloned()
        .collect();
    for r in &gone {
        status.requests.retain(|x| x.name != r.name);
        status.cooldowns.retain(|c| c.target != r.target);
        status.created -= 1;
        if status.last_request.as_deref() == Some(r.name.as_str()) {
            status.last_request = None;
            status.last_request_time = None;
        }
    }
}

/// Keeps the status bounded: expired cooldowns go, and the oldest finished requests beyond the
/// cap (unfinished ones are never dropped: they count against the cap).
fn prune(status: &mut DiagnosisTriggerStatus, now: Timestamp) {
    status.cooldowns.retain(|c| c.until.0 > now);
    if status.cooldowns.len() > COOLDOWNS_MAX {
        status.cooldowns.sort_by_key(|c| std::cmp::Reverse(c.until.0));
        status.cooldowns.truncate(COOLDOWNS_MAX);
    }
    let mut excess = status.requests.len().saturating_sub(REMEMBERED_REQUESTS_MAX);
    status.requests.retain(|r| {
        if excess > 0 && r.state == TriggeredState::Finished {
            excess -= 1;
            return false;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TriggerTarget;
    use crate::webhook::target::tests::{alert, trigger};

    fn now() -> Timestamp {
        "2026-12-02T03:00:10Z".parse().unwrap()
    }

    fn firing(pod: &str, fp: &str) -> Alert {
        let mut a = alert(&[("alertname", "GoGoroutineLeak"), ("pod", pod)]);
        a.fingerprint = fp.into();
        a
    }

    fn none() -> BTreeMap<String, Observed> {
        BTreeMap::new()
    }

    /// Applies a decision as the receiver does: the new status, and the creates succeed.
    fn apply(t: &mut DiagnosisTrigger, d: &Decision) -> BTreeMap<String, Observed> {
        let mut s = d.status.clone();
        let names: Vec<String> = d.create.iter().map(|r| r.name_any()).collect();
        mark_created(&mut s, &names, &[]);
        t.status = Some(s);
        names.into_iter().map(|n| (n, Observed { finished: false })).collect()
    }

    #[test]
    fn one_firing_creates_one_request_and_repeats_are_duplicates() {
        let mut t = trigger(TriggerTarget::default());
        let a = firing("p-1", "aaaa");
        let d = decide(&t, &[&a], &none(), now());
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
        assert_eq!(d.create.len(), 1);
        assert_eq!(d.events[0].reason, "RequestCreated");
        let observed = apply(&mut t, &d);
        // Alertmanager's retries, repeats and HA peer: the same firing, 100 times.
        for _ in 0..100 {
            let d = decide(&t, &[&a], &observed, now());
            assert!(matches!(&d.outcomes[0], Outcome::Duplicate { .. }), "{:?}", d.outcomes);
            assert!(d.create.is_empty() && d.events.is_empty());
            apply(&mut t, &d);
        }
        let s = t.status.as_ref().unwrap();
        assert_eq!((s.matched, s.created, s.deduplicated, s.suppressed), (101, 1, 100, 0));
    }

    /// Deliveries batched together may carry the same firing twice: one create, one duplicate.
    #[test]
    fn the_same_firing_twice_in_one_batch() {
        let t = trigger(TriggerTarget::default());
        let a = firing("p-1", "aaaa");
        let d = decide(&t, &[&a, &a], &none(), now());
        assert_eq!(d.create.len(), 1);
        assert!(matches!(&d.outcomes[1], Outcome::Duplicate { .. }), "{:?}", d.outcomes);
        assert_eq!((d.status.created, d.status.deduplicated), (1, 1));
    }

    #[test]
    fn a_new_firing_of_the_same_pod_waits_for_the_cooldown() {
        let mut t = trigger(TriggerTarget::default());
        t.spec.max_active_requests = 5;
        let d = decide(&t, &[&firing("p-1", "aaaa")], &none(), now());
        let observed = apply(&mut t, &d);
        let d = decide(&t, &[&firing("p-1", "bbbb")], &observed, now() + SignedDuration::from_secs(60));
        match &d.outcomes[0] {
            Outcome::Suppressed { reason: SuppressReason::Cooldown, until: Some(u), message } => {
                assert_eq!(*u, now() + SignedDuration::from_secs(600));
                assert!(message.starts_with("pod/p-1 is in its cooldown until 2026-12-02T03:10:10Z"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(d.events[0].reason, "Cooldown");
        apply(&mut t, &d);
        // Another pod is not in a cooldown.
        let d = decide(&t, &[&firing("p-2", "cccc")], &observed, now() + SignedDuration::from_secs(61));
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
        apply(&mut t, &d);
        // After the cooldown the same pod can be diagnosed again.
        let d = decide(&t, &[&firing("p-1", "dddd")], &observed, now() + SignedDuration::from_secs(601));
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
        let s = &d.status;
        assert_eq!(s.suppressed_by.get("Cooldown"), Some(&1));
        assert!(s.cooldowns.iter().all(|c| c.until.0 > now() + SignedDuration::from_secs(601)), "expired ones pruned");
    }

    #[test]
    fn the_cap_holds_until_a_request_finishes() {
        let mut t = trigger(TriggerTarget::default());
        let a: Vec<Alert> = (0..50).map(|i| firing(&format!("p-{i}"), &format!("f{i}"))).collect();
        let refs: Vec<&Alert> = a.iter().collect();
        let d = decide(&t, &refs, &none(), now());
        assert_eq!(d.create.len(), 1, "one active request at most");
        assert_eq!(d.status.suppressed_by.get("TooManyActive"), Some(&49));
        assert_eq!(d.events.iter().filter(|e| e.reason == "TooManyActive").count(), 1, "events are paced");
        let first = d.create[0].name_any();
        let mut observed = apply(&mut t, &d);
        let d = decide(&t, &[&firing("p-99", "f99")], &observed, now());
        match &d.outcomes[0] {
            Outcome::Suppressed { reason: SuppressReason::TooManyActive, message, .. } => {
                assert!(message.contains(&first), "{message}")
            }
            o => panic!("{o:?}"),
        }
        apply(&mut t, &d);
        observed.insert(first, Observed { finished: true });
        let d = decide(&t, &[&firing("p-99", "f99")], &observed, now());
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "finished: room again");
    }

    #[test]
    fn a_claim_that_was_not_created_is_created_by_the_retry() {
        let mut t = trigger(TriggerTarget::default());
        let a = firing("p-1", "aaaa");
        let d = decide(&t, &[&a], &none(), now());
        t.status = Some(d.status.clone()); // status written, create failed
        let d = decide(&t, &[&a], &none(), now() + SignedDuration::from_secs(5));
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
        assert_eq!(d.create.len(), 1);
        assert_eq!((d.status.created, d.status.deduplicated), (1, 0), "counted once");
        // A claim nobody retries is forgotten, so it stops counting against the cap.
        let d = decide(&t, &[&firing("p-2", "bbbb")], &none(), now() + SignedDuration::from_secs(301));
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
    }

    /// A create the API server refused (e.g. a ResourceQuota on diagnosisrequests) leaves no
    /// claim and no cooldown behind: the next alert for that pod may try again.
    #[test]
    fn a_refused_create_is_rolled_back() {
        let mut t = trigger(TriggerTarget::default());
        let d = decide(&t, &[&firing("p-1", "aaaa")], &none(), now());
        let mut s = d.status.clone();
        mark_created(&mut s, &[], &[d.create[0].name_any()]);
        assert!(s.requests.is_empty() && s.cooldowns.is_empty() && s.created == 0 && s.last_request.is_none(), "{s:?}");
        t.status = Some(s);
        let d = decide(&t, &[&firing("p-1", "bbbb")], &none(), now());
        assert!(matches!(&d.outcomes[0], Outcome::Created { .. }), "{:?}", d.outcomes);
    }

    #[test]
    fn a_deleted_request_stays_a_duplicate() {
        let mut t = trigger(TriggerTarget::default());
        t.spec.cooldown = "0s".into();
        let a = firing("p-1", "aaaa");
        let d = decide(&t, &[&a], &none(), now());
        apply(&mut t, &d);
        // Finished and deleted (ttlSecondsAfterFinished); Alertmanager repeats the firing 4h later.
        let d = decide(&t, &[&a], &none(), now() + SignedDuration::from_hours(4));
        assert!(matches!(&d.outcomes[0], Outcome::Duplicate { .. }), "{:?}", d.outcomes);
        assert_eq!(d.status.requests[0].state, TriggeredState::Finished);
    }

    #[test]
    fn suspended_and_targetless_alerts_are_counted() {
        let mut t = trigger(TriggerTarget::default());
        t.spec.suspend = true;
        let d = decide(&t, &[&firing("p-1", "aaaa")], &none(), now());
        assert!(matches!(&d.outcomes[0], Outcome::Suppressed { reason: SuppressReason::Suspended, .. }));
        t.spec.suspend = false;
        let d = decide(&t, &[&alert(&[("alertname", "GoGoroutineLeak")])], &none(), now());
        match &d.outcomes[0] {
            Outcome::Suppressed { reason: SuppressReason::NoTarget, message, .. } => {
                assert!(message.contains("has no label \"pod\""), "{message}")
            }
            o => panic!("{o:?}"),
        }
        assert!(d.events[0].warning);
        assert_eq!(d.status.last_suppression.as_ref().unwrap().reason, "NoTarget");
    }

    #[test]
    fn the_status_stays_bounded() {
        let mut t = trigger(TriggerTarget::default());
        t.spec.max_active_requests = 20;
        t.spec.cooldown = "0s".into();
        let mut observed = BTreeMap::new();
        for i in 0..500 {
            let a = firing(&format!("p-{i}"), &format!("f{i}"));
            let d = decide(&t, &[&a], &observed, now());
            for (n, _) in apply(&mut t, &d) {
                observed.insert(n, Observed { finished: true });
            }
        }
        let s = t.status.as_ref().unwrap();
        assert_eq!(s.created, 500);
        assert!(s.requests.len() <= REMEMBERED_REQUESTS_MAX, "{}", s.requests.len());
        assert!(s.cooldowns.is_empty());
    }
}
