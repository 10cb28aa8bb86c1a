//! Whose code a Go frame is: the runtime's, the standard library's, or the program's own (its
//! main package and its modules). Every rule that names "the user's code" asks here, so a
//! finding, a goroutine group and a flame graph colour agree about the same function.

/// Where a function's code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameOrigin {
    /// The Go runtime (`runtime.`, `runtime/internal/`, `internal/runtime/`, `internal/abi.`,
    /// assembly helpers such as `gcWriteBarrier`).
    Runtime,
    /// The standard library: an import path whose first element has no dot (`net/http`,
    /// `crypto/sha256`, `internal/poll`, `vendor/golang.org/x/net`).
    Stdlib,
    /// Well-known third-party instrumentation and RPC plumbing ([`LIBRARIES`]): code the
    /// program runs through but an engineer rarely means when asking "which of my functions".
    Library,
    /// A location without symbols: `[libc.so.6]` (named after its mapping) or `<unknown>`.
    Unsymbolized,
    /// The program: `main`, and module paths (`github.com/…`, `example.com/…`); also names that
    /// are not Go package paths at all.
    Own,
}

/// Package path prefixes of third-party code that is plumbing rather than the program's own
/// logic: tracing/metrics instrumentation, RPC transports and the HTTP frameworks' routers.
/// A frame here is skipped when attributing a sample to "the program's code" if a frame of
/// the program itself is further out on the stack.
pub const LIBRARIES: &[&str] = &[
    "go.opentelemetry.io/",
    "github.com/prometheus/client_golang/",
    "github.com/DataDog/dd-trace-go/",
    "gopkg.in/DataDog/dd-trace-go.v1/",
    "github.com/getsentry/sentry-go",
    "github.com/newrelic/go-agent/",
    "github.com/grpc-ecosystem/",
    "google.golang.org/grpc",
    "google.golang.org/protobuf/",
    "github.com/golang/protobuf/",
    "golang.org/x/net/",
    "github.com/gorilla/mux.",
    "github.com/go-chi/chi/",
    "github.com/gin-gonic/gin.",
    "github.com/labstack/echo/",
    "go.opencensus.io/",
    "k8s.io/client-go/",
    "k8s.io/apimachinery/",
];

/// Classifies a Go function name (`pkg/path.Func`, `pkg.(*T).Method`) by its package path.
pub fn origin(name: &str) -> FrameOrigin {
    if name.starts_with("runtime.")
        || name.starts_with("runtime/internal/")
        || name.starts_with("internal/runtime/")
        || name.starts_with("internal/abi.")
        || name.starts_with("gcWriteBarrier")
        || name == "panic"
    {
        return FrameOrigin::Runtime;
    }
    if name.starts_with("main.") {
        return FrameOrigin::Own;
    }
    if name == "<unknown>" || (name.starts_with('[') && name.ends_with(']')) {
        return FrameOrigin::Unsymbolized;
    }
    if LIBRARIES.iter().any(|l| name.starts_with(l)) {
        return FrameOrigin::Library;
    }
    // Standard library import paths have no dot in their first element; modules do.
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') => FrameOrigin::Own,
        Some(_) => FrameOrigin::Stdlib,
        None if name.contains('.') => FrameOrigin::Stdlib,
        None => FrameOrigin::Own,
    }
}

/// True for the machinery a call goes through to allocate, lock, wait or do I/O (the runtime,
/// `sync`, `sync/atomic` and the standard library's `internal/…` packages): a call site is the
/// first frame past it.
pub fn is_machinery(name: &str) -> bool {
    origin(name) == FrameOrigin::Runtime
        || name.starts_with("sync.")
        || name.starts_with("sync/atomic.")
        || name.starts_with("internal/")
}

/// The name of a function without its package path, for a leaf named beside its caller:
/// `crypto/internal/fips140/sha256.blockSHANI` → `sha256.blockSHANI`.
pub fn short_name(name: &str) -> &str {
    // The package path ends at its last `/`; a receiver or generic type arguments, which may
    // contain `/` themselves, start with `(` or `[`, so only the part before those counts.
    let end = name.find(['(', '[']).unwrap_or(name.len());
    match name[..end].rfind('/') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// True for the profilers' own code. Samples through it are what collecting the diagnostics
/// cost (the CPU profile and trace buffers in a heap profile taken during the window), not the
/// program's behaviour.
pub fn is_profiler(name: &str) -> bool {
    name.starts_with("runtime/pprof.") || name.starts_with("runtime/trace.") || name.starts_with("net/http/pprof.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin("runtime.mallocgc"), FrameOrigin::Runtime);
        assert_eq!(origin("internal/runtime/maps.(*Map).getWithKey"), FrameOrigin::Runtime);
        assert_eq!(origin("gcWriteBarrier2"), FrameOrigin::Runtime);
        assert_eq!(origin("crypto/sha256.block"), FrameOrigin::Stdlib);
        assert_eq!(origin("sync.(*Mutex).Lock"), FrameOrigin::Stdlib);
        assert_eq!(origin("internal/poll.(*FD).Read"), FrameOrigin::Stdlib);
        assert_eq!(origin("main.hashLoop"), FrameOrigin::Own);
        assert_eq!(origin("main.(*server).handle.func1"), FrameOrigin::Own);
        assert_eq!(origin("github.com/acme/shop/cart.(*Cart).Add"), FrameOrigin::Own);
        assert_eq!(origin("000000000042ed43"), FrameOrigin::Own);
        assert_eq!(origin("crypto/internal/fips140/sha256.blockSHANI"), FrameOrigin::Stdlib);
        assert_eq!(origin("vendor/golang.org/x/net/http2.(*Framer).ReadFrame"), FrameOrigin::Stdlib);
        assert_eq!(origin("[libc-2.15.so]"), FrameOrigin::Unsymbolized);
        assert_eq!(origin("<unknown>"), FrameOrigin::Unsymbolized);
        assert_eq!(origin("google.golang.org/grpc/internal/transport.(*http2Client).reader"), FrameOrigin::Library);
        assert_eq!(
            origin("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP"),
            FrameOrigin::Library
        );
        assert_eq!(origin("github.com/acme/grpcish.Serve"), FrameOrigin::Own);
    }

    #[test]
    fn short_names_drop_the_package_path() {
        assert_eq!(short_name("crypto/internal/fips140/sha256.blockSHANI"), "sha256.blockSHANI");
        assert_eq!(short_name("main.(*T).run"), "main.(*T).run");
        assert_eq!(short_name("github.com/acme/x.(*List[go.shape.*uint8]).Push"), "x.(*List[go.shape.*uint8]).Push");
        assert_eq!(short_name("[libc.so.6]"), "[libc.so.6]");
    }

    #[test]
    fn machinery_and_profilers() {
        assert!(is_machinery("runtime.chansend1"));
        assert!(is_machinery("sync.(*WaitGroup).Wait"));
        assert!(is_machinery("internal/sync.(*Mutex).lockSlow"));
        assert!(is_machinery("sync/atomic.(*Int64).Add"));
        assert!(!is_machinery("net/http.(*conn).serve"));
        assert!(!is_machinery("main.worker"));
        assert!(is_profiler("runtime/pprof.StartCPUProfile"));
        assert!(is_profiler("net/http/pprof.Profile"));
        assert!(!is_profiler("runtime.mallocgc"));
    }
}
