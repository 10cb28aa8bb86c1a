//! A minimal HTTP/1.1 GET over any [`Connector`] stream, one connection per request, with the
//! response body handed out as a stream (never buffered whole).

use super::{CollectError, Connector};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::header::{ACCEPT_ENCODING, CONTENT_TYPE, HOST, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// The head of a response and its streaming body.
pub(crate) struct Response {
    pub status: u16,
    /// `X-Go-Pprof: 1` was set: Go's pprof handler wrote this (error) response.
    pub go_pprof: bool,
    pub content_type: String,
    /// Body chunks; transport errors come through as `io::Error`.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// Aborts the task driving the connection when the body (or the whole exchange) is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `GET path` on a fresh connection from `conn` and returns once the headers arrived.
pub(crate) async fn get(conn: &dyn Connector, path: &str) -> Result<Response, CollectError> {
    let http_err = |message: String| CollectError::Http { target: conn.describe(), path: path.to_owned(), message };
    let io = conn.connect().await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| http_err(format!("handshake: {e}")))?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "pprof connection ended with an error");
        }
    }));
    let request = http::Request::get(path)
        .header(HOST, conn.authority())
        .header(USER_AGENT, concat!("godiag/", env!("CARGO_PKG_VERSION")))
        .header(ACCEPT_ENCODING, "identity")
        .body(Empty::<Bytes>::new())
        .map_err(|e| http_err(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(|e| http_err(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let header = |name| parts.headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok()).unwrap_or("");
    let go_pprof = header("x-go-pprof") == "1";
    let content_type = header(CONTENT_TYPE.as_str()).to_owned();
    let body = body
        .into_data_stream()
        .map(move |chunk| {
            // The stream owns the connection driver: dropping the body closes the connection.
            let _driver = &driver;
            chunk.map_err(std::io::Error::other)
        })
        .boxed();
    Ok(Response { status: parts.status.as_u16(), go_pprof, content_type, body })
}
