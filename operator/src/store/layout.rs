//! Where artifacts live inside a store: pure functions, no I/O.
//!
//! ```text
//! <prefix>/<namespace>/<request>/manifest.json
//! <prefix>/<namespace>/<request>/report.html            the report a person opens
//! <prefix>/<namespace>/<request>/<pod>/<kind>.<ext>      the artifacts
//! <prefix>/<namespace>/<request>/<pod>/summary.json      their analysis
//! <prefix>/<namespace>/<request>/<pod>/<kind>.svg        flame graphs
//! <prefix>/<namespace>/<request>/<pod>/digests.json      what a sibling comparison reads
//! <prefix>/<namespace>/<request>/<pod>/comparison.json   the pod against its siblings
//! <prefix>/<namespace>/<request>/<pod>/<kind>.diff.svg   differential flame graphs
//! ```
//!
//! The `<prefix>` belongs to the store (it is part of the storage URL); every path here is
//! relative to it.

use godiag_analyze::ArtifactKind;

/// The file name of a request's manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The request's report.
pub const REPORT_FILE: &str = "report.html";
/// A pod's analysis.
pub const SUMMARY: &str = "summary.json";
/// A pod's digests for a comparison with its siblings.
pub const DIGESTS: &str = "digests.json";
/// A pod compared with its siblings.
pub const COMPARISON: &str = "comparison.json";

/// Makes one path segment safe: characters outside `[A-Za-z0-9._-]` become `_`, and the
/// empty string, `.` and `..` become `_` so a segment can never climb out of its directory.
/// Kubernetes names pass through unchanged.
pub fn segment(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => cleaned,
    }
}

/// `<namespace>/<request>`: the directory of one request.
pub fn request_dir(namespace: &str, request: &str) -> String {
    format!("{}/{}", segment(namespace), segment(request))
}

/// `<namespace>/<request>/<pod>`: the directory of one target of a request.
pub fn target_dir(namespace: &str, request: &str, pod: &str) -> String {
    format!("{}/{}", request_dir(namespace, request), segment(pod))
}

/// `<namespace>/<request>/manifest.json`.
pub fn manifest_path(namespace: &str, request: &str) -> String {
    join(&request_dir(namespace, request), MANIFEST_FILE)
}

/// `<dir>/<kind>.<ext>`, e.g. `shop/r/p/cpu.pb.gz` ([`ArtifactKind::file_name`]).
pub fn artifact_path(dir: &str, kind: ArtifactKind) -> String {
    join(dir, kind.file_name())
}

/// Joins two relative paths with exactly one `/`; an empty side is dropped.
pub fn join(a: &str, b: &str) -> String {
    let a = a.trim_matches('/');
    let b = b.trim_matches('/');
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_per_kind() {
        let names: Vec<String> = ArtifactKind::ALL.into_iter().map(|k| artifact_path("d", k)).collect();
        assert_eq!(
            names,
            [
                "d/cpu.pb.gz",
                "d/heap.pb.gz",
                "d/allocs.pb.gz",
                "d/goroutine.pb.gz",
                "d/goroutine.txt",
                "d/goroutineleak.pb.gz",
                "d/block.pb.gz",
                "d/mutex.pb.gz",
                "d/threadcreate.pb.gz",
                "d/trace.out",
                "d/delve-goroutines.txt",
                "d/delve-snapshot.json",
                "d/delve-trace.json",
                "d/delve-trace.txt",
                "d/crash.txt",
            ]
        );
    }

    #[test]
    fn request_layout() {
        assert_eq!(target_dir("shop", "checkout-slow", "checkout-7d9f-abc"), "shop/checkout-slow/checkout-7d9f-abc");
        assert_eq!(manifest_path("shop", "checkout-slow"), "shop/checkout-slow/manifest.json");
        assert_eq!(artifact_path(&target_dir("shop", "r", "p"), ArtifactKind::Cpu), "shop/r/p/cpu.pb.gz");
    }

    #[test]
    fn segments_cannot_escape() {
        assert_eq!(segment(".."), "_");
        assert_eq!(segment(""), "_");
        assert_eq!(segment("a/../b"), "a_.._b");
        assert_eq!(segment("127.0.0.1:6060"), "127.0.0.1_6060");
        assert_eq!(segment("[::1]:6060"), "___1__6060");
    }

    #[test]
    fn join_handles_empty_and_slashes() {
        assert_eq!(join("", "manifest.json"), "manifest.json");
        assert_eq!(join("a/", "/b"), "a/b");
        assert_eq!(join("a", ""), "a");
    }
}
