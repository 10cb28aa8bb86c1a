//! From an alert to the request it creates: which pods (from the alert's labels), the
//! request's deterministic name, and the DiagnosisRequest object itself. Pure.

use super::payload::{Alert, clip};
use crate::api::{DiagnosisRequest, DiagnosisRequestSpec, DiagnosisTrigger, Targets};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Label on every request a trigger created: the trigger's name.
pub const TRIGGER_LABEL: &str = "godiag.dev/trigger";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const ANN_ALERT_NAME: &str = "godiag.dev/alert-name";
pub const ANN_FINGERPRINT: &str = "godiag.dev/alert-fingerprint";
pub const ANN_STARTS_AT: &str = "godiag.dev/alert-starts-at";
pub const ANN_SUMMARY: &str = "godiag.dev/alert-summary";
pub const ANN_GENERATOR_URL: &str = "godiag.dev/alert-generator-url";

/// The pods one alert names.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTarget {
    pub targets: Targets,
    /// `pod/NAME` or `selector/k=v,…`: what the cooldown is kept for.
    pub key: String,
}

/// Why an alert names no pod.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoTarget {
    #[error("the alert has no label {0:?}, which names the pod (target.podLabel)")]
    MissingPodLabel(String),
    #[error("the alert's label {label:?} is {value:?}, which is not a pod name")]
    BadPodName { label: String, value: String },
    #[error("target.selector.{key}: the alert has no label {label:?}")]
    MissingSelectorLabel { key: String, label: String },
    #[error("target.selector.{key}: {value:?} is not a valid label value")]
    BadSelectorValue { key: String, value: String },
    #[error("target.selector.{key}: only `{{{{ labels.NAME }}}}` is substituted, found {found:?}")]
    BadTemplate { key: String, found: String },
}

/// Maps an alert's labels to the pods of a request.
pub fn alert_target(trigger: &DiagnosisTrigger, alert: &Alert) -> Result<AlertTarget, NoTarget> {
    let t = &trigger.spec.target;
    let (targets, key) = match &t.selector {
        Some(selector) => {
            let mut labels = BTreeMap::new();
            for (k, template) in selector {
                let value = substitute(k, template, &alert.labels)?;
                if !is_label_value(&value) {
                    return Err(NoTarget::BadSelectorValue { key: k.clone(), value: clip(&value, 80) });
                }
                labels.insert(k.clone(), value);
            }
            let key =
                format!("selector/{}", labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
            let targets = Targets {
                selector: Some(LabelSelector { match_labels: Some(labels), match_expressions: None }),
                pods: None,
                container: t.container.clone(),
                max_pods: t.max_pods,
            };
            (targets, key)
        }
        None => {
            let label = t.pod_label();
            let pod = alert.labels.get(label).ok_or_else(|| NoTarget::MissingPodLabel(label.into()))?;
            if !is_dns_subdomain(pod) {
                return Err(NoTarget::BadPodName { label: label.into(), value: clip(pod, 80) });
            }
            let targets =
                Targets { selector: None, pods: Some(vec![pod.clone()]), container: t.container.clone(), max_pods: 1 };
            (targets, format!("pod/{pod}"))
        }
    };
    Ok(AlertTarget { targets, key })
}

/// Replaces each `{{ labels.NAME }}` in `template` by the alert's label NAME; nothing else.
fn substitute(key: &str, template: &str, labels: &BTreeMap<String, String>) -> Result<String, NoTarget> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let bad = || NoTarget::BadTemplate { key: key.into(), found: clip(&rest[start..], 60) };
        let end = after.find("}}").ok_or_else(bad)?;
        let name = after[..end].trim().strip_prefix("labels.").ok_or_else(bad)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad());
        }
        let v =
            labels.get(name).ok_or_else(|| NoTarget::MissingSelectorLabel { key: key.into(), label: name.into() })?;
        out.push_str(v);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(NoTarget::BadTemplate { key: key.into(), found: clip(rest, 60) });
    }
    out.push_str(rest);
    Ok(out)
}

/// A Kubernetes label value: at most 63 characters, alphanumerics, `-`, `_`, `.`, alphanumeric at
/// both ends (or empty).
fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    v.len() <= 63
        && (b.is_empty()
            || (b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))))
}

/// A pod name: a DNS subdomain (lowercase alphanumerics, `-`, `.`, at most 253).
fn is_dns_subdomain(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
}

/// The name of the request for one firing of one alert: the same (trigger, fingerprint,
/// startsAt) always gives the same name, so a second create is a conflict, across restarts and
/// replicas. At most 63 characters (it is also a label value).
pub fn request_name(trigger: &str, fingerprint: &str, starts_at: &str) -> String {
    let digest = Sha256::digest(format!("{trigger}\n{fingerprint}\n{starts_at}").as_bytes());
    let hash = &hex::encode(digest)[..10];
    let prefix = clip(trigger, 52);
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

/// The request one firing creates.
pub fn build_request(trigger: &DiagnosisTrigger, alert: &Alert, target: &AlertTarget, name: &str) -> DiagnosisRequest {
    let tpl = &trigger.spec.template;
    let spec = DiagnosisRequestSpec {
        targets: target.targets.clone(),
        pprof: tpl.pprof.clone(),
        delve: tpl.delve.clone(),
        last_crash: tpl.last_crash,
        baseline: tpl.baseline.clone(),
        ttl_seconds_after_finished: tpl.ttl_seconds_after_finished,
    };
    let mut req = DiagnosisRequest::new(name, spec);
    req.metadata.namespace = trigger.namespace();
    req.metadata.labels = Some(BTreeMap::from([
        (TRIGGER_LABEL.to_string(), clip(&trigger.name_any(), 63)),
        (MANAGED_BY_LABEL.to_string(), "godiag".to_string()),
    ]));
    let mut ann = BTreeMap::from([
        (ANN_ALERT_NAME.to_string(), clip(alert.name(), 253)),
        (ANN_FINGERPRINT.to_string(), alert.fingerprint.clone()),
        (ANN_STARTS_AT.to_string(), alert.starts_at.clone()),
    ]);
    if let Some(s) = alert.annotations.get("summary") {
        ann.insert(ANN_SUMMARY.to_string(), s.clone());
    }
    if !alert.generator_url.is_empty() {
        ann.insert(ANN_GENERATOR_URL.to_string(), alert.generator_url.clone());
    }
    req.metadata.annotations = Some(ann);
    req.metadata.owner_references = Some(vec![OwnerReference {
        api_version: DiagnosisTrigger::api_version(&()).into_owned(),
        kind: DiagnosisTrigger::kind(&()).into_owned(),
        name: trigger.name_any(),
        uid: trigger.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    req
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::api::{DiagnosisTriggerSpec, TriggerTarget};
    use crate::webhook::payload::AlertStatus;

    pub fn trigger(target: TriggerTarget) -> DiagnosisTrigger {
        let mut t = DiagnosisTrigger::new(
            "goroutine-leak",
            DiagnosisTriggerSpec {
                alert_name: "GoGoroutineLeak".into(),
                matchers: vec![],
                target,
                template: Default::default(),
                cooldown: "10m".into(),
                max_active_requests: 1,
                suspend: false,
            },
        );
        t.metadata.namespace = Some("shop".into());
        t.metadata.uid = Some("uid-1".into());
        t
    }

    pub fn alert(labels: &[(&str, &str)]) -> Alert {
        Alert {
            status: AlertStatus::Firing,
            labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            annotations: BTreeMap::from([("summary".into(), "goroutines grow".into())]),
            starts_at: "2026-12-02T03:00:00Z".into(),
            generator_url: "http://prometheus/graph".into(),
            fingerprint: "4c0f9c0a5c1b2d3e".into(),
        }
    }

    #[test]
    fn the_pod_label_names_the_pod() {
        let t = trigger(TriggerTarget::default());
        let got = alert_target(&t, &alert(&[("pod", "checkout-7d9f-abc")])).unwrap();
        assert_eq!(got.targets.pods, Some(vec!["checkout-7d9f-abc".to_string()]));
        assert_eq!(got.key, "pod/checkout-7d9f-abc");
        let e = alert_target(&t, &alert(&[("instance", "10.0.0.1:6060")])).unwrap_err();
        assert_eq!(e.to_string(), "the alert has no label \"pod\", which names the pod (target.podLabel)");
        let e = alert_target(&t, &alert(&[("pod", "../etc")])).unwrap_err();
        assert!(matches!(e, NoTarget::BadPodName { .. }), "{e}");
        let t = trigger(TriggerTarget { pod_label: Some("kubernetes_pod_name".into()), ..Default::default() });
        let got = alert_target(&t, &alert(&[("kubernetes_pod_name", "p-1")])).unwrap();
        assert_eq!(got.key, "pod/p-1");
    }

    #[test]
    fn selector_values_come_from_labels_and_nothing_else() {
        let sel =
            BTreeMap::from([("app".to_string(), "{{ labels.service }}".to_string()), ("tier".into(), "web".into())]);
        let t = trigger(TriggerTarget { selector: Some(sel), ..Default::default() });
        let got = alert_target(&t, &alert(&[("service", "checkout")])).unwrap();
        let labels = got.targets.selector.unwrap().match_labels.unwrap();
        assert_eq!(labels["app"], "checkout");
        assert_eq!(labels["tier"], "web");
        assert_eq!(got.key, "selector/app=checkout,tier=web");
        assert_eq!(got.targets.max_pods, 5);
        let e = alert_target(&t, &alert(&[])).unwrap_err();
        assert_eq!(e.to_string(), "target.selector.app: the alert has no label \"service\"");
        let e = alert_target(&t, &alert(&[("service", "a b")])).unwrap_err();
        assert!(matches!(e, NoTarget::BadSelectorValue { .. }), "{e}");
        for bad in ["{{ .Labels.service }}", "{{ labels.service", "{{ env.HOME }}", "x}}", "{{ labels.a-b }}"] {
            let sel = BTreeMap::from([("app".to_string(), bad.to_string())]);
            let t = trigger(TriggerTarget { selector: Some(sel), ..Default::default() });
            let e = alert_target(&t, &alert(&[("service", "checkout")])).unwrap_err();
            assert!(matches!(e, NoTarget::BadTemplate { .. }), "{bad}: {e}");
        }
        let sel = BTreeMap::from([("app".to_string(), "{{labels.service}}-{{ labels.env }}".to_string())]);
        let t = trigger(TriggerTarget { selector: Some(sel), ..Default::default() });
        let got = alert_target(&t, &alert(&[("service", "checkout"), ("env", "prod")])).unwrap();
        assert_eq!(got.key, "selector/app=checkout-prod");
    }

    #[test]
    fn names_are_deterministic_and_valid() {
        let a = request_name("goroutine-leak", "4c0f9c0a5c1b2d3e", "2026-12-02T03:00:00Z");
        assert_eq!(a, request_name("goroutine-leak", "4c0f9c0a5c1b2d3e", "2026-12-02T03:00:00Z"));
        assert!(a.starts_with("goroutine-leak-") && a.len() == "goroutine-leak-".len() + 10, "{a}");
        assert_ne!(a, request_name("goroutine-leak", "4c0f9c0a5c1b2d3e", "2026-12-02T04:00:00Z"), "a new firing");
        assert_ne!(a, request_name("goroutine-leak", "4c0f9c0a5c1b2d3f", "2026-12-02T03:00:00Z"), "another alert");
        assert_ne!(a, request_name("other", "4c0f9c0a5c1b2d3e", "2026-12-02T03:00:00Z"), "another trigger");
        let long = request_name(&"a".repeat(51).to_string().replace("a", "a-"), "f", "s");
        assert!(long.len() <= 63 && !long.contains("--"), "{long}");
    }

    #[test]
    fn the_request_carries_labels_annotations_and_its_owner() {
        let t = trigger(TriggerTarget::default());
        let a = alert(&[("alertname", "GoGoroutineLeak"), ("pod", "p-1")]);
        let target = alert_target(&t, &a).unwrap();
        let r = build_request(&t, &a, &target, "goroutine-leak-abc");
        assert_eq!(r.metadata.namespace.as_deref(), Some("shop"));
        let labels = r.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[TRIGGER_LABEL], "goroutine-leak");
        assert_eq!(labels[MANAGED_BY_LABEL], "godiag");
        let ann = r.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[ANN_ALERT_NAME], "GoGoroutineLeak");
        assert_eq!(ann[ANN_FINGERPRINT], "4c0f9c0a5c1b2d3e");
        assert_eq!(ann[ANN_SUMMARY], "goroutines grow");
        let owner = &r.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("DiagnosisTrigger", "goroutine-leak", "uid-1")
        );
        assert_eq!(r.spec.targets.pods, Some(vec!["p-1".into()]));
        assert_eq!(
            r.spec.effective_pprof(),
            Some(Default::default()),
            "an empty template collects a request's defaults"
        );
    }
}
