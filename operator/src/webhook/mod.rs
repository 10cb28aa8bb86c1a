//! The Alertmanager receiver: firing alerts become DiagnosisRequests through DiagnosisTriggers.
//!
//! - [`payload`]: the webhook body (version 4), bounded; [`matcher`]: which triggers an alert
//!   matches; [`target`]: which pods, the request's name and object; [`decide`]: duplicates,
//!   cooldowns and the cap, from the trigger's status (all pure).
//! - [`receiver`]: the Kubernetes reads and writes; [`server`], [`auth`], [`tls`]: HTTP(S).

pub mod auth;
pub mod decide;
pub mod matcher;
pub mod outcome;
pub mod payload;
pub mod receiver;
pub mod server;
pub mod target;
pub mod tls;

use crate::api::DiagnosisTrigger;
use crate::metrics::Metrics;
use anyhow::Context as _;
use futures::StreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use std::net::SocketAddr;
use std::sync::Arc;

/// How the receiver listens.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    pub token: auth::TokenFile,
    pub tls: Option<tls::TlsFiles>,
    pub max_body: usize,
}

/// Runs the receiver until its listener fails: a watched cache of the triggers, and the
/// HTTP(S) server. Every replica runs it (not only the leader): decisions are ordered by the
/// triggers' resourceVersion, not by who leads.
pub async fn run(
    client: Client,
    triggers: Api<DiagnosisTrigger>,
    config: ListenConfig,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose().context("webhook TLS")?;
    let (store, writer) = reflector::store();
    let watch = reflector(writer, watcher(triggers, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "watching DiagnosisTriggers failed; retrying");
            }
        });
    let reporter = Reporter { controller: "godiag-webhook".into(), instance: std::env::var("POD_NAME").ok() };
    let receiver = receiver::Receiver::new(client.clone(), store, Recorder::new(client, reporter), metrics.clone());
    let state = server::WebhookState {
        deliveries: Arc::new(receiver),
        token: config.token.clone(),
        max_body: config.max_body,
        metrics,
    };
    let app = server::router(state);
    let listener = std::net::TcpListener::bind(config.addr)
        .with_context(|| format!("cannot listen on {} for the webhook", config.addr))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %config.addr, %scheme, path = server::PATH, "Alertmanager receiver listening");
    tokio::select! {
        () = watch => anyhow::bail!("the DiagnosisTrigger watch ended"),
        r = serve(listener, app, tls) => r,
    }
}

/// Serves the receiver's router on a bound listener: HTTPS with `tls`, else plain HTTP.
pub async fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    match tls {
        Some(tls) => axum_server::from_tcp_rustls(listener, axum_server::tls_rustls::RustlsConfig::from_config(tls))?
            .serve(app.into_make_service())
            .await
            .with_context(|| format!("webhook listener {addr} failed")),
        None => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app).await.with_context(|| format!("webhook listener {addr} failed"))
        }
    }
}
