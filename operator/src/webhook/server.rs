//! The receiver's HTTP(S) listener, separate from the metrics port. Checks in the order a
//! sender can act on: method (405), token (401), content type (415), size (413, read without
//! buffering past the cap), payload (400); then 200 with what each alert did, or 503 when the
//! API server cannot be reached (Alertmanager retries exactly 5xx).

use super::auth::TokenFile;
use super::outcome::Reply;
use super::payload::{self, Payload};
use super::receiver::Unavailable;
use crate::metrics::{Metrics, ReasonLabel};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use std::sync::Arc;

/// The path Alertmanager posts to: `http(s)://godiag-webhook.<namespace>.svc:8443/alerts`.
pub const PATH: &str = "/alerts";
/// Default cap on a delivery's body.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// What the receiver does with a parsed delivery (the cluster in production, a fake in tests).
pub trait Deliveries: Send + Sync + 'static {
    fn deliver<'a>(&'a self, payload: &'a Payload) -> BoxFuture<'a, Result<Reply, Unavailable>>;
}

impl Deliveries for super::receiver::Receiver {
    fn deliver<'a>(&'a self, payload: &'a Payload) -> BoxFuture<'a, Result<Reply, Unavailable>> {
        Box::pin(self.handle(payload))
    }
}

#[derive(Clone)]
pub struct WebhookState {
    pub deliveries: Arc<dyn Deliveries>,
    pub token: TokenFile,
    pub max_body: usize,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route(PATH, axum::routing::any(receive))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

fn error(status: StatusCode, reason: &'static str, message: String, metrics: &Metrics) -> Response {
    metrics.webhook_rejected.get_or_create(&ReasonLabel { reason }).inc();
    tracing::info!(status = status.as_u16(), reason, %message, "webhook delivery refused");
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn receive(State(s): State<WebhookState>, req: Request) -> Response {
    let m = &s.metrics;
    if req.method() != Method::POST {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "WrongMethod",
            format!("{} is not allowed: Alertmanager POSTs its webhook here", req.method()),
            m,
        );
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if let Err(e) = s.token.check(req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes)) {
        let mut r = error(StatusCode::UNAUTHORIZED, e.reason(), e.to_string(), m);
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "WrongContentType",
            format!("content type {ct:?} is not application/json"),
            m,
        );
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "TooLarge",
            format!(
                "the body is larger than {} bytes (GODIAG_WEBHOOK_MAX_BODY): lower max_alerts in the webhook_config",
                s.max_body
            ),
            m,
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_body as u64) {
        return too_large();
    }
    let body = match http_body_util::Limited::new(req.into_body(), s.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Err(e) => return error(StatusCode::BAD_REQUEST, "BodyReadFailed", format!("reading the body failed: {e}"), m),
    };
    let payload = match payload::parse(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.reason(), e.to_string(), m),
    };
    drop(body);
    let started = std::time::Instant::now();
    match s.deliveries.deliver(&payload).await {
        Ok(reply) => {
            m.webhook_seconds.observe(started.elapsed().as_secs_f64());
            (StatusCode::OK, axum::Json(reply)).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, alerts = payload.alerts.len(), "cannot handle an Alertmanager delivery now; it will retry");
            error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", e.to_string(), m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::outcome::{AlertReply, Outcome};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Answers every alert "created", or 503 while `down`.
    struct Fake {
        down: AtomicBool,
    }
    impl Deliveries for Fake {
        fn deliver<'a>(&'a self, p: &'a Payload) -> BoxFuture<'a, Result<Reply, Unavailable>> {
            Box::pin(async move {
                if self.down.load(Ordering::Relaxed) {
                    return Err(Unavailable::NotSynced);
                }
                let alerts = p
                    .alerts
                    .iter()
                    .map(|a| {
                        let o = Outcome::Created { request: format!("r-{}", a.fingerprint) };
                        AlertReply::new(a.name(), &a.fingerprint, Some("shop/t".into()), &o)
                    })
                    .collect();
                Ok(Reply { alerts })
            })
        }
    }

    struct Server {
        url: String,
        fake: Arc<Fake>,
        _dir: tempfile::TempDir,
        task: tokio::task::JoinHandle<()>,
    }
    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn start(max_body: usize) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let fake = Arc::new(Fake { down: AtomicBool::new(false) });
        let state = WebhookState {
            deliveries: fake.clone(),
            token: TokenFile { path: dir.path().join("token") },
            max_body,
            metrics: Arc::new(Metrics::default()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
        Server { url, fake, _dir: dir, task }
    }

    fn post(url: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(url)
            .header("authorization", "Bearer s3cret")
            .header("content-type", "application/json")
            .body(body)
    }

    fn sample() -> String {
        r#"{"version":"4","receiver":"godiag","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A","pod":"p"},"annotations":{},"startsAt":"2026-12-02T03:00:00Z","fingerprint":"ab12"}]}"#.to_string()
    }

    async fn status_and_error(r: reqwest::Response) -> (u16, String) {
        let code = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        (code, v["error"].as_str().unwrap_or_default().to_string())
    }

    #[tokio::test]
    async fn every_refusal_has_its_status_code_and_says_why() {
        let s = start(DEFAULT_MAX_BODY).await;
        let c = reqwest::Client::new();

        let r = c.get(&s.url).send().await.unwrap();
        assert_eq!(r.headers()["allow"], "POST");
        assert_eq!(status_and_error(r).await, (405, "GET is not allowed: Alertmanager POSTs its webhook here".into()));

        let r = c.post(&s.url).header("content-type", "application/json").body(sample()).send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let (code, msg) = status_and_error(r).await;
        assert_eq!(code, 401);
        assert!(msg.starts_with("missing Authorization: Bearer header"), "{msg}");
        let r = c.post(&s.url).header("authorization", "Bearer nope").body(sample()).send().await.unwrap();
        assert_eq!(
            status_and_error(r).await,
            (401, "wrong bearer token".into()),
            "the token is checked before anything else"
        );

        let r = c.post(&s.url).header("authorization", "Bearer s3cret").header("content-type", "text/plain");
        let r = r.body(sample()).send().await.unwrap();
        assert_eq!(status_and_error(r).await, (415, "content type \"text/plain\" is not application/json".into()));

        let (code, msg) = status_and_error(post(&s.url, "{not json").send().await.unwrap()).await;
        assert_eq!(code, 400);
        assert!(msg.starts_with("the body is not JSON: key must be a string at line 1 column 2"), "{msg}");
        let (code, msg) = status_and_error(post(&s.url, r#"{"version":"3","alerts":[]}"#).send().await.unwrap()).await;
        assert_eq!((code, msg.contains("version \"3\" is not supported")), (400, true), "{msg}");
        let (code, msg) = status_and_error(post(&s.url, r#"{"version":"4","alerts":{}}"#).send().await.unwrap()).await;
        assert_eq!(code, 400);
        assert!(
            msg.starts_with("the body is JSON but not an Alertmanager webhook payload: invalid type: map"),
            "{msg}"
        );

        let r = c.post(&s.url).header("authorization", "Bearer s3cret");
        let r = r.header("content-type", "application/json; charset=utf-8").body(sample()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["alerts"][0]["outcome"], "created");
        assert_eq!(v["alerts"][0]["request"], "r-ab12");

        s.fake.down.store(true, Ordering::Relaxed);
        let (code, msg) = status_and_error(post(&s.url, sample()).send().await.unwrap()).await;
        assert_eq!(code, 503, "only an unreachable API server is a 5xx: Alertmanager retries it");
        assert!(msg.contains("not synced"), "{msg}");
    }

    /// Just under the cap is read; one byte over is 413, whether the length is declared or the
    /// body is streamed without one.
    #[tokio::test]
    async fn the_body_cap_is_exact() {
        let cap = 4096;
        let s = start(cap).await;
        let fit = |n: usize| {
            let base = sample();
            let pad = n - base.len();
            format!("{}{}", &base[..base.len() - 1], format_args!(",\"x\":\"{}\"}}", "p".repeat(pad - 7)))
        };
        let body = fit(cap);
        assert_eq!(body.len(), cap);
        assert_eq!(post(&s.url, body.clone()).send().await.unwrap().status(), 200);
        let over = fit(cap + 1);
        let (code, msg) = status_and_error(post(&s.url, over.clone()).send().await.unwrap()).await;
        assert_eq!(code, 413);
        assert!(msg.starts_with("the body is larger than 4096 bytes"), "{msg}");
        // Streamed (chunked, no Content-Length): cut off while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            over.into_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
        let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let (code, _) = status_and_error(post(&s.url, stream).send().await.unwrap()).await;
        assert_eq!(code, 413);
        // An endless body is cut at the cap, not buffered.
        let endless = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![b' '; 65536]));
        let r = post(&s.url, reqwest::Body::wrap_stream(endless)).send().await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 413);
        }
    }
}
