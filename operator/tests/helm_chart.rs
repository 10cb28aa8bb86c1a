//! charts/godiag through the real Helm: `helm lint`, and `helm template` as a user installs it
//! (defaults, the receiver with TLS and client certificates, an existing token Secret), with the
//! values schema refusing a typo. `make test` builds Helm first (scripts/test-deps.sh); elsewhere
//! set HELM, or the tests say they were skipped.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// HELM, else the build in the cache (`e2e/cluster/build-binaries.sh helm`).
fn helm() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HELM") {
        return Some(h.into());
    }
    let cache = std::env::var("GODIAG_CACHE").unwrap_or_else(|_| "/var/cache/godiag".into());
    let mut found: Vec<PathBuf> = std::fs::read_dir(Path::new(&cache).join("bin"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("helm-v")))
        .map(|p| p.join("helm"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn run(args: &[&str]) -> Option<Result<String, String>> {
    let Some(helm) = helm() else {
        eprintln!("helm not found (set HELM or run scripts/test-deps.sh): skipped");
        return None;
    };
    let out = Command::new(helm).args(args).current_dir(repo()).output().expect("run helm");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) })
}

fn template(set: &[&str]) -> Option<Vec<Value>> {
    let mut args = vec!["template", "godiag", "charts/godiag", "--namespace", "godiag-system"];
    for s in set {
        args.extend(["--set", s]);
    }
    let yaml = run(&args)?.unwrap_or_else(|e| panic!("helm template {set:?} failed: {e}"));
    Some(
        serde_saphyr::from_multiple::<Value>(&yaml)
            .expect("helm's output is YAML")
            .into_iter()
            .filter(|v| !v.is_null())
            .collect(),
    )
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objs.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn env(deploy: &Value, name: &str) -> Option<String> {
    deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

#[test]
fn helm_lint_passes() {
    if let Some(r) = run(&["lint", "charts/godiag", "--strict"]) {
        r.unwrap_or_else(|e| panic!("helm lint --strict: {e}"));
    }
}

#[test]
fn defaults_install_the_receiver_with_a_generated_token() {
    let Some(objs) = template(&[]) else { return };
    let svc = find(&objs, "Service", "godiag-webhook").expect("the webhook Service");
    assert_eq!(svc["spec"]["ports"][0]["name"], "webhook");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8443);
    let secret = find(&objs, "Secret", "godiag-webhook-token").expect("the token Secret");
    let token = secret["data"]["token"].as_str().expect("key token");
    assert!(token.len() >= 48, "a random token of 48 characters, base64: {token}");
    let deploy = find(&objs, "Deployment", "godiag").expect("the Deployment");
    assert_eq!(env(deploy, "GODIAG_WEBHOOK_ADDR").as_deref(), Some("0.0.0.0:8443"));
    assert_eq!(env(deploy, "GODIAG_WEBHOOK_TOKEN_FILE").as_deref(), Some("/etc/godiag/webhook/token"));
    assert_eq!(env(deploy, "GODIAG_WEBHOOK_TLS_CERT"), None, "plain HTTP unless TLS is asked for");
    let again = template(&[]).expect("helm");
    let token2 = find(&again, "Secret", "godiag-webhook-token").unwrap()["data"]["token"].clone();
    assert_ne!(token2, secret["data"]["token"], "each fresh render generates (an install keeps it via lookup)");
}

#[test]
fn tls_client_certificates_and_an_existing_secret() {
    let Some(objs) = template(&[
        "webhook.tls.enabled=true",
        "webhook.tls.secretName=godiag-webhook-tls",
        "webhook.tls.clientCASecret=alertmanager-ca",
        "webhook.token.existingSecret=my-token",
    ]) else {
        return;
    };
    assert!(find(&objs, "Secret", "godiag-webhook-token").is_none(), "an existing Secret is used, none generated");
    let deploy = find(&objs, "Deployment", "godiag").unwrap();
    assert_eq!(env(deploy, "GODIAG_WEBHOOK_TLS_CERT").as_deref(), Some("/etc/godiag/webhook-tls/tls.crt"));
    assert_eq!(env(deploy, "GODIAG_WEBHOOK_CLIENT_CA").as_deref(), Some("/etc/godiag/webhook-client-ca/ca.crt"));
    let volumes = deploy["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    let secret_of = |v: &str| {
        volumes.iter().find(|x| x["name"] == v).map(|x| x["secret"]["secretName"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(secret_of("webhook-token").as_deref(), Some("my-token"));
    assert_eq!(secret_of("webhook-tls").as_deref(), Some("godiag-webhook-tls"));
    assert_eq!(secret_of("webhook-client-ca").as_deref(), Some("alertmanager-ca"));

    let Some(off) = template(&["webhook.enabled=false"]) else { return };
    assert!(find(&off, "Service", "godiag-webhook").is_none());
    assert_eq!(env(find(&off, "Deployment", "godiag").unwrap(), "GODIAG_WEBHOOK_ADDR"), None);
}

#[test]
fn the_values_schema_refuses_typos() {
    let Some(r) = run(&["template", "godiag", "charts/godiag", "--set", "webhook.prot=9000"]) else { return };
    let e = r.expect_err("a typo must not render");
    assert!(e.contains("prot"), "the error names the bad key: {e}");
    let e = run(&["template", "godiag", "charts/godiag", "--set", "webhook.tls.enabled=true"]).unwrap().unwrap_err();
    assert!(e.contains("webhook.tls.secretName is required"), "{e}");
}
