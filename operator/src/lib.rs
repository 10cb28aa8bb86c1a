//! godiag: diagnose Go programs on demand.
#![deny(warnings)]

pub mod api;
pub mod cli;
pub mod controller;
pub mod http;
pub mod metrics;
// pub mod operator; (enabled once store/ and collect/ land)
pub mod telemetry;
