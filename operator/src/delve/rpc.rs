//! A JSON-RPC 1.0 client for Delve's headless server (Go's `net/rpc/jsonrpc`): one JSON object
//! per line each way, replies matched by id, no `"jsonrpc"` field. Every call has a deadline and
//! every reply a size cap. Requests can be pipelined: Delve answers them in order, so a batch
//! of stack reads costs one round trip through the port-forward instead of one per goroutine.
//!
//! After a timeout the connection's state is unknown (Delve runs synchronous methods inside its
//! read loop): callers drop the client. Without `--accept-multiclient`, a dropped connection
//! makes dlv halt-if-running and detach without killing: the fail-safe.

use super::types::{
    CommandIn, DetachIn, Empty, ListGoroutinesIn, ListGoroutinesOut, StacktraceIn, StacktraceOut, StateIn, StateOut,
    Version,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

/// Largest reply read (a page of goroutines, a stack with locals).
pub const MAX_REPLY_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("Delve did not answer {method} within {timeout:?}")]
    Timeout { method: &'static str, timeout: Duration },
    #[error("Delve refused {method}: {message}")]
    Remote { method: &'static str, message: String },
    #[error("the connection to Delve closed before it answered {method}")]
    Closed { method: &'static str },
    #[error("Delve's answer to {method} is larger than {limit} bytes")]
    TooLarge { method: &'static str, limit: u64 },
    #[error("Delve's answer to {method} is not JSON-RPC: {detail}")]
    Malformed { method: &'static str, detail: String },
    #[error("cannot talk to Delve: {0}")]
    Io(String),
    #[error("Delve's answers passed {budget} bytes in all (at {method})")]
    BudgetExceeded { method: &'static str, budget: u64 },
}

#[derive(Serialize)]
struct Request<'a, P> {
    method: String,
    params: [&'a P; 1],
    id: u64,
}

#[derive(serde::Deserialize)]
struct Reply {
    id: Option<u64>,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

pub struct DelveClient<S> {
    reader: BufReader<ReadHalf<S>>,
    writer: WriteHalf<S>,
    next_id: u64,
    /// Deadline of one call (a batch gets it once per call in it, up to `batch_timeout_cap`).
    pub timeout: Duration,
    /// Bytes of replies read so far.
    read: u64,
    /// Most reply bytes this client reads in all; past it every call fails with
    /// [`RpcError::BudgetExceeded`] and the caller drops the connection.
    pub budget: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> DelveClient<S> {
    pub fn new(stream: S, timeout: Duration) -> Self {
        let (r, w) = tokio::io::split(stream);
        DelveClient { reader: BufReader::new(r), writer: w, next_id: 1, timeout, read: 0, budget: u64::MAX }
    }

    pub async fn get_version(&mut self) -> Result<Version, RpcError> {
        self.call("GetVersion", &Empty {}).await
    }

    /// The target's state without waiting for it to stop.
    pub async fn state(&mut self) -> Result<StateOut, RpcError> {
        self.call("State", &StateIn { non_blocking: true }).await
    }

    pub async fn list_goroutines(&mut self, start: i64, count: i64) -> Result<ListGoroutinesOut, RpcError> {
        self.call("ListGoroutines", &ListGoroutinesIn { start, count }).await
    }

    /// Stacks of several goroutines in one round trip; one result per request, in order.
    pub async fn stacktraces(
        &mut self,
        requests: &[StacktraceIn],
        deadline: Duration,
    ) -> Result<Vec<Result<StacktraceOut, RpcError>>, RpcError> {
        self.call_many("Stacktrace", requests, deadline).await
    }

    /// Stops a running target. Only [`end_session`](super::session::end_session) sends it, and
    /// only after `State` said the target runs: a halt sent to a stopped target stays pending and
    /// kills it with SIGTRAP when Delve detaches.
    pub(super) async fn halt_running(&mut self) -> Result<StateOut, RpcError> {
        self.call("Command", &CommandIn { name: "halt" }).await
    }

    /// Lets the target run on (`Kill: false`, the only detach there is).
    pub async fn detach(&mut self) -> Result<(), RpcError> {
        self.call::<_, serde_json::Value>("Detach", &DetachIn::KEEP_RUNNING).await.map(|_| ())
    }

    async fn call<P: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &'static str,
        params: &P,
    ) -> Result<R, RpcError> {
        let timeout = self.timeout;
        let mut out = self.call_many(method, std::slice::from_ref(params), timeout).await?;
        out.pop().unwrap_or(Err(RpcError::Closed { method }))
    }

    /// Sends every request, then reads their replies, all within `deadline`. The outer error
    /// means the connection is unusable; an inner one is Delve's answer to that request.
    async fn call_many<P: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &'static str,
        params: &[P],
        deadline: Duration,
    ) -> Result<Vec<Result<R, RpcError>>, RpcError> {
        let first = self.next_id;
        let mut buf = Vec::new();
        for p in params {
            let req = Request { method: format!("RPCServer.{method}"), params: [p], id: self.next_id };
            self.next_id += 1;
            serde_json::to_writer(&mut buf, &req).map_err(|e| RpcError::Io(e.to_string()))?;
            buf.push(b'\n');
        }
        let work = async {
            self.writer.write_all(&buf).await.map_err(|e| RpcError::Io(e.to_string()))?;
            self.writer.flush().await.map_err(|e| RpcError::Io(e.to_string()))?;
            let mut out: Vec<Option<Result<R, RpcError>>> = (0..params.len()).map(|_| None).collect();
            let mut missing = params.len();
            while missing > 0 {
                let reply = self.read_reply(method).await?;
                // Replies to earlier calls that timed out are skipped.
                let Some(slot) = reply.id.and_then(|id| id.checked_sub(first)).and_then(|i| out.get_mut(i as usize))
                else {
                    continue;
                };
                if slot.is_none() {
                    missing -= 1;
                }
                *slot = Some(decode(method, reply));
            }
            Ok(out.into_iter().map(|r| r.unwrap_or(Err(RpcError::Closed { method }))).collect())
        };
        tokio::time::timeout(deadline, work).await.map_err(|_| RpcError::Timeout { method, timeout: deadline })?
    }

    async fn read_reply(&mut self, method: &'static str) -> Result<Reply, RpcError> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_REPLY_BYTES + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| RpcError::Io(e.to_string()))?;
        if n == 0 {
            return Err(RpcError::Closed { method });
        }
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.budget {
            return Err(RpcError::BudgetExceeded { method, budget: self.budget });
        }
        if line.last() != Some(&b'\n') {
            return Err(if n as u64 > MAX_REPLY_BYTES {
                RpcError::TooLarge { method, limit: MAX_REPLY_BYTES }
            } else {
                RpcError::Closed { method }
            });
        }
        serde_json::from_slice(&line).map_err(|e| RpcError::Malformed { method, detail: e.to_string() })
    }
}

fn decode<R: DeserializeOwned>(method: &'static str, reply: Reply) -> Result<R, RpcError> {
    match reply.error {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(message)) => return Err(RpcError::Remote { method, message }),
        Some(other) => return Err(RpcError::Remote { method, message: other.to_string() }),
    }
    serde_json::from_value(reply.result).map_err(|e| RpcError::Malformed { method, detail: e.to_string() })
}
