//! Alertmanager's webhook payload, version 4, parsed from untrusted bytes with bounds on every
//! part: the body itself is capped before it gets here, and the number of alerts, labels and the
//! length of names and values are checked so that a hostile sender cannot make one alert cost
//! more than a few KiB of work.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Most alerts in one payload (Alertmanager's `max_alerts` is unlimited by default, but a group
/// of more than this many is a configuration problem, not an incident).
pub const MAX_ALERTS: usize = 1000;
/// Most labels on one alert.
pub const MAX_LABELS: usize = 64;
/// Longest label name.
pub const MAX_LABEL_NAME: usize = 256;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 4096;
/// Longest annotation value kept (longer ones are cut, not refused: they are only copied).
pub const MAX_ANNOTATION: usize = 1024;

/// The payload, as godiag uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub receiver: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, normalised (the same instant always gives the same string).
    pub starts_at: String,
    pub generator_url: String,
    pub fingerprint: String,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// Why a body is not an Alertmanager webhook payload; the message is the 400's body.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("webhook payload version {0:?} is not supported: godiag reads Alertmanager's version \"4\"")]
    WrongVersion(String),
    #[error("the body is JSON but not an Alertmanager webhook payload: {0}")]
    Shape(String),
}

impl PayloadError {
    /// Stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PayloadError::NotJson(_) => "NotJson",
            PayloadError::WrongVersion(_) => "WrongVersion",
            PayloadError::Shape(_) => "BadPayload",
        }
    }
}

#[derive(Deserialize)]
struct VersionProbe {
    version: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    receiver: String,
    alerts: Vec<WireAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert {
    status: AlertStatus,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
}

/// Parses a webhook body. Every error says what is wrong and where.
pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    // serde reads a struct from an array too; Alertmanager's payload is an object.
    if body.trim_ascii_start().first() == Some(&b'[') {
        return Err(PayloadError::Shape(
            "expected a JSON object with \"version\": \"4\" and \"alerts\", not an array".into(),
        ));
    }
    let probe: VersionProbe = serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            PayloadError::NotJson(e.to_string())
        } else {
            PayloadError::Shape(format!("{e} (expected an object with \"version\": \"4\" and \"alerts\")"))
        }
    })?;
    match probe.version {
        Some(serde_json::Value::String(v)) if v == "4" => {}
        Some(serde_json::Value::String(v)) => return Err(PayloadError::WrongVersion(v)),
        Some(other) => return Err(PayloadError::WrongVersion(clip(&other.to_string(), 64))),
        None => return Err(PayloadError::Shape("missing field `version`".into())),
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|e| PayloadError::Shape(e.to_string()))?;
    if wire.alerts.len() > MAX_ALERTS {
        return Err(PayloadError::Shape(format!(
            "{} alerts in one payload, more than {MAX_ALERTS}: lower max_alerts in the receiver's webhook_config",
            wire.alerts.len()
        )));
    }
    let alerts = wire.alerts.into_iter().enumerate().map(|(i, a)| check_alert(i, a)).collect::<Result<_, _>>()?;
    Ok(Payload { receiver: clip(&wire.receiver, MAX_LABEL_VALUE), alerts })
}

fn check_alert(i: usize, a: WireAlert) -> Result<Alert, PayloadError> {
    let bad = |what: String| PayloadError::Shape(format!("alerts[{i}]: {what}"));
    if a.labels.len() > MAX_LABELS {
        return Err(bad(format!("{} labels, more than {MAX_LABELS}", a.labels.len())));
    }
    for (k, v) in &a.labels {
        if k.is_empty() || k.len() > MAX_LABEL_NAME {
            return Err(bad(format!("a label name of {} bytes (1–{MAX_LABEL_NAME} allowed)", k.len())));
        }
        if v.len() > MAX_LABEL_VALUE {
            return Err(bad(format!(
                "label {:?} has a value of {} bytes, more than {MAX_LABEL_VALUE}",
                clip(k, 64),
                v.len()
            )));
        }
    }
    if a.annotations.len() > MAX_LABELS {
        return Err(bad(format!("{} annotations, more than {MAX_LABELS}", a.annotations.len())));
    }
    let fp = &a.fingerprint;
    if fp.is_empty() || fp.len() > 64 || !fp.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad(format!("fingerprint {:?} is not 1–64 letters and digits", clip(fp, 80))));
    }
    let starts: jiff::Timestamp = a
        .starts_at
        .parse()
        .map_err(|e| bad(format!("startsAt {:?} is not an RFC 3339 time: {e}", clip(&a.starts_at, 80))))?;
    let annotations = a
        .annotations
        .into_iter()
        .filter(|(k, _)| !k.is_empty() && k.len() <= MAX_LABEL_NAME)
        .map(|(k, v)| (k, clip(&v, MAX_ANNOTATION)))
        .collect();
    Ok(Alert {
        status: a.status,
        labels: a.labels,
        annotations,
        starts_at: starts.to_string(),
        generator_url: clip(&a.generator_url, 2048),
        fingerprint: a.fingerprint,
    })
}

/// The first `max` bytes of `s`, cut at a character boundary. For data copied on (labels,
/// annotations, names): unlike `godiag_analyze::text::clip`, which cleans text for display, it
/// keeps the characters as they are and adds no `…`; and this file compiles alone in the fuzz crate.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload in the shape Alertmanager 0.35 sends (its notify/webhook Message; also the fuzzer's seed).
    pub const SAMPLE: &str = include_str!("testdata/alertmanager-0.35-firing.json");

    #[test]
    fn reads_alertmanagers_payload() {
        let p = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(p.receiver, "godiag");
        let a = &p.alerts[0];
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.name(), "GoGoroutineLeak");
        assert_eq!(a.labels["pod"], "checkout-7d9f-abc");
        assert_eq!(a.fingerprint, "4c0f9c0a5c1b2d3e");
        assert_eq!(a.annotations["summary"], "goroutines grow");
    }

    #[test]
    fn the_same_instant_gives_the_same_starts_at() {
        let a = SAMPLE.replace("03:00:00.123456789Z", "04:00:00.123456789+01:00");
        assert_eq!(
            parse(SAMPLE.as_bytes()).unwrap().alerts[0].starts_at,
            parse(a.as_bytes()).unwrap().alerts[0].starts_at
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = parse(b"not json").unwrap_err();
        assert!(matches!(e, PayloadError::NotJson(_)), "{e}");
        let e = parse(br#"{"version":"3","alerts":[]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "webhook payload version \"3\" is not supported: godiag reads Alertmanager's version \"4\""
        );
        let e = parse(br#"{"version":4,"alerts":[]}"#).unwrap_err();
        assert_eq!(e, PayloadError::WrongVersion("4".into()), "a number is not the string \"4\"");
        let e = parse(br#"{"version":"4"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `alerts`"), "{e}");
        let e = parse(br#"[1,2]"#).unwrap_err();
        assert!(matches!(e, PayloadError::Shape(_)), "{e}");
        let e = parse(SAMPLE.replace("4c0f9c0a5c1b2d3e", "../../x").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("alerts[0]: fingerprint"), "{e}");
        let e = parse(SAMPLE.replace("2026-12-02T03:00:00.123456789Z", "yesterday").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("startsAt \"yesterday\""), "{e}");
        let e = parse(SAMPLE.replace(r#""status":"firing","labels""#, r#""status":"burning","labels""#).as_bytes())
            .unwrap_err();
        assert!(e.to_string().contains("burning"), "{e}");
    }

    #[test]
    fn bounds_hold() {
        let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!(r#""l{i}":"v""#)).collect();
        let body = SAMPLE.replace(r#""severity":"warning""#, &many.join(","));
        assert!(parse(body.as_bytes()).unwrap_err().to_string().contains("labels, more than 64"));
        let long = "x".repeat(MAX_LABEL_VALUE + 1);
        let body = SAMPLE.replace(r#""severity":"warning""#, &format!(r#""severity":"{long}""#));
        assert!(
            parse(body.as_bytes()).unwrap_err().to_string().contains("label \"severity\" has a value of 4097 bytes")
        );
        let note = "y".repeat(10_000);
        let body = SAMPLE.replace("goroutines grow", &note);
        assert_eq!(parse(body.as_bytes()).unwrap().alerts[0].annotations["summary"].len(), MAX_ANNOTATION);
    }
}
