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
    /// The program: `main`, and module paths (`github.com/…`, `example.com/…`); also names that
    /// are not Go package paths at all.
    Own,
}

/// Classifies a Go function name (`pkg/path.Func`, `pkg.(*T).Method`) by its package path.
pub fn origin(name: &str) -> FrameOrigin {
    if name.starts_with("runtime.")
        || name.starts_with("runtime/internal/")
        || name.starts_with("internal/runtime/")
        || name.starts_with("internal/abi.")
        || name.starts_with("gcWriteBarrier")
    {
        return FrameOrigin::Runtime;
    }
    if name.starts_with("main.") {
        return FrameOrigin::Own;
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
