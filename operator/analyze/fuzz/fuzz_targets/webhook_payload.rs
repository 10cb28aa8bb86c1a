//! Arbitrary bytes as an Alertmanager webhook body: the receiver's payload parser must never
//! panic, and whatever it accepts stays within its bounds. It compiles the operator's own
//! parser file (pure: serde, serde_json, jiff, thiserror), not a copy.
#![no_main]

#[path = "../../../src/webhook/payload.rs"]
#[allow(dead_code)]
mod payload;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = payload::parse(data) {
        assert!(p.alerts.len() <= payload::MAX_ALERTS);
        for a in &p.alerts {
            assert!(a.labels.len() <= payload::MAX_LABELS);
            assert!(a.labels.iter().all(|(k, v)| k.len() <= payload::MAX_LABEL_NAME && v.len() <= payload::MAX_LABEL_VALUE));
            assert!(a.annotations.values().all(|v| v.len() <= payload::MAX_ANNOTATION));
            assert!(!a.fingerprint.is_empty() && a.fingerprint.len() <= 64);
        }
    }
});
