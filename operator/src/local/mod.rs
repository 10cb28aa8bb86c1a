//! `godiag collect` and `godiag analyze`: the same collection and analysis the operator runs, on
//! a laptop, without a cluster.

pub mod analyze;
pub mod collect;
