//! Ending a Delve session safely. The target runs (dlv was started with `--continue`) or sits
//! stopped at a user's breakpoint; either way it must be left running:
//! - running: `halt` first (Delve cannot detach while its continue is in flight: the detach
//!   blocks and the connection wedges), then detach;
//! - stopped: detach at once. A `halt` now would stay pending and kill the program with SIGTRAP
//!   when ptrace lets go (measured on Linux).

use super::rpc::{DelveClient, RpcError};
use tokio::io::{AsyncRead, AsyncWrite};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The target ran; godiag halted it, then detached.
    HaltedAndDetached,
    /// The target was stopped (a user's breakpoint); godiag detached.
    Detached,
}

pub async fn end_session<S: AsyncRead + AsyncWrite + Unpin>(client: &mut DelveClient<S>) -> Result<Ended, RpcError> {
    let state = client.state().await?;
    let running = state.state.as_ref().is_some_and(|s| s.running);
    if running {
        let after = client.halt_running().await?;
        if after.state.as_ref().is_some_and(|s| s.exited) {
            return Ok(Ended::Detached);
        }
        client.detach().await?;
        return Ok(Ended::HaltedAndDetached);
    }
    client.detach().await?;
    Ok(Ended::Detached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delve::replay::{Answer, Replay};
    use serde_json::json;
    use std::time::Duration;

    fn methods(r: &std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) -> Vec<String> {
        r.lock()
            .unwrap()
            .iter()
            .map(|q| q["method"].as_str().unwrap().trim_start_matches("RPCServer.").to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_running_target_is_halted_then_detached() {
        let mut replay = Replay::recorded();
        replay.set("State", vec![Answer::Reply(json!({"result": {"State": {"Running": true}}, "error": null}))]);
        replay.set("Command", vec![Answer::Reply(json!({"result": {"State": {"Running": false}}, "error": null}))]);
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        assert_eq!(end_session(&mut client).await, Ok(Ended::HaltedAndDetached));
        assert_eq!(methods(&sent), ["State", "Command", "Detach"]);
        let reqs = sent.lock().unwrap().clone();
        assert_eq!(reqs[1]["params"][0], json!({"name": "halt"}));
        assert_eq!(reqs[2]["params"][0], json!({"Kill": false}));
    }

    #[tokio::test]
    async fn a_stopped_target_is_never_halted() {
        // The recorded State: attached, not running.
        let replay = Replay::recorded();
        let sent = replay.requests.clone();
        let mut client = DelveClient::new(replay.serve(), Duration::from_secs(5));
        assert_eq!(end_session(&mut client).await, Ok(Ended::Detached));
        assert_eq!(methods(&sent), ["State", "Detach"]);
    }
}
