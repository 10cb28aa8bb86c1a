//! A stand-in dlv for tests: answers JSON-RPC requests on an in-memory stream with replies
//! recorded from a real Delve 1.27.2 attached to goapp (`testdata/goapp-replies.jsonl`), and
//! records every request it was sent.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// The recorded session: GetVersion, State, ListGoroutines (goroutine 1 and one leaked
/// goroutine), their two Stacktraces with locals, a Stacktrace of an unknown goroutine (an
/// error reply), Detach.
pub const RECORDED: &str = include_str!("testdata/goapp-replies.jsonl");

/// Replies recorded from a real Delve 1.27.2 tracing goapp's `(*Shop).Price` (a hit, a
/// condition error, a halt during a continue, refusals), one `{"label", "reply"}` per line.
pub const TRACE_RECORDED: &str = include_str!("testdata/trace-replies.jsonl");

/// The recorded trace reply with this label.
pub fn trace_reply(label: &str) -> Answer {
    TRACE_RECORDED
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["label"] == label)
        .map(|v| Answer::Reply(v["reply"].clone()))
        .unwrap_or_else(|| panic!("no recorded reply {label}"))
}

/// How the stand-in answers one method.
#[derive(Clone)]
pub enum Answer {
    /// Reply with this `result`/`error` pair.
    Reply(Value),
    /// Read the request and never answer.
    Never,
    /// Answer only when the next `Command` request (a halt) arrives, before that one's answer:
    /// a continue that runs until it is halted.
    UntilNextCommand(Value),
}

pub struct Replay {
    pub answers: HashMap<String, Vec<Answer>>,
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl Replay {
    /// Answers from the recording: per method, in order; the last one repeats.
    pub fn recorded() -> Self {
        let lines: Vec<Value> = RECORDED.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let methods = ["GetVersion", "State", "ListGoroutines", "Stacktrace", "Stacktrace", "Stacktrace", "Detach"];
        let mut answers: HashMap<String, Vec<Answer>> = HashMap::new();
        for (m, l) in methods.iter().zip(lines) {
            answers.entry((*m).to_string()).or_default().push(Answer::Reply(l));
        }
        Replay { answers, requests: Arc::default() }
    }

    pub fn set(&mut self, method: &str, answers: Vec<Answer>) {
        self.answers.insert(method.into(), answers);
    }

    /// Serves on one end of a duplex stream; returns the other.
    pub fn serve(self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(1 << 20);
        let Replay { answers, requests } = self;
        tokio::spawn(async move {
            let (r, mut w) = tokio::io::split(server);
            let mut lines = BufReader::new(r).lines();
            let mut used: HashMap<String, usize> = HashMap::new();
            let mut held: Option<Value> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                let req: Value = serde_json::from_str(&line).unwrap();
                requests.lock().unwrap().push(req.clone());
                let method = req["method"].as_str().unwrap().trim_start_matches("RPCServer.").to_string();
                let Some(list) = answers.get(&method) else {
                    let reply = serde_json::json!({"id": req["id"], "result": null, "error": format!("rpc: can't find method {method}")});
                    w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                    continue;
                };
                if method == "Command"
                    && let Some(v) = held.take()
                {
                    w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
                }
                let n = used.entry(method.clone()).or_default();
                let answer = list[(*n).min(list.len() - 1)].clone();
                *n += 1;
                match answer {
                    Answer::Never => {}
                    Answer::UntilNextCommand(mut v) => {
                        v["id"] = req["id"].clone();
                        held = Some(v);
                    }
                    Answer::Reply(mut v) => {
                        v["id"] = req["id"].clone();
                        w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
                    }
                }
            }
        });
        client
    }
}
