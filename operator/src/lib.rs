//! godiag: diagnose Go programs on demand.
#![deny(warnings)]

pub mod api;
pub mod cli;
pub mod collect;
pub mod controller;
pub mod http;
pub mod metrics;
pub mod operator;
pub mod store;
pub mod telemetry;
