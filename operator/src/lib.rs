//! godiag: diagnose Go programs on demand.
#![deny(warnings)]

pub mod api;
pub mod cli;
pub mod collect;
pub mod store;
