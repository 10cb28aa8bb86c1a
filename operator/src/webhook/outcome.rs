//! What happened to each alert of a delivery: the receiver's JSON reply lists one outcome per
//! alert and trigger, and the metrics count them by their stable names.

use jiff::Timestamp;
use serde::Serialize;

/// Why a matching alert created nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum SuppressReason {
    /// The target had a request from this trigger less than `cooldown` ago.
    Cooldown,
    /// `maxActiveRequests` requests of this trigger are still running.
    TooManyActive,
    /// `spec.suspend` is true.
    Suspended,
    /// The alert's labels name no pod (missing label, or not a valid name).
    NoTarget,
    /// A matcher of the trigger is not a valid regular expression.
    InvalidTrigger,
}

impl SuppressReason {
    /// Stable name: status `suppressedBy` key, Event reason, metric label.
    pub fn reason(self) -> &'static str {
        match self {
            SuppressReason::Cooldown => "Cooldown",
            SuppressReason::TooManyActive => "TooManyActive",
            SuppressReason::Suspended => "Suspended",
            SuppressReason::NoTarget => "NoTarget",
            SuppressReason::InvalidTrigger => "InvalidTrigger",
        }
    }
    /// A Warning Event: something a user should fix or know is being dropped.
    pub fn is_warning(self) -> bool {
        matches!(self, SuppressReason::TooManyActive | SuppressReason::NoTarget | SuppressReason::InvalidTrigger)
    }
}

/// What one alert did with one trigger (or with none).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created {
        request: String,
    },
    Duplicate {
        request: String,
    },
    Suppressed {
        reason: SuppressReason,
        message: String,
        until: Option<Timestamp>,
    },
    /// Creating the request failed for a reason a retry would not fix (e.g. the API server
    /// refused it as invalid); the message says why.
    Failed {
        message: String,
    },
    NoMatchingTrigger,
    ResolvedIgnored,
}

impl Outcome {
    /// Stable name, for the reply and the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Suppressed { reason, .. } => match reason {
                SuppressReason::Cooldown => "cooldown",
                SuppressReason::TooManyActive => "tooManyActive",
                SuppressReason::Suspended => "suspended",
                SuppressReason::NoTarget => "noTarget",
                SuppressReason::InvalidTrigger => "invalidTrigger",
            },
            Outcome::Failed { .. } => "failed",
            Outcome::NoMatchingTrigger => "noMatchingTrigger",
            Outcome::ResolvedIgnored => "resolvedIgnored",
        }
    }
}

/// The 200 reply's body.
#[derive(Debug, Serialize, PartialEq)]
pub struct Reply {
    pub alerts: Vec<AlertReply>,
}

/// One line of the reply: an alert and what it did with one trigger.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlertReply {
    pub alertname: String,
    pub fingerprint: String,
    pub outcome: &'static str,
    /// `namespace/name` of the trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl AlertReply {
    pub fn new(alertname: &str, fingerprint: &str, trigger: Option<String>, o: &Outcome) -> Self {
        let (request, until, message) = match o {
            Outcome::Created { request } | Outcome::Duplicate { request } => (Some(request.clone()), None, None),
            Outcome::Suppressed { message, until, .. } => (None, until.map(|u| u.to_string()), Some(message.clone())),
            Outcome::Failed { message } => (None, None, Some(message.clone())),
            Outcome::NoMatchingTrigger | Outcome::ResolvedIgnored => (None, None, None),
        };
        AlertReply {
            alertname: alertname.to_string(),
            fingerprint: fingerprint.to_string(),
            outcome: o.reason(),
            trigger,
            request,
            until,
            message,
        }
    }
}
