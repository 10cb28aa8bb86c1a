//! Goroutines that wait by design: connection pools, RPC transports, listeners, signal and
//! instrumentation loops. Many of them with one stack is how a healthy service looks (120 idle
//! keep-alive connections are 240 goroutines), so the leak heuristic leaves them alone. One
//! table, one test per entry.

use crate::frames::{FrameOrigin, origin};

/// A frame that marks a goroutine as waiting by design, and what that goroutine is.
#[derive(Clone, Copy, Debug)]
pub struct IdlePattern {
    /// A function name or package prefix on the stack.
    pub frame: &'static str,
    pub what: &'static str,
}

const fn p(frame: &'static str, what: &'static str) -> IdlePattern {
    IdlePattern { frame, what }
}

pub const IDLE: &[IdlePattern] = &[
    p("net/http.(*persistConn).readLoop", "net/http client keep-alive connection (read loop)"),
    p("net/http.(*persistConn).writeLoop", "net/http client keep-alive connection (write loop)"),
    p("net/http.(*conn).serve", "net/http server connection waiting for its next request"),
    p("net/http.(*http2clientConnReadLoop).run", "HTTP/2 client connection read loop"),
    p("net/http.(*http2serverConn).serve", "HTTP/2 server connection"),
    p("golang.org/x/net/http2.", "HTTP/2 connection loop (golang.org/x/net/http2)"),
    p("net.(*TCPListener).Accept", "a listener waiting for connections"),
    p("net.(*UnixListener).Accept", "a listener waiting for connections"),
    p("google.golang.org/grpc", "gRPC transport or balancer loop"),
    p("database/sql.(*DB).connectionOpener", "database/sql connection opener"),
    p("database/sql.(*DB).connectionCleaner", "database/sql idle-connection cleaner"),
    p("os/signal.signal_recv", "os/signal delivery loop"),
    p("os/signal.loop", "os/signal delivery loop"),
    p("go.opentelemetry.io/otel/sdk/", "OpenTelemetry SDK exporter or processor loop"),
    p("go.opencensus.io/", "OpenCensus worker"),
    p("k8s.io/client-go/", "client-go informer, reflector or workqueue loop"),
    p("k8s.io/apimachinery/pkg/util/wait.", "client-go wait loop"),
    p("github.com/prometheus/client_golang/", "Prometheus client loop"),
];

/// The pattern a stack matches, if it is all plumbing: no frame of the program's own code
/// (a handler of the program blocked in a channel send is not idle, even under
/// `net/http.(*conn).serve`) and a frame of the table.
pub fn idle_pattern(stack: &[String], created_by: Option<&str>) -> Option<&'static IdlePattern> {
    if stack.iter().any(|f| origin(f) == FrameOrigin::Own) {
        return None;
    }
    IDLE.iter().find(|p| stack.iter().map(String::as_str).chain(created_by).any(|f| f.starts_with(p.frame)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per entry: a stack of that kind is idle; the same stack under one of the program's
    /// frames is not.
    #[test]
    fn every_entry_matches_its_plumbing_and_never_the_programs_code() {
        for pat in IDLE {
            let frame = format!("{}{}", pat.frame, if pat.frame.ends_with(['.', '/']) { "Run" } else { "" });
            let stack = vec!["runtime.gopark".to_string(), "runtime.selectgo".to_string(), frame.clone()];
            assert_eq!(idle_pattern(&stack, None).map(|p| p.what), Some(pat.what), "{frame}");
            let mut own = stack.clone();
            own.insert(2, "main.(*handler).ServeHTTP".to_string());
            assert!(idle_pattern(&own, None).is_none(), "{frame} under the program's code");
        }
    }

    #[test]
    fn the_creator_counts_too() {
        let stack = vec!["internal/poll.runtime_pollWait".to_string(), "bufio.(*Reader).fill".to_string()];
        assert!(idle_pattern(&stack, Some("net/http.(*Transport).dialConn")).is_none());
        assert!(idle_pattern(&stack, Some("google.golang.org/grpc/internal/transport.newHTTP2Client")).is_some());
    }
}
