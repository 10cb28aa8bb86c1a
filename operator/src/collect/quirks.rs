//! Known behaviours of Go's `net/http/pprof`, as pure functions: HTTP status and body in,
//! precise error out; body prefixes checked against what each endpoint serves.

use super::CollectError;
use godiag_analyze::text::clip;
use godiag_analyze::{ArtifactFormat, ArtifactKind};
use std::time::Duration;

/// How many bytes of an error body are read (Go's pprof errors are one line).
pub const ERROR_BODY_LIMIT: usize = 4 * 1024;
/// How many bytes of the body are inspected before storing it.
pub const SNIFF_LEN: usize = 16;

/// A non-200 answer, as seen by the collector.
#[derive(Clone, Debug)]
pub struct HttpFailure<'a> {
    /// Who answered, e.g. `127.0.0.1:6060`.
    pub target: &'a str,
    /// Request path and query, e.g. `/debug/pprof/profile?seconds=10`.
    pub path: &'a str,
    /// HTTP status code.
    pub status: u16,
    /// True when the response carried `X-Go-Pprof: 1` (Go's pprof handler wrote it).
    pub go_pprof: bool,
    /// The first [`ERROR_BODY_LIMIT`] bytes of the body, lossily decoded.
    pub body: &'a str,
    /// The window the request asked for (CPU or trace duration; zero for snapshots).
    pub requested: Duration,
}

/// Maps a non-200 answer to the error a user should read.
pub fn classify(f: &HttpFailure<'_>) -> CollectError {
    let body = f.body;
    let target = f.target.to_owned();
    let path = f.path.to_owned();
    if body.contains("cpu profiling already in use") {
        return CollectError::CpuProfilerBusy { attempts: 1, waited: Duration::ZERO };
    }
    if body.contains("tracing is already enabled") {
        return CollectError::TracerBusy { attempts: 1, waited: Duration::ZERO };
    }
    if f.status == 400 && body.contains("exceeds server's WriteTimeout") {
        return CollectError::DurationExceedsWriteTimeout { requested: f.requested };
    }
    match (f.status, f.go_pprof) {
        (404, false) => CollectError::NoPprofEndpoint { target, path },
        (404, true) => CollectError::ProfileNotAvailable { target, path, message: snippet(body, 200) },
        (status, true) => CollectError::PprofError { target, path, status, message: snippet(body, 200) },
        (status, false) => CollectError::HttpStatus { target, path, status, snippet: snippet(body, 200) },
    }
}

/// Checks that a 200 body starts the way the endpoint's format does; on mismatch, names the
/// expected format for [`CollectError::UnexpectedBody`].
pub fn check_body_start(format: ArtifactFormat, prefix: &[u8]) -> Result<(), &'static str> {
    let (ok, expected) = match format {
        // Go always gzips profile.proto on these endpoints.
        ArtifactFormat::Pprof => (prefix.starts_with(&[0x1f, 0x8b]), "a gzip-compressed pprof profile"),
        // "go 1.22 trace\0\0\0" and later; "go 1.5 trace" for the oldest.
        ArtifactFormat::Trace => (prefix.starts_with(b"go 1."), "a Go execution trace (header \"go 1.xx trace\")"),
        ArtifactFormat::GoroutineText => {
            (prefix.starts_with(b"goroutine "), "a goroutine dump (\"goroutine 1 [...]\")")
        }
        // Written by godiag's own Delve client, never fetched over HTTP.
        ArtifactFormat::DelveJson => (prefix.starts_with(b"{"), "a JSON object"),
        ArtifactFormat::Text => (true, "text"),
    };
    if ok { Ok(()) } else { Err(expected) }
}

/// The note for a block or mutex profile with zero samples: not an error, the program never
/// turned the profile on.
pub fn empty_profile_note(kind: ArtifactKind) -> Option<&'static str> {
    match kind {
        ArtifactKind::Block => Some(
            "empty: the program never called runtime.SetBlockProfileRate, so Go records no blocking events (rate is 0)",
        ),
        ArtifactKind::Mutex => Some(
            "empty: the program never called runtime.SetMutexProfileFraction, so Go records no mutex contention (fraction is 0)",
        ),
        _ => None,
    }
}

/// A short, printable excerpt of a body: whitespace collapsed, control characters dropped,
/// at most `max` bytes (with `…` when cut).
pub fn snippet(body: &str, max: usize) -> String {
    let collapsed: String =
        body.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).collect();
    clip(&collapsed, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(status: u16, go_pprof: bool, body: &str) -> CollectError {
        classify(&HttpFailure {
            target: "127.0.0.1:6060",
            path: "/debug/pprof/profile?seconds=5",
            status,
            go_pprof,
            body,
            requested: Duration::from_secs(5),
        })
    }

    #[test]
    fn cpu_profiler_busy_is_retryable() {
        let e = fail(500, true, "Could not enable CPU profiling: cpu profiling already in use\n");
        assert_eq!(e.reason(), "CpuProfilerBusy");
        assert!(e.is_busy());
        let e = e.with_attempts(4, Duration::from_secs(7));
        assert!(e.to_string().contains("another CPU profiler holds"), "{e}");
        assert!(e.to_string().contains("after 4 attempts"), "{e}");
    }

    #[test]
    fn tracer_busy_is_retryable() {
        let e = fail(500, true, "Could not enable tracing: tracing is already enabled\n");
        assert_eq!(e.reason(), "TracerBusy");
        assert!(e.is_busy());
    }

    #[test]
    fn write_timeout_says_duration_must_be_lower() {
        let e = fail(400, true, "profile duration exceeds server's WriteTimeout\n");
        assert_eq!(e.reason(), "DurationExceedsWriteTimeout");
        let msg = e.to_string();
        assert!(msg.contains("must be lower than the program's http.Server WriteTimeout"), "{msg}");
        assert!(msg.contains("5s"), "{msg}");
    }

    #[test]
    fn plain_404_means_no_pprof_but_go_404_means_unknown_profile() {
        let e = fail(404, false, "404 page not found\n");
        assert_eq!(e.reason(), "NoPprofEndpoint");
        assert!(e.to_string().contains("does not serve net/http/pprof at that path"), "{e}");
        let e = fail(404, true, "Unknown profile\n");
        assert_eq!(e.reason(), "ProfileNotAvailable");
        assert!(e.to_string().contains("Unknown profile"), "{e}");
    }

    #[test]
    fn proxy_errors_are_told_apart_from_go_errors() {
        let e = fail(502, false, "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>");
        assert_eq!(e.reason(), "HttpError");
        assert!(e.to_string().contains("not from Go's pprof handler"), "{e}");
        assert!(e.to_string().contains("502 Bad Gateway"), "{e}");
        let e = fail(400, true, "seconds and debug params are incompatible\n");
        assert_eq!(e.reason(), "PprofError");
        assert!(e.to_string().contains("seconds and debug params are incompatible"), "{e}");
    }

    #[test]
    fn body_starts() {
        assert!(check_body_start(ArtifactFormat::Pprof, &[0x1f, 0x8b, 8, 0]).is_ok());
        assert!(check_body_start(ArtifactFormat::Pprof, b"<!DOCTYPE html>").is_err());
        assert!(check_body_start(ArtifactFormat::Trace, b"go 1.26 trace\0\0\0").is_ok());
        assert!(check_body_start(ArtifactFormat::Trace, &[0x1f, 0x8b]).is_err());
        assert!(check_body_start(ArtifactFormat::GoroutineText, b"goroutine 1 [running]:\n").is_ok());
        assert!(check_body_start(ArtifactFormat::GoroutineText, b"").is_err());
    }

    #[test]
    fn notes_only_for_block_and_mutex() {
        assert!(empty_profile_note(ArtifactKind::Block).unwrap().contains("runtime.SetBlockProfileRate"));
        assert!(empty_profile_note(ArtifactKind::Mutex).unwrap().contains("runtime.SetMutexProfileFraction"));
        assert!(empty_profile_note(ArtifactKind::Heap).is_none());
    }

    #[test]
    fn snippets_are_short_and_clean() {
        assert_eq!(snippet("a\n\n  b\tc\u{7}", 100), "a b c");
        assert_eq!(snippet("abcdefgh", 6), "abc…", "at most 6 bytes, the cut marked");
    }
}
