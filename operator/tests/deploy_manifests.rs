//! The install artifacts (manifests/ and charts/godiag/) against what the operator needs and
//! accepts: least-privilege RBAC without wildcards, the same rules in both installs, example
//! requests the API server would admit, and only environment variables the CLI reads.
//! No helm or kustomize needed: the chart's rules are static YAML inside the template.

use godiag::api::{DiagnosisRequest, ProfileKind};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn read(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every YAML document in a file, comment-only documents dropped.
fn docs(rel: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&read(rel)).unwrap_or_else(|e| panic!("{rel}: invalid YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `*.yaml` files directly in a directory of the repository, sorted.
fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_path(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    files.sort();
    files
}

fn manifest_objects() -> Vec<(String, Value)> {
    ["manifests/base", "manifests/e2e", "manifests/examples"]
        .iter()
        .flat_map(|dir| yaml_files(dir))
        .flat_map(|f| docs(&f).into_iter().map(move |d| (f.clone(), d)))
        .collect()
}

fn kind_of(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn base_object(kind: &str) -> Value {
    let mut found: Vec<Value> =
        yaml_files("manifests/base").iter().flat_map(|f| docs(f)).filter(|d| kind_of(d) == kind).collect();
    assert_eq!(found.len(), 1, "manifests/base must hold exactly one {kind}");
    found.remove(0)
}

/// The `rules:` block of the chart's ClusterRole template: static YAML after the line `rules:`,
/// template directive lines (`{{- end }}`) dropped.
fn chart_rules() -> Value {
    let text = read("charts/godiag/templates/clusterrole.yaml");
    let start = text.find("\nrules:").expect("charts/godiag/templates/clusterrole.yaml has a static `rules:` block");
    let block: String =
        text[start..].lines().filter(|l| !l.trim_start().starts_with("{{")).map(|l| format!("{l}\n")).collect();
    assert!(!block.contains("{{"), "the chart's ClusterRole rules must stay static YAML (no template expressions)");
    let parsed: Value = serde_saphyr::from_str(&block).expect("chart rules parse as YAML");
    parsed["rules"].clone()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn assert_no_wildcards(origin: &str, rules: &Value) {
    let rules = rules.as_array().unwrap_or_else(|| panic!("{origin}: rules is not a list"));
    assert!(!rules.is_empty(), "{origin}: no rules");
    for rule in rules {
        for field in ["apiGroups", "resources", "verbs"] {
            let values = strings(&rule[field]);
            assert!(!values.is_empty(), "{origin}: rule {rule} has no {field}");
            assert!(!values.iter().any(|v| v.contains('*')), "{origin}: wildcard in {field} of rule {rule}");
        }
        assert!(rule.get("nonResourceURLs").is_none(), "{origin}: godiag needs no nonResourceURLs");
    }
}

#[test]
fn rbac_rules_use_no_wildcards() {
    let mut roles = 0;
    for (file, obj) in manifest_objects() {
        if matches!(kind_of(&obj), "ClusterRole" | "Role") {
            assert_no_wildcards(&file, &obj["rules"]);
            roles += 1;
        }
    }
    assert!(roles >= 1, "no ClusterRole found under manifests/");
    assert_no_wildcards("charts/godiag/templates/clusterrole.yaml", &chart_rules());
}

#[test]
fn chart_and_manifests_grant_the_same_rules() {
    let manifest_rules = base_object("ClusterRole")["rules"].clone();
    assert_eq!(
        chart_rules(),
        manifest_rules,
        "charts/godiag/templates/clusterrole.yaml and manifests/base/clusterrole.yaml must grant the same rules"
    );
}

#[test]
fn rbac_grants_what_the_operator_does_and_nothing_more() {
    let rules = base_object("ClusterRole")["rules"].clone();
    let granted = |group: &str, resource: &str, verb: &str| {
        rules.as_array().expect("rules").iter().any(|r| {
            strings(&r["apiGroups"]).contains(&group)
                && strings(&r["resources"]).contains(&resource)
                && strings(&r["verbs"]).contains(&verb)
        })
    };
    for (g, r, v) in [
        ("godiag.dev", "diagnosisrequests", "watch"),
        ("godiag.dev", "diagnosisrequests", "delete"),
        // The cleanup finalizer of Delve sessions.
        ("godiag.dev", "diagnosisrequests", "patch"),
        ("godiag.dev", "diagnosisrequests/status", "patch"),
        ("", "pods", "list"),
        ("", "pods/portforward", "get"),
        ("", "pods/portforward", "create"),
        ("events.k8s.io", "events", "create"),
        // Delve: the debugger container, and the namespace's opt-in label and Pod Security level.
        ("", "pods/ephemeralcontainers", "patch"),
        ("", "namespaces", "get"),
        // lastCrash: the previous container's log.
        ("", "pods/log", "get"),
        // The Alertmanager receiver: the request an alert asks for, the triggers, their status.
        ("godiag.dev", "diagnosisrequests", "create"),
        ("godiag.dev", "diagnosistriggers", "watch"),
        ("godiag.dev", "diagnosistriggers/status", "patch"),
    ] {
        assert!(granted(g, r, v), "ClusterRole must allow {v} on {r} in group {g:?}");
    }
    for (g, r, v) in [
        // Ephemeral containers are only ever added; pods themselves are never changed.
        ("", "pods", "patch"),
        ("", "pods", "update"),
        ("", "pods/exec", "create"),
        ("", "pods/log", "list"),
        ("", "namespaces", "list"),
        ("", "secrets", "get"),
        // The receiver's token is a mounted file, never read through the API.
        ("", "secrets", "list"),
        // Triggers are the user's: godiag only writes their status.
        ("godiag.dev", "diagnosistriggers", "patch"),
        ("godiag.dev", "diagnosistriggers", "update"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ] {
        assert!(!granted(g, r, v), "ClusterRole must not allow {v} on {r}: godiag does not need it");
    }
}

#[test]
fn example_requests_are_valid_diagnosis_requests() {
    let mut names = BTreeSet::new();
    for file in yaml_files("manifests/examples") {
        for obj in docs(&file).into_iter().filter(|d| kind_of(d) == "DiagnosisRequest") {
            let req: DiagnosisRequest =
                serde_json::from_value(obj).unwrap_or_else(|e| panic!("{file}: not a DiagnosisRequest: {e}"));
            if let Err(e) = req.validate_cel() {
                panic!("{file}: the API server would refuse it: {e:?}");
            }
            names.insert(req.metadata.name.clone().unwrap_or_default());
        }
    }
    for expected in ["cpu-and-heap", "all-profiles", "named-pods"] {
        assert!(names.contains(expected), "manifests/examples has no request named {expected}: {names:?}");
    }
}

#[test]
fn example_triggers_are_valid_diagnosis_triggers() {
    let mut names = BTreeSet::new();
    for file in yaml_files("manifests/examples") {
        for obj in docs(&file).into_iter().filter(|d| kind_of(d) == "DiagnosisTrigger") {
            let t: godiag::api::DiagnosisTrigger =
                serde_json::from_value(obj).unwrap_or_else(|e| panic!("{file}: not a DiagnosisTrigger: {e}"));
            if let Err(e) = t.validate_cel() {
                panic!("{file}: the API server would refuse it: {e:?}");
            }
            for m in &t.spec.matchers {
                if matches!(m.operator, godiag::api::MatchOperator::Regex | godiag::api::MatchOperator::NotRegex) {
                    regex::Regex::new(&m.value).unwrap_or_else(|e| panic!("{file}: matcher {m:?}: {e}"));
                }
            }
            names.insert(t.metadata.name.clone().unwrap_or_default());
        }
    }
    for expected in ["goroutine-leak", "cpu-saturation", "heap-near-limit"] {
        assert!(names.contains(expected), "manifests/examples has no trigger named {expected}: {names:?}");
    }
}

/// The Alertmanager examples route the alerts the example triggers answer, to the receiver's
/// fixed Service name and path, with a bearer token.
#[test]
fn alertmanager_examples_point_at_the_receiver() {
    let am = read("manifests/alertmanager/alertmanager.yml");
    let amc = read("manifests/alertmanager/alertmanagerconfig.yaml");
    for text in [&am, &amc] {
        assert!(text.contains("http://godiag-webhook.godiag-system.svc:8443/alerts"), "{text}");
        assert!(text.contains("Bearer"));
        for alert in ["GoGoroutineLeak", "GoCPUSaturated", "GoHeapNearMemoryLimit"] {
            assert!(text.contains(alert), "{alert} is not routed");
        }
    }
    let rules = read("manifests/alertmanager/prometheusrule-go.yaml");
    for alert in ["GoGoroutineLeak", "GoCPUSaturated", "GoHeapNearMemoryLimit"] {
        assert!(rules.contains(&format!("alert: {alert}")), "no rule for {alert}");
    }
    let service = docs("manifests/base/webhook-service.yaml");
    assert_eq!(service[0]["metadata"]["name"], "godiag-webhook");
    assert_eq!(service[0]["spec"]["ports"][0]["name"], "webhook");
}

#[test]
fn all_profiles_example_asks_for_every_kind() {
    let req: DiagnosisRequest =
        serde_json::from_value(docs("manifests/examples/all-profiles.yaml").remove(0)).expect("request");
    let asked: BTreeSet<ProfileKind> = req.spec.effective_pprof().unwrap().profiles.iter().copied().collect();
    assert_eq!(asked, ProfileKind::ALL.into_iter().collect());
}

#[test]
fn demo_app_matches_the_selector_of_the_examples() {
    let app = docs("manifests/examples/goapp.yaml").remove(0);
    let labels = &app["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], "goapp");
    let container = &app["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "localhost/goapp:e2e");
    assert_eq!(container["imagePullPolicy"], "Never", "the local cluster has no registry");
    let req: DiagnosisRequest =
        serde_json::from_value(docs("manifests/examples/cpu-and-heap.yaml").remove(0)).expect("request");
    let selector = req.spec.targets.selector.expect("cpu-and-heap selects by label");
    assert_eq!(selector.match_labels.unwrap_or_default().get("app").map(String::as_str), Some("goapp"));
}

/// Environment variable names the operator reads: its clap `env = "..."` attributes, POD_NAME,
/// and the standard object-store credential variables.
fn accepted_env(cli_source: &str, name: &str) -> bool {
    name == "POD_NAME"
        || ["AWS_", "GOOGLE_", "AZURE_"].iter().any(|p| name.starts_with(p))
        || cli_source.contains(&format!("env = \"{name}\""))
}

fn chart_env_names() -> BTreeSet<String> {
    read("charts/godiag/templates/deployment.yaml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .filter(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn deployment_env_vars_are_read_by_the_cli() {
    let cli = read("operator/src/cli.rs");
    let deployment = base_object("Deployment");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].as_array().expect("env").clone();
    let manifest_names: BTreeSet<String> =
        env.iter().map(|e| e["name"].as_str().expect("env name").to_owned()).collect();
    let chart_names = chart_env_names();
    for name in manifest_names.iter().chain(&chart_names) {
        assert!(accepted_env(&cli, name), "{name} is set for the operator but operator/src/cli.rs does not read it");
    }
    assert!(
        manifest_names.is_subset(&chart_names),
        "chart deployment lacks env vars the manifests set: {manifest_names:?} vs {chart_names:?}"
    );
    // Every GODIAG_* setting of the CLI can be set through the chart.
    for setting in cli.split("env = \"").skip(1).filter_map(|s| s.split('"').next()) {
        assert!(chart_names.contains(setting), "{setting} (operator/src/cli.rs) is not settable in charts/godiag");
    }
}

#[test]
fn operator_runs_unprivileged_with_the_published_image() {
    let pod = base_object("Deployment")["spec"]["template"]["spec"].clone();
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&c["securityContext"]["capabilities"]["drop"]), vec!["ALL"]);
    let image = c["image"].as_str().expect("image");
    let values: Value = serde_saphyr::from_str(&read("charts/godiag/values.yaml")).expect("values.yaml");
    let repo = values["image"]["repository"].as_str().expect("image.repository");
    assert!(image.starts_with(&format!("{repo}:")), "manifests use {image}, the chart {repo}");
}
