//! Which triggers an alert matches: the alert name, Alertmanager's label matchers, and the
//! namespace rule (a trigger only ever answers alerts about its own namespace).

use crate::api::{DiagnosisTrigger, LabelMatcher, MatchOperator};
use kube::ResourceExt;
use regex::Regex;
use std::collections::BTreeMap;

/// Compiled regexes may use at most this much memory (a trigger is user input too).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A trigger's conditions, compiled once per payload.
#[derive(Debug)]
pub struct CompiledTrigger {
    pub namespace: String,
    pub alert_name: String,
    matchers: Vec<(String, Compiled)>,
}

#[derive(Debug)]
enum Compiled {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

/// A matcher that cannot be compiled; the trigger matches nothing until it is fixed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("matchers[{index}] ({label} {op} {value:?}) is not a valid RE2 regular expression: {error}")]
pub struct InvalidMatcher {
    pub index: usize,
    pub label: String,
    pub op: &'static str,
    pub value: String,
    pub error: String,
}

impl MatchOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOperator::Equal => "=",
            MatchOperator::NotEqual => "!=",
            MatchOperator::Regex => "=~",
            MatchOperator::NotRegex => "!~",
        }
    }
}

/// Compiles a regex the way Alertmanager does: anchored at both ends (`^(?:re)$`).
fn anchored(re: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{re})$")).size_limit(REGEX_SIZE_LIMIT).build()
}

impl CompiledTrigger {
    pub fn compile(trigger: &DiagnosisTrigger) -> Result<Self, InvalidMatcher> {
        let matchers = trigger
            .spec
            .matchers
            .iter()
            .enumerate()
            .map(|(index, m)| compile_one(index, m).map(|c| (m.label.clone(), c)))
            .collect::<Result<_, _>>()?;
        Ok(CompiledTrigger {
            namespace: trigger.namespace().unwrap_or_default(),
            alert_name: trigger.spec.alert_name.clone(),
            matchers,
        })
    }

    /// Whether the alert's name and labels select this trigger. An alert with a `namespace`
    /// label for another namespace never matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if labels.get("alertname").map(String::as_str) != Some(self.alert_name.as_str()) {
            return false;
        }
        if labels.get("namespace").is_some_and(|ns| *ns != self.namespace) {
            return false;
        }
        self.matchers.iter().all(|(label, m)| {
            // Alertmanager: a missing label has the empty value.
            let v = labels.get(label).map_or("", String::as_str);
            match m {
                Compiled::Equal(want) => v == want,
                Compiled::NotEqual(want) => v != want,
                Compiled::Regex(re) => re.is_match(v),
                Compiled::NotRegex(re) => !re.is_match(v),
            }
        })
    }
}

fn compile_one(index: usize, m: &LabelMatcher) -> Result<Compiled, InvalidMatcher> {
    let regex = || {
        anchored(&m.value).map_err(|e| InvalidMatcher {
            index,
            label: m.label.clone(),
            op: m.operator.as_str(),
            value: m.value.clone(),
            error: e.to_string().lines().last().unwrap_or_default().trim().to_string(),
        })
    };
    Ok(match m.operator {
        MatchOperator::Equal => Compiled::Equal(m.value.clone()),
        MatchOperator::NotEqual => Compiled::NotEqual(m.value.clone()),
        MatchOperator::Regex => Compiled::Regex(regex()?),
        MatchOperator::NotRegex => Compiled::NotRegex(regex()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DiagnosisTriggerSpec;

    fn trigger(matchers: &[(&str, MatchOperator, &str)]) -> DiagnosisTrigger {
        let mut t = DiagnosisTrigger::new(
            "t",
            DiagnosisTriggerSpec {
                alert_name: "GoGoroutineLeak".into(),
                matchers: matchers
                    .iter()
                    .map(|(l, o, v)| LabelMatcher { label: (*l).into(), operator: *o, value: (*v).into() })
                    .collect(),
                target: Default::default(),
                template: Default::default(),
                cooldown: "10m".into(),
                max_active_requests: 1,
                suspend: false,
            },
        );
        t.metadata.namespace = Some("shop".into());
        t
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        m.entry("alertname".into()).or_insert_with(|| "GoGoroutineLeak".into());
        m
    }

    /// Alertmanager's semantics, case by case: each row is (matcher, alert labels, expected).
    #[test]
    fn matcher_table() {
        use MatchOperator::*;
        type Row<'a> = ((&'a str, MatchOperator, &'a str), &'a [(&'a str, &'a str)], bool);
        let rows: &[Row] = &[
            (("severity", Equal, "critical"), &[("severity", "critical")], true),
            (("severity", Equal, "critical"), &[("severity", "warning")], false),
            // A missing label is the empty string.
            (("severity", Equal, ""), &[], true),
            (("severity", NotEqual, "critical"), &[], true),
            (("severity", NotEqual, ""), &[], false),
            (("severity", NotEqual, "critical"), &[("severity", "critical")], false),
            // Regexes are anchored at both ends, like Alertmanager's.
            (("severity", Regex, "crit"), &[("severity", "critical")], false),
            (("severity", Regex, "crit.*"), &[("severity", "critical")], true),
            (("severity", Regex, "warning|critical"), &[("severity", "critical")], true),
            (("severity", Regex, "warning|critical"), &[("severity", "xcritical")], false),
            (("severity", Regex, ".*"), &[], true),
            (("severity", Regex, ".+"), &[], false),
            (("severity", NotRegex, "crit"), &[("severity", "critical")], true),
            (("severity", NotRegex, "crit.*"), &[("severity", "critical")], false),
            (("severity", NotRegex, ".+"), &[], true),
            // RE2 syntax, no backtracking features; case-sensitive unless asked.
            (("service", Regex, "(?i)CHECKOUT"), &[("service", "checkout")], true),
            (("service", Regex, "CHECKOUT"), &[("service", "checkout")], false),
        ];
        for (m, l, want) in rows {
            let t = CompiledTrigger::compile(&trigger(&[*m])).unwrap();
            assert_eq!(t.matches(&labels(l)), *want, "{} {} {:?} against {l:?}", m.0, m.1.as_str(), m.2);
        }
    }

    #[test]
    fn all_matchers_must_hold_and_the_name_must_be_equal() {
        use MatchOperator::*;
        let t =
            CompiledTrigger::compile(&trigger(&[("severity", Equal, "warning"), ("team", Regex, "pay.*")])).unwrap();
        assert!(t.matches(&labels(&[("severity", "warning"), ("team", "payments")])));
        assert!(!t.matches(&labels(&[("severity", "warning"), ("team", "search")])));
        assert!(!t.matches(&labels(&[("alertname", "GoGoroutineLeak2"), ("severity", "warning"), ("team", "pay")])));
        assert!(!t.matches(&BTreeMap::new()), "no alertname, no match");
    }

    /// A tenant cannot diagnose another tenant's pods: an alert about another namespace never
    /// matches, whatever else it says.
    #[test]
    fn namespace_isolation() {
        let t = CompiledTrigger::compile(&trigger(&[])).unwrap();
        assert!(t.matches(&labels(&[("namespace", "shop"), ("pod", "p")])));
        assert!(!t.matches(&labels(&[("namespace", "bank"), ("pod", "p")])));
        assert!(t.matches(&labels(&[("pod", "p")])), "without a namespace label the trigger's own namespace is meant");
    }

    #[test]
    fn an_invalid_regex_is_named() {
        let e =
            CompiledTrigger::compile(&trigger(&[("a", MatchOperator::Equal, "("), ("b", MatchOperator::Regex, "(")]))
                .unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.to_string().starts_with("matchers[1] (b =~ \"(\") is not a valid RE2 regular expression"), "{e}");
        // Backreferences are not RE2.
        assert!(CompiledTrigger::compile(&trigger(&[("a", MatchOperator::Regex, r"(a)\1")])).is_err());
    }
}
