//! A JSON-RPC 1.0 client for Delve's headless server (Go's `net/rpc/jsonrpc`): one JSON object
//! per line each way, replies matched by id, no `"jsonrpc"` field. Every call has a deadline and
//! every reply a size cap. Requests can be pipelined: Delve answers them in order, so a batch
//! of stack reads costs one round trip through the port-forward instead of one per goroutine.
//!
//! After a timeout the connection's state is unknown (Delve runs synchronous methods inside its
//! read loop): callers drop the client. Without `--accept-multiclient`, a dropped connection
//! makes dlv halt-if-running and detach without killing: the fail-safe.

use super::types::{
    Breakpoint, ClearBreakpointIn, CommandIn, ContinueIn, CreateBreakpointIn, CreateBreakpointOut, DetachIn, Empty,
    FindLocationIn, FindLocationOut, ListGoroutinesIn, ListGoroutinesOut, StacktraceIn, StacktraceOut, StateIn,
    StateOut, Version,
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
    /// The reply being read: kept across a cancelled read (a deadline), so the next read goes on
    /// where it stopped instead of starting mid-line.
    partial: Vec<u8>,
    /// Most reply bytes this client reads in all; past it every call fails with
    /// [`RpcError::BudgetExceeded`] and the caller drops the connection.
    pub budget: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> DelveClient<S> {
    pub fn new(stream: S, timeout: Duration) -> Self {
        let (r, w) = tokio::io::split(stream);
        DelveClient {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            timeout,
            read: 0,
            partial: Vec::new(),
            budget: u64::MAX,
        }
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

    /// Stops a running target. Only [`end_session`](super::session::end_session) sends it (and
    /// [`continue_until`](Self::continue_until) its own), and only after `State` said the target runs: a halt sent to a stopped target stays pending and
    /// kills it with SIGTRAP when Delve detaches.
    pub(super) async fn halt_running(&mut self) -> Result<StateOut, RpcError> {
        self.call("Command", &CommandIn { name: "halt" }).await
    }

    /// Lets the target run on (`Kill: false`, the only detach there is).
    pub async fn detach(&mut self) -> Result<(), RpcError> {
        self.call::<_, serde_json::Value>("Detach", &DetachIn::KEEP_RUNNING).await.map(|_| ())
    }

    /// Where a location expression resolves; Delve's refusal names what it could not find.
    pub async fn find_location(&mut self, req: &FindLocationIn) -> Result<FindLocationOut, RpcError> {
        self.call("FindLocation", req).await
    }

    pub async fn create_breakpoint(&mut self, req: &CreateBreakpointIn) -> Result<Breakpoint, RpcError> {
        self.call::<_, CreateBreakpointOut>("CreateBreakpoint", req).await.map(|o| o.breakpoint)
    }

    /// Clears breakpoints by id, in one round trip; one result per id.
    pub async fn clear_breakpoints(&mut self, ids: &[i64]) -> Result<Vec<Result<(), RpcError>>, RpcError> {
        let reqs: Vec<ClearBreakpointIn> =
            ids.iter().map(|&id| ClearBreakpointIn { id, name: String::new() }).collect();
        let deadline = self.timeout;
        let out: Vec<Result<serde_json::Value, RpcError>> = self.call_many("ClearBreakpoint", &reqs, deadline).await?;
        Ok(out.into_iter().map(|r| r.map(|_| ())).collect())
    }

    /// Lets the target run until it stops by itself or `until` comes. At `until` godiag asks
    /// Delve whether the target still runs (State is answered while a continue is in flight)
    /// and sends `halt` only if it does; a target that stopped meanwhile is never halted.
    /// `cancel` ends the wait early, like `until`.
    pub async fn continue_until(
        &mut self,
        until: tokio::time::Instant,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Continued, RpcError> {
        const M: &str = "Command";
        let c = self.send(M, &ContinueIn::CONTINUE).await?;
        let early = async {
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = cancel.cancelled() => {}
            }
        };
        let only = [c];
        tokio::select! {
            reply = self.reply_to(&only, M) => return continued(reply?.1),
            () = early => {}
        }
        let s = self.send("State", &StateIn { non_blocking: true }).await?;
        let (id, reply) = self.reply_within(&[c, s], M).await?;
        if id == c {
            return continued(reply);
        }
        let running = decode::<StateOut>("State", reply)?.state.is_some_and(|st| st.running);
        if !running {
            // It stopped (a hit) just now: the continue's answer is on its way.
            let (_, reply) = self.reply_within(&[c], M).await?;
            return continued(reply);
        }
        self.send(M, &CommandIn { name: "halt" }).await?;
        let (_, reply) = self.reply_within(&[c], M).await?;
        match continued(reply)? {
            Continued::Stopped(state) => Ok(Continued::Halted(state)),
            other => Ok(other),
        }
    }

    async fn reply_within(&mut self, ids: &[u64], method: &'static str) -> Result<(u64, Reply), RpcError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.reply_to(ids, method))
            .await
            .map_err(|_| RpcError::Timeout { method, timeout })?
    }

    /// Writes one request; returns its id.
    async fn send<P: Serialize>(&mut self, method: &'static str, params: &P) -> Result<u64, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = Request { method: format!("RPCServer.{method}"), params: [params], id };
        let mut buf = serde_json::to_vec(&req).map_err(|e| RpcError::Io(e.to_string()))?;
        buf.push(b'\n');
        self.writer.write_all(&buf).await.map_err(|e| RpcError::Io(e.to_string()))?;
        self.writer.flush().await.map_err(|e| RpcError::Io(e.to_string()))?;
        Ok(id)
    }

    /// The first reply to one of `ids`; replies to other (earlier, abandoned) calls are skipped.
    async fn reply_to(&mut self, ids: &[u64], method: &'static str) -> Result<(u64, Reply), RpcError> {
        loop {
            let reply = self.read_reply(method).await?;
            if let Some(id) = reply.id.filter(|id| ids.contains(id)) {
                return Ok((id, reply));
            }
        }
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

    /// Reads one reply line. Cancel-safe: bytes read before a cancelled call stay in `partial`.
    async fn read_reply(&mut self, method: &'static str) -> Result<Reply, RpcError> {
        let room = (MAX_REPLY_BYTES + 1).saturating_sub(self.partial.len() as u64);
        let n = (&mut self.reader)
            .take(room)
            .read_until(b'\n', &mut self.partial)
            .await
            .map_err(|e| RpcError::Io(e.to_string()))?;
        self.read = self.read.saturating_add(n as u64);
        let line = std::mem::take(&mut self.partial);
        if line.is_empty() {
            return Err(RpcError::Closed { method });
        }
        if self.read > self.budget {
            return Err(RpcError::BudgetExceeded { method, budget: self.budget });
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() as u64 > MAX_REPLY_BYTES {
                RpcError::TooLarge { method, limit: MAX_REPLY_BYTES }
            } else {
                RpcError::Closed { method }
            });
        }
        serde_json::from_slice(&line).map_err(|e| RpcError::Malformed { method, detail: e.to_string() })
    }
}

/// How a `continue` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continued {
    /// The target stopped by itself (a tracepoint hit, an exit, a panic): Delve's state.
    Stopped(StateOut),
    /// Delve's continue failed with this message (e.g. a tracepoint condition it cannot
    /// evaluate); the target is stopped.
    Failed(String),
    /// `until` came while the target ran, and godiag halted it: the continue's own answer.
    /// When that shows a tracepoint hit, the hit and the halt crossed, and the halt's SIGTRAP
    /// may still be pending (see [`super::trace`]'s end sequence).
    Halted(StateOut),
}

fn continued(reply: Reply) -> Result<Continued, RpcError> {
    match decode::<StateOut>("Command", reply) {
        Ok(state) => Ok(Continued::Stopped(state)),
        Err(RpcError::Remote { message, .. }) => Ok(Continued::Failed(message)),
        Err(e) => Err(e),
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
