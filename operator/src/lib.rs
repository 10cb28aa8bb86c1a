//! godiag: diagnose Go programs on demand.
#![deny(warnings)]
// Tests may unwrap: a panic there is a test failure with a message, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod cli;
pub mod collect;
pub mod controller;
pub mod delve;
pub mod http;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod operator;
pub mod report;
pub mod store;
pub mod telemetry;
pub mod webhook;
pub mod worker;
