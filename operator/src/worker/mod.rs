//! Analysis in a child process. The operator never analyses untrusted bytes in its own memory:
//! each artifact goes to `godiag analyze-worker` on stdin, a child of the same binary that caps
//! its own address space and CPU time, offers itself first to the kernel's OOM killer, and
//! answers with one JSON line (the analysis or a precise error) followed by the flame graph
//! SVG. Whatever the input does to the child — too much memory, too much time, a crash — the
//! operator reads an [`AnalysisFailure`] with a stable reason and carries on.

pub mod child;
pub mod failure;
pub mod parent;
pub mod protocol;

pub use failure::AnalysisFailure;
pub use parent::{AnalysisWorker, WorkerLimits};
