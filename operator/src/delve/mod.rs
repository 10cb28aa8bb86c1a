//! Delve mode: the debugger's ephemeral container (pure spec), the JSON-RPC client, the
//! snapshot, its `debug=2` rendering and summary, and the flow that runs it in a pod.

pub mod cluster;
pub mod container;
pub mod failure;
pub mod psa;
pub mod render;
#[cfg(test)]
mod replay;
pub mod rpc;
pub mod session;
pub mod snapshot;
pub mod summary;
pub mod types;

pub use failure::{DelveFailure, DelveReason};
pub mod trace;
