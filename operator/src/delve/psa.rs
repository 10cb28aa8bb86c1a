//! Reading a Pod Security admission refusal (HTTP 403), e.g. `pods "P" is forbidden: violates
//! PodSecurity "baseline:latest": non-default capabilities (container "C" must not include
//! "SYS_PTRACE" in securityContext.capabilities.add)`.

/// A Pod Security refusal: the enforced level and what it objected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsaRejection {
    /// `baseline:latest`, `restricted:v1.30`.
    pub level: String,
    /// The violations as the API server listed them.
    pub violations: String,
}

impl PsaRejection {
    /// The level without its version: `baseline`.
    pub fn level_name(&self) -> &str {
        self.level.split(':').next().unwrap_or(&self.level)
    }

    /// True when the objection is to a container other than `ours`: the pod already violated the
    /// level, and Pod Security checks the whole pod when a container is added.
    pub fn blames_other_container(&self, ours: &str) -> bool {
        let quoted = format!("container \"{ours}\"");
        self.violations.contains("container \"") && !self.violations.contains(&quoted)
            || self.violations.contains("containers \"") && !self.violations.contains(&format!("\"{ours}\""))
    }
}

/// `Some` when `message` is a Pod Security refusal.
pub fn parse(message: &str) -> Option<PsaRejection> {
    let rest = &message[message.find("violates PodSecurity \"")? + "violates PodSecurity \"".len()..];
    let end = rest.find('"')?;
    let level = rest[..end].to_string();
    let violations = rest[end + 1..].trim_start_matches(':').trim().to_string();
    Some(PsaRejection { level, violations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_level_and_the_violations() {
        let m = r#"pods "goapp-7d9f" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "godiag-dlv-0f3c" must not include "SYS_PTRACE" in securityContext.capabilities.add)"#;
        let r = parse(m).unwrap();
        assert_eq!(r.level, "baseline:latest");
        assert_eq!(r.level_name(), "baseline");
        assert!(
            r.violations.starts_with("non-default capabilities (container \"godiag-dlv-0f3c\""),
            "{}",
            r.violations
        );
        assert!(!r.blames_other_container("godiag-dlv-0f3c"));
        assert!(r.blames_other_container("godiag-dlv-aaaa"));
        assert_eq!(parse("pods \"x\" is forbidden: User \"u\" cannot patch resource"), None);
    }

    #[test]
    fn a_restricted_refusal_lists_several_violations() {
        let m = r#"pods "p" is forbidden: violates PodSecurity "restricted:v1.30": allowPrivilegeEscalation != false (container "d" must set securityContext.allowPrivilegeEscalation=false), runAsNonRoot != true (pod or container "d" must set securityContext.runAsNonRoot=true)"#;
        let r = parse(m).unwrap();
        assert_eq!(r.level_name(), "restricted");
        assert!(r.violations.contains("runAsNonRoot != true"));
    }
}
