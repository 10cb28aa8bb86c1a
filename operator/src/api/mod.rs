//! The godiag.dev/v1alpha1 API types. No client, no I/O.

pub mod duration;
pub mod kind;

pub use kind::ProfileKind;
