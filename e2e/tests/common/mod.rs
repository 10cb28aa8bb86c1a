//! The e2e harness: a client from `KUBECONFIG`, one temporary labelled namespace per
//! test, condition waits with timeouts (never fixed sleeps), and, when a test fails,
//! the operator's logs and the test namespace's events on stderr.
//!
//! Typical test:
//!
//! ```ignore
//! #[tokio::test]
//! async fn something_a_user_would_notice() -> anyhow::Result<()> {
//!     common::with_temp_ns("something", |client, ns| async move {
//!         let pods: Api<Pod> = Api::namespaced(client, &ns);
//!         // create objects, then wait for what the user would see:
//!         common::wait_for(&pods, "p", "pod running", TIMEOUT, conditions::is_pod_running()).await?;
//!         Ok(())
//!     })
//!     .await
//! }
//! ```
#![allow(dead_code)] // every test binary compiles this module and uses a different subset

pub mod godiag;

use std::{fmt::Debug, future::Future, panic::AssertUnwindSafe, time::Duration};

use anyhow::{Context, Result, bail};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, ServiceAccount};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, LogParams, ObjectMeta, PostParams},
    runtime::wait::{Condition, await_condition},
};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Namespace and label selector of the installed operator, whose logs a failing test prints.
pub const OPERATOR_NAMESPACE: &str = "godiag-system";
pub const OPERATOR_SELECTOR: &str = "app.kubernetes.io/name=godiag";
/// Label on every namespace the tests create (`kubectl delete ns -l godiag.dev/e2e` cleans up
/// after a crashed run).
pub const TEST_NAMESPACE_LABEL: &str = "godiag.dev/e2e";

/// Generous bound for anything a healthy single-node cluster does (pod start, namespace setup).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Images built by `e2e/images/build.sh` and imported into the node's containerd. Pods that
/// use them must say `imagePullPolicy: Never`: there is no registry.
pub const GOAPP_IMAGE: &str = "localhost/goapp:e2e";
pub const BUSYBOX_IMAGE: &str = "localhost/busybox:e2e";
pub const DLV_IMAGE: &str = "localhost/dlv:1.27.2";
pub const GODIAG_IMAGE: &str = "localhost/godiag:e2e";
pub const S3_IMAGE: &str = "localhost/s3:e2e";

/// Records a measured figure (`e2e figure: …`): on stderr, and appended to the file
/// `E2E_FIGURES` names (default `godiag-e2e-figures.txt` in the temp dir), which
/// `e2e/run-local.sh` prints at the end of a run; passing tests' stderr is not shown.
pub fn figure(line: &str) {
    use std::io::Write;
    eprintln!("e2e figure: {line}");
    let path = std::env::var_os("E2E_FIGURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("godiag-e2e-figures.txt"));
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

/// A client for the cluster in `KUBECONFIG`. Panics with a readable message if unset: e2e
/// tests run only against a cluster someone chose on purpose.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set. Start the local cluster (e2e/cluster/up.sh), `source e2e/cluster/env.sh`, \
         and run the tests inside its netns: in-cluster-netns cargo test -p godiag-e2e --features e2e"
    );
    Client::try_default().await.expect("cannot build a Kubernetes client from KUBECONFIG")
}

/// Wait until `cond` holds for the object `name`, or fail after `timeout` saying what we
/// waited for. Built on a watch (`await_condition`), so it returns as soon as it holds.
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, timeout: Duration, cond: impl Condition<K>) -> Result<K>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(obj))) => Ok(obj),
        Ok(Ok(None)) => bail!("waiting for {what}: {name} does not exist (or was deleted)"),
        Ok(Err(e)) => Err(e).with_context(|| format!("waiting for {what} ({name})")),
        Err(_) => bail!("timed out after {timeout:?} waiting for {what} ({name})"),
    }
}

/// A namespace that exists for one test. Created with a server-generated unique name and the
/// [`TEST_NAMESPACE_LABEL`]; ready once its `default` ServiceAccount exists. Delete it with
/// [`TempNamespace::delete`]; if the guard is dropped instead (a panic), the drop still asks
/// the API server to delete it.
pub struct TempNamespace {
    name: String,
    deleted: bool,
}

impl TempNamespace {
    pub async fn create(client: &Client, prefix: &str) -> Result<Self> {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("e2e-{prefix}-")),
                labels: Some([(TEST_NAMESPACE_LABEL.to_owned(), prefix.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = namespaces.create(&PostParams::default(), &ns).await.context("creating the test namespace")?;
        let guard = Self { name: created.name_any(), deleted: false };
        // Pods are refused until the controller-manager has made the default ServiceAccount.
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &guard.name);
        wait_for(
            &accounts,
            "default",
            "the namespace's default ServiceAccount",
            TIMEOUT,
            |sa: Option<&ServiceAccount>| sa.is_some(),
        )
        .await?;
        Ok(guard)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Delete the namespace and wait until it is gone, so tests do not pile up terminating
    /// namespaces on a small node.
    pub async fn delete(mut self, client: &Client) -> Result<()> {
        self.deleted = true;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let uid = match namespaces.delete(&self.name, &DeleteParams::foreground()).await {
            Ok(either) => either.left().and_then(|ns| ns.uid()),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e).context("deleting the test namespace"),
        };
        if let Some(uid) = uid {
            wait_for(
                &namespaces,
                &self.name,
                "test namespace deletion",
                TIMEOUT,
                kube::runtime::wait::conditions::is_deleted(&uid),
            )
            .await
            .map(|_| ())
            .or_else(|e| if e.to_string().contains("does not exist") { Ok(()) } else { Err(e) })?;
        }
        Ok(())
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // We may be inside the test's runtime (even unwinding from a panic), so we cannot
        // await here: delete from a fresh runtime on its own thread, with its own client.
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(client) = Client::try_default().await {
                    let namespaces: Api<Namespace> = Api::all(client);
                    let _ = namespaces.delete(&name, &DeleteParams::background()).await;
                }
            });
        });
        let _ = done.join();
        eprintln!("e2e: deleted namespace {} from the drop guard (not waited for)", self.name);
    }
}

/// Run `body` in a fresh temporary namespace. If it fails or panics, print the operator's
/// logs and the namespace's events and pods, then delete the namespace either way.
pub async fn with_temp_ns<F, Fut>(prefix: &str, body: F) -> Result<()>
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let client = client().await;
    let ns = TempNamespace::create(&client, prefix).await?;
    let outcome = AssertUnwindSafe(body(client.clone(), ns.name().to_owned())).catch_unwind().await;
    let failed = !matches!(outcome, Ok(Ok(())));
    if failed {
        dump_diagnostics(&client, ns.name()).await;
    }
    let deleted = ns.delete(&client).await;
    match outcome {
        Ok(result) => result.and(deleted),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Print what helps most when an e2e test fails: the namespace's pods and events, and the
/// operator's recent logs. Best effort: diagnostics never fail the test themselves.
pub async fn dump_diagnostics(client: &Client, namespace: &str) {
    eprintln!("===== e2e diagnostics for namespace {namespace} =====");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match pods.list(&ListParams::default()).await {
        Ok(list) => {
            for p in list {
                let status = p.status.as_ref();
                eprintln!(
                    "pod {}: phase={} {}",
                    p.name_any(),
                    status.and_then(|s| s.phase.as_deref()).unwrap_or("?"),
                    status
                        .and_then(|s| s.container_statuses.as_ref())
                        .map(|cs| {
                            cs.iter()
                                .map(|c| format!("{}: ready={} state={:?}", c.name, c.ready, c.state))
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default()
                );
            }
        }
        Err(e) => eprintln!("(cannot list pods: {e})"),
    }

    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    match events.list(&ListParams::default()).await {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by_key(|e| e.last_timestamp.clone().or(e.first_timestamp.clone()).map(|t| t.0));
            eprintln!("--- events ({}) ---", items.len());
            for e in items {
                eprintln!(
                    "{} {} {}/{}: {}",
                    e.type_.as_deref().unwrap_or(""),
                    e.reason.as_deref().unwrap_or(""),
                    e.involved_object.kind.as_deref().unwrap_or(""),
                    e.involved_object.name.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => eprintln!("(cannot list events: {e})"),
    }

    let operator: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    match operator.list(&ListParams::default().labels(OPERATOR_SELECTOR)).await {
        Ok(list) if list.items.is_empty() => {
            eprintln!("--- no operator pods ({OPERATOR_SELECTOR} in {OPERATOR_NAMESPACE}) ---");
        }
        Ok(list) => {
            for p in list {
                let lp = LogParams { tail_lines: Some(200), ..LogParams::default() };
                eprintln!("--- operator logs: {OPERATOR_NAMESPACE}/{} (last 200 lines) ---", p.name_any());
                match operator.logs(&p.name_any(), &lp).await {
                    Ok(text) => eprintln!("{text}"),
                    Err(e) => eprintln!("(cannot read logs: {e})"),
                }
            }
        }
        Err(e) => eprintln!("(cannot list operator pods: {e})"),
    }
    eprintln!("===== end of diagnostics =====");
}

/// Waits until the program in `pod` answers `path` on `port` with HTTP 200 through a
/// port-forward (Running is not listening yet: a program just started, or starved of CPU, may
/// not have bound its port), retrying every 500 ms up to [`TIMEOUT`]; returns that response.
pub async fn wait_until_serving(pods: &Api<Pod>, pod: &str, port: u16, path: &str) -> Result<String> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match get_through_port_forward(pods, pod, port, path).await {
            Ok(r) if r.starts_with("HTTP/1.1 200") => return Ok(r),
            Ok(other) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("no HTTP 200 from {path} through port-forward to {pod}; last response:\n{other}")
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(e.context(format!("no HTTP 200 from {path} through port-forward to {pod}")));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// One HTTP/1.1 GET over a fresh API-server port-forward; returns the raw response.
pub async fn get_through_port_forward(pods: &Api<Pod>, pod: &str, port: u16, path: &str) -> Result<String> {
    let mut forwarder = pods.portforward(pod, &[port]).await.context("opening port-forward")?;
    let mut stream = forwarder.take_stream(port).context("port-forward gave no stream")?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.context("reading the response")?;
    drop(stream);
    // With kube 5.0, join() reports "Sending after closing is not allowed" when the pod side
    // closed first (as it does after `Connection: close`): the exchange itself succeeded.
    if let Err(e) = forwarder.join().await {
        eprintln!("port-forward closed with: {e} (ignored: the response was complete)");
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}
