//! Alerts start diagnoses, with the real parts a user runs: godiag installed by the real Helm
//! (receiver enabled, two replicas), a real Prometheus scraping the Go program and firing a rule,
//! a real Alertmanager delivering to the receiver with a bearer token. One test, in phases,
//! because the Helm release replaces the kustomize install for its duration (two controllers
//! must never run side by side) and puts it back at the end.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::godiag::{REQUEST_TIMEOUT, complete, deploy_goapp, install_godiag, kubectl, pod_memory, pod_memory_peak};
use common::{OPERATOR_NAMESPACE, TIMEOUT, wait_for, with_temp_ns};
use futures::StreamExt;
use godiag::api::{DiagnosisRequest, DiagnosisTrigger, Phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, ListParams, LogParams, PostParams};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const RELEASE: &str = "godiag-alerts";
const RELEASE_NS: &str = "godiag-alerts";
const ALERTMANAGER_IMAGE: &str = "localhost/alertmanager:e2e";
const PROMETHEUS_IMAGE: &str = "localhost/prometheus:e2e";

fn helm(args: &[&str]) -> Result<String> {
    let bin = std::env::var("HELM").context("HELM is not set (e2e/run-local.sh sets it to the Helm it built)")?;
    let out = std::process::Command::new(&bin).args(args).current_dir(common::godiag::repo()).output()?;
    if !out.status.success() {
        bail!("helm {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `body` with godiag installed by `helm install` instead of the kustomize install, which
/// is scaled to 0 meanwhile and restored afterwards, whatever the outcome.
async fn with_helm_install<F, Fut>(body: F) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    install_godiag().await?; // the CRDs, and the install to put back
    let client = common::client().await;
    let kustomize: Api<Deployment> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let replicas = kustomize.get("godiag").await?.spec.and_then(|s| s.replicas).unwrap_or(1).to_string();
    kubectl(&["-n", OPERATOR_NAMESPACE, "scale", "deployment/godiag", "--replicas=0"])?;
    wait_gone(&client, OPERATOR_NAMESPACE, "app.kubernetes.io/name=godiag").await?;
    let installed = helm(&[
        "install",
        RELEASE,
        "charts/godiag",
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--wait",
        "--timeout",
        "180s",
        "--set",
        "image.repository=localhost/godiag",
        "--set",
        "image.tag=e2e",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "replicaCount=2",
        "--set",
        "log.level=info\\,godiag=debug",
    ]);
    // As with_temp_ns: run the body, clean up whatever happened, then fail or panic as it did.
    let outcome = match installed {
        Ok(_) => futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body())).await,
        Err(e) => Ok(Err(e)),
    };
    if !matches!(outcome, Ok(Ok(()))) {
        let logs =
            kubectl(&["-n", RELEASE_NS, "logs", "-l", "app.kubernetes.io/name=godiag", "--tail=150", "--prefix"]);
        eprintln!("===== helm-installed operator logs =====\n{}", logs.unwrap_or_else(|e| e.to_string()));
    }
    let uninstalled = helm(&["uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait", "--timeout", "120s"]);
    let restored =
        kubectl(&["-n", OPERATOR_NAMESPACE, "scale", "deployment/godiag", &format!("--replicas={replicas}")]);
    wait_for(&kustomize, "godiag", "the kustomize install back", TIMEOUT, common::godiag::deployment_available).await?;
    match outcome {
        Ok(result) => result.and(uninstalled.map(drop)).and(restored.map(drop)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn wait_gone(client: &Client, ns: &str, selector: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + TIMEOUT;
    while !pods.list(&ListParams::default().labels(selector)).await?.items.is_empty() {
        ensure!(Instant::now() < deadline, "pods {selector} in {ns} still there after {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn running_pod(pods: &Api<Pod>, name: &str) -> Result<Pod> {
    wait_for(pods, name, &format!("pod {name} running"), TIMEOUT, kube::runtime::wait::conditions::is_pod_running())
        .await
}

fn pod_ip(p: &Pod) -> Result<String> {
    p.status.as_ref().and_then(|s| s.pod_ip.clone()).context("pod IP")
}

/// A pod running one of the e2e images unprivileged, with a ConfigMap (and optionally a
/// Secret) mounted.
fn tool_pod(name: &str, image: &str, args: &[String], config: &str, secret: Option<&str>) -> Result<Pod> {
    let mut mounts = vec![
        serde_json::json!({"name": "config", "mountPath": "/etc/tool"}),
        serde_json::json!({"name": "data", "mountPath": "/data"}),
    ];
    let mut volumes = vec![
        serde_json::json!({"name": "config", "configMap": {"name": config}}),
        serde_json::json!({"name": "data", "emptyDir": {}}),
    ];
    if let Some(s) = secret {
        mounts.push(serde_json::json!({"name": "tokens", "mountPath": "/etc/alertmanager/godiag", "readOnly": true}));
        volumes.push(serde_json::json!({"name": "tokens", "secret": {"secretName": s}}));
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": name, "image": image, "imagePullPolicy": "Never", "args": args,
                "volumeMounts": mounts,
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": volumes,
        }
    }))?)
}

fn config_map(name: &str, files: &[(&str, String)]) -> Result<ConfigMap> {
    let data: BTreeMap<String, String> = files.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    Ok(serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )?)
}

fn trigger_status(t: &DiagnosisTrigger) -> godiag::api::DiagnosisTriggerStatus {
    t.status.clone().unwrap_or_default()
}

async fn wait_trigger(
    api: &Api<DiagnosisTrigger>,
    name: &str,
    what: &str,
    cond: impl Fn(&godiag::api::DiagnosisTriggerStatus) -> bool,
) -> Result<DiagnosisTrigger> {
    wait_for(api, name, what, REQUEST_TIMEOUT, move |t: Option<&DiagnosisTrigger>| {
        t.is_some_and(|t| cond(&trigger_status(t)))
    })
    .await
}

async fn requests_of(api: &Api<DiagnosisRequest>, trigger: &str) -> Result<Vec<DiagnosisRequest>> {
    Ok(api.list(&ListParams::default().labels(&format!("godiag.dev/trigger={trigger}"))).await?.items)
}

/// An Alertmanager webhook payload (version 4) for `alerts`, as Alertmanager sends it.
fn payload(alerts: &[serde_json::Value]) -> serde_json::Value {
    serde_json::json!({
        "version": "4", "receiver": "godiag", "status": "firing", "groupKey": "{}:{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

fn alert(name: &str, labels: serde_json::Value, fingerprint: &str, starts_at: &str) -> serde_json::Value {
    let mut l = labels;
    l["alertname"] = name.into();
    serde_json::json!({"status": "firing", "labels": l, "annotations": {"summary": "e2e"}, "startsAt": starts_at,
                       "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn operator_pods(client: &Client) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    Ok(pods.list(&ListParams::default().labels("app.kubernetes.io/name=godiag")).await?.items)
}

fn restarts(pods: &[Pod]) -> i32 {
    pods.iter().filter_map(|p| p.status.as_ref()?.container_statuses.as_ref()).flatten().map(|c| c.restart_count).sum()
}

#[tokio::test]
async fn alerts_become_exactly_one_diagnosis_through_prometheus_alertmanager_and_helm() -> Result<()> {
    with_helm_install(|| async { with_temp_ns("alerts", |client, ns| async move { scenario(client, ns).await }).await })
        .await
}

async fn scenario(client: Client, ns: String) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let triggers: Api<DiagnosisTrigger> = Api::namespaced(client.clone(), &ns);
    let requests: Api<DiagnosisRequest> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    // The Go program: leaks 200 goroutines; pprof and /metrics on the pod's IP for Prometheus.
    deploy_goapp(&ns, "goapp", &["-listen=:6060", "-leak=200"]).await?;
    let goapp = pods.list(&ListParams::default().labels("app=goapp")).await?.items.pop().context("goapp pod")?;
    let (goapp_name, goapp_ip) = (goapp.name_any(), pod_ip(&goapp)?);

    // The triggers: the README's example as is, and two for the wrong-token and burst phases.
    kubectl(&["-n", &ns, "apply", "-f", "manifests/examples/trigger-goroutine-leak.yaml"])?;
    for (name, alert) in [("wrong-token-probe", "GoWrongTokenProbe"), ("burst", "GoBurst")] {
        let t: DiagnosisTrigger = serde_json::from_value(serde_json::json!({
            "apiVersion": "godiag.dev/v1alpha1", "kind": "DiagnosisTrigger", "metadata": {"name": name},
            "spec": {"alertName": alert, "template": {"pprof": {"profiles": ["goroutine"]}}, "cooldown": "10m"},
        }))?;
        triggers.create(&pp, &t).await?;
    }

    // The receiver's address (no cluster DNS here: the Service's IP) and its generated token.
    let svc: Api<Service> = Api::namespaced(client.clone(), RELEASE_NS);
    let svc = svc.get("godiag-webhook").await.context("the chart's godiag-webhook Service")?;
    let svc_ip = svc.spec.and_then(|s| s.cluster_ip).context("clusterIP")?;
    let webhook = format!("http://{svc_ip}:8443/alerts");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), RELEASE_NS);
    let token = secrets.get("godiag-webhook-token").await.context("the chart's token Secret")?;
    let token = String::from_utf8(token.data.context("data")?.get("token").context("key token")?.0.clone())?;
    let tokens: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "godiag-tokens"},
        "stringData": {"token": token, "wrong": "not-the-token"},
    }))?;
    Api::<Secret>::namespaced(client.clone(), &ns).create(&pp, &tokens).await?;

    // A real Alertmanager: godiag as a receiver (bearer token from a file), plus a receiver with
    // a wrong token for one probe alert. Short intervals so that its own repeats happen here.
    let am_config = format!(
        r#"route:
  receiver: godiag
  group_by: [alertname, namespace, pod]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 5s
  routes:
    - receiver: godiag-wrong-token
      matchers: [alertname="GoWrongTokenProbe"]
receivers:
  - name: godiag
    webhook_configs:
      - url: {webhook}
        send_resolved: false
        http_config:
          authorization: {{type: Bearer, credentials_file: /etc/alertmanager/godiag/token}}
  - name: godiag-wrong-token
    webhook_configs:
      - url: {webhook}
        http_config:
          authorization: {{type: Bearer, credentials_file: /etc/alertmanager/godiag/wrong}}
"#
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&pp, &config_map("alertmanager", &[("alertmanager.yml", am_config)])?).await?;
    let am_args: Vec<String> = [
        "--config.file=/etc/tool/alertmanager.yml",
        "--storage.path=/data",
        "--cluster.listen-address=",
        "--web.listen-address=:9093",
        "--log.level=debug",
    ]
    .map(String::from)
    .to_vec();
    pods.create(&pp, &tool_pod("alertmanager", ALERTMANAGER_IMAGE, &am_args, "alertmanager", Some("godiag-tokens"))?)
        .await?;
    let am_ip = pod_ip(&running_pod(&pods, "alertmanager").await?)?;
    let am = format!("http://{am_ip}:9093");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    wait_http_ok(&http, &format!("{am}/-/ready"), "Alertmanager ready").await?;

    // A real Prometheus: scrapes goapp, and a rule on its goroutine count fires GoGoroutineLeak.
    let prom_config = format!(
        r#"global: {{scrape_interval: 1s, evaluation_interval: 1s}}
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["{am_ip}:9093"]}}]}}]
rule_files: [/etc/tool/rules.yml]
scrape_configs:
  - job_name: goapp
    static_configs:
      - targets: ["{goapp_ip}:6060"]
        labels: {{namespace: "{ns}", pod: "{goapp_name}"}}
"#
    );
    let rules = r#"groups:
  - name: go
    rules:
      - alert: GoGoroutineLeak
        expr: go_goroutines{job="goapp"} > 150
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.pod }} has {{ $value }} goroutines"}
"#
    .to_string();
    cms.create(&pp, &config_map("prometheus", &[("prometheus.yml", prom_config), ("rules.yml", rules)])?).await?;
    let prom_args: Vec<String> =
        ["--config.file=/etc/tool/prometheus.yml", "--storage.tsdb.path=/data", "--web.listen-address=:9090"]
            .map(String::from)
            .to_vec();
    let chain_started = Instant::now();
    pods.create(&pp, &tool_pod("prometheus", PROMETHEUS_IMAGE, &prom_args, "prometheus", None)?).await?;
    running_pod(&pods, "prometheus").await?;

    // Phase 1: the whole chain, no hand-posted alert: exactly one request, which names the leak.
    let t = wait_trigger(&triggers, "goroutine-leak", "the trigger to create a request", |s| s.created >= 1).await?;
    let name = trigger_status(&t).last_request.context("lastRequest")?;
    let created_after = chain_started.elapsed();
    let req = wait_for(&requests, &name, "the alert's request to complete", REQUEST_TIMEOUT, complete()).await?;
    let status = req.status.clone().unwrap_or_default();
    ensure!(
        status.phase == Some(Phase::Succeeded),
        "the alert's request ended {:?}: {:?}",
        status.phase,
        status.summary
    );
    let summary = status.summary.clone().unwrap_or_default();
    let findings = serde_json::to_string(&status.targets)?;
    ensure!(
        findings.contains("main.leakOne"),
        "the findings name the leaking function main.leakOne: {summary} / {findings}"
    );
    let ann = req.annotations();
    ensure!(ann.get("godiag.dev/alert-name").map(String::as_str) == Some("GoGoroutineLeak"), "annotations: {ann:?}");
    ensure!(req.labels().get("app.kubernetes.io/managed-by").map(String::as_str) == Some("godiag"));
    ensure!(req.owner_references().iter().any(|o| o.kind == "DiagnosisTrigger" && o.name == "goroutine-leak"));
    let starts_at: jiff::Timestamp = ann.get("godiag.dev/alert-starts-at").context("startsAt annotation")?.parse()?;
    let created_at = req.creation_timestamp().context("creationTimestamp")?.0;
    let done_at = status.completion_time.clone().context("completionTime")?.0;
    // creationTimestamp and completionTime have a resolution of 1 s: each figure is a range.
    let (c, d) = (created_at.duration_since(starts_at).as_secs_f64(), done_at.duration_since(starts_at).as_secs_f64());
    common::figure(&format!(
        "alert chain: Prometheus pod created → request created {:.1}s; alert startsAt → request created {:.1}–{:.1}s → Succeeded {:.1}–{:.1}s",
        created_after.as_secs_f64(),
        c.max(0.0),
        c + 1.0,
        d.max(0.0),
        d + 1.0
    ));

    // Phase 2: the same firing again and again — 100 posts to Alertmanager, 100 deliveries
    // straight to the receiver (retries, HA peers; spread over both replicas by the Service),
    // and Alertmanager's own repeats every 5s: still one request.
    let am_alerts: serde_json::Value =
        http.get(format!("{am}/api/v2/alerts?filter=alertname%3D%22GoGoroutineLeak%22")).send().await?.json().await?;
    let firing = am_alerts.as_array().and_then(|a| a.first()).context("Alertmanager holds the firing alert")?.clone();
    let (fp, starts) =
        (firing["fingerprint"].as_str().unwrap_or_default(), firing["startsAt"].as_str().unwrap_or_default());
    let before = trigger_status(&triggers.get("goroutine-leak").await?);
    for _ in 0..100 {
        let a =
            serde_json::json!([{"labels": firing["labels"], "annotations": firing["annotations"], "startsAt": starts}]);
        let r = http.post(format!("{am}/api/v2/alerts")).json(&a).send().await?;
        ensure!(r.status().is_success(), "Alertmanager refused the alert: {}", r.status());
    }
    let direct = payload(&[alert("GoGoroutineLeak", firing["labels"].clone(), fp, starts)]);
    let posts = (0..100).map(|_| http.post(&webhook).bearer_auth(&token).json(&direct).send());
    for r in futures::future::join_all(posts).await {
        let r = r?;
        ensure!(r.status() == 200, "a duplicate delivery got {}", r.status());
        let v: serde_json::Value = r.json().await?;
        ensure!(v["alerts"][0]["outcome"] == "duplicate", "a re-delivery of the firing: {v}");
        ensure!(v["alerts"][0]["request"] == name.as_str(), "it names the request: {v}");
    }
    let t = wait_trigger(&triggers, "goroutine-leak", "Alertmanager's own repeats to arrive", |s| {
        s.deduplicated >= before.deduplicated + 102
    })
    .await?;
    let s = trigger_status(&t);
    let reqs = requests_of(&requests, "goroutine-leak").await?;
    ensure!(reqs.len() == 1 && s.created == 1, "one firing, one request: {} requests, status {s:?}", reqs.len());

    // Phase 3: another alert (another fingerprint) for the same pod inside the cooldown.
    let second = serde_json::json!([{"labels": {"alertname": "GoGoroutineLeak", "namespace": ns, "pod": goapp_name,
        "severity": "warning", "source": "second-rule"}, "annotations": {"summary": "again"}}]);
    http.post(format!("{am}/api/v2/alerts")).json(&second).send().await?.error_for_status()?;
    let t = wait_trigger(&triggers, "goroutine-leak", "the second alert to be suppressed by the cooldown", |s| {
        s.suppressed_by.get("Cooldown").copied().unwrap_or(0) >= 1
    })
    .await?;
    let s = trigger_status(&t);
    let last = s.last_suppression.clone().context("lastSuppression")?;
    ensure!(
        last.reason == "Cooldown" && last.message.contains(&format!("pod/{goapp_name} is in its cooldown until")),
        "{last:?}"
    );
    ensure!(requests_of(&requests, "goroutine-leak").await?.len() == 1, "the cooldown held");
    let reasons = common::godiag::event_reasons(&ns, "goroutine-leak", &["RequestCreated", "Cooldown"]).await?;
    ensure!(
        reasons.iter().any(|r| r == "RequestCreated") && reasons.iter().any(|r| r == "Cooldown"),
        "trigger events: {reasons:?}"
    );

    // What a user sees now (the README's example output comes from here).
    for args in [
        vec!["get", "dtrigger", "-n", ns.as_str()],
        vec!["get", "diag", "-n", ns.as_str(), "-l", "godiag.dev/trigger=goroutine-leak"],
        vec!["describe", "dtrigger", "goroutine-leak", "-n", ns.as_str()],
    ] {
        eprintln!("$ kubectl {}\n{}", args.join(" "), kubectl(&args).unwrap_or_else(|e| e.to_string()));
    }

    // Phase 4: a wrong token. Alertmanager logs the 401 and nothing is created.
    let probe = serde_json::json!([{"labels": {"alertname": "GoWrongTokenProbe", "namespace": ns, "pod": goapp_name}}]);
    http.post(format!("{am}/api/v2/alerts")).json(&probe).send().await?.error_for_status()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let logged = loop {
        let logs = pods.logs("alertmanager", &LogParams::default()).await?;
        if let Some(l) = logs.lines().find(|l| l.contains("unexpected status code 401")) {
            break l.to_string();
        }
        ensure!(Instant::now() < deadline, "Alertmanager never logged a 401 for the wrong token:\n{logs}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(logged.contains("wrong bearer token"), "Alertmanager shows the receiver's message: {logged}");
    let probe_t = triggers.get("wrong-token-probe").await?;
    ensure!(trigger_status(&probe_t).matched == 0, "a refused delivery counts nothing: {:?}", probe_t.status);
    ensure!(requests_of(&requests, "wrong-token-probe").await?.is_empty(), "a wrong token created a request");

    // Phase 5: a burst of 1,000 distinct alerts against one trigger, straight at the receiver
    // through its Service, 8 at a time; their pods cycle through 10 names (one is goapp).
    let operators = operator_pods(&client).await?;
    let uids: Vec<String> = operators.iter().map(|p| p.uid().unwrap_or_default()).collect();
    let rss_before: u64 = uids.iter().filter_map(|u| pod_memory(u, "memory.usage_in_bytes")).sum();
    let restarts_before = restarts(&operators);
    let now = jiff::Timestamp::now().to_string();
    let bodies: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            let pod = if i % 10 == 0 { goapp_name.clone() } else { format!("burst-{}", i % 10) };
            payload(&[alert(
                "GoBurst",
                serde_json::json!({"namespace": ns, "pod": pod, "n": i.to_string()}),
                &format!("b{i:05}"),
                &now,
            )])
        })
        .collect();
    // One new firing first, timed: the 200 comes after the request was created.
    let first = payload(&[alert("GoBurst", serde_json::json!({"namespace": ns, "pod": "burst-1"}), "bfirst", &now)]);
    let t0 = Instant::now();
    let r: serde_json::Value =
        http.post(&webhook).bearer_auth(&token).json(&first).send().await?.error_for_status()?.json().await?;
    let create_latency = t0.elapsed();
    ensure!(r["alerts"][0]["outcome"] == "created", "a new firing creates its request: {r}");
    let burst_started = Instant::now();
    let latencies = futures::stream::iter(bodies.iter().map(|b| {
        let (http, webhook, token) = (&http, &webhook, &token);
        async move {
            let t0 = Instant::now();
            let r = http.post(webhook).bearer_auth(token).json(b).send().await?;
            let code = r.status().as_u16();
            r.bytes().await?;
            anyhow::Ok((code, t0.elapsed()))
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    let burst_wall = burst_started.elapsed();
    let mut lat = Vec::new();
    for r in latencies {
        let (code, d) = r?;
        ensure!(code == 200, "the receiver answered {code} during the burst");
        lat.push(d);
    }
    lat.sort();
    let t = wait_trigger(&triggers, "burst", "the burst to be counted", |s| s.matched == 1001).await?;
    let s = trigger_status(&t);
    let burst_reqs = requests_of(&requests, "burst").await?;
    ensure!(s.created >= 1 && s.created <= 10, "cooldown: at most one request per pod of 10, got {}", s.created);
    ensure!(burst_reqs.len() as i64 == s.created, "{} requests exist, status says {}", burst_reqs.len(), s.created);
    ensure!(s.created + s.suppressed + s.deduplicated == 1001, "every alert accounted for: {s:?}");
    ensure!(s.suppressed_by.get("TooManyActive").copied().unwrap_or(0) > 0, "the cap held some back: {s:?}");
    let operators = operator_pods(&client).await?;
    ensure!(restarts(&operators) == restarts_before, "an operator restarted during the burst");
    let rss_after: u64 = uids.iter().filter_map(|u| pod_memory(u, "memory.usage_in_bytes")).sum();
    let peak: Vec<String> =
        uids.iter().filter_map(|u| pod_memory_peak(u)).map(|b| format!("{} MiB", b >> 20)).collect();
    common::figure(&format!(
        "alert receiver: a delivery that creates its request answered in {} ms (received → request created)",
        create_latency.as_millis()
    ));
    common::figure(&format!(
        "alert burst: 1000 deliveries of 1 alert in {:.1}s ({:.0}/s, 8 concurrent, through the Service to 2 replicas), \
         p50 {} ms p99 {} ms; {} requests created, suppressed {:?}; operator memory {} → {} MiB (both pods), peaks {}",
        burst_wall.as_secs_f64(),
        1000.0 / burst_wall.as_secs_f64(),
        percentile(&lat, 0.5).as_millis(),
        percentile(&lat, 0.99).as_millis(),
        s.created,
        s.suppressed_by,
        rss_before >> 20,
        rss_after >> 20,
        peak.join(", ")
    ));

    // Receiver latency for a 100-alert delivery: new firings for the burst's pods, which their
    // cooldowns and the cap mostly suppress; every delivery is one batch and one status write.
    let hundred = payload(
        &(0..100)
            .map(|i| {
                alert(
                    "GoBurst",
                    serde_json::json!({"namespace": ns, "pod": format!("burst-{}", i % 10 + 1)}),
                    &format!("h{i:05}"),
                    &now,
                )
            })
            .collect::<Vec<_>>(),
    );
    let mut lat100 = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        let r = http.post(&webhook).bearer_auth(&token).json(&hundred).send().await?;
        ensure!(r.status() == 200, "a 100-alert delivery got {}", r.status());
        r.bytes().await?;
        lat100.push(t0.elapsed());
    }
    lat100.sort();
    common::figure(&format!(
        "alert receiver: 100-alert deliveries p50 {} ms p99 {} ms (20 sequential, one status write each)",
        percentile(&lat100, 0.5).as_millis(),
        percentile(&lat100, 0.99).as_millis()
    ));
    Ok(())
}

async fn wait_http_ok(http: &reqwest::Client, url: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{what}: {url} did not answer 200 within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
