//! `godiag collect`, `godiag analyze` and `godiag delve snapshot`: the same collection and analysis the operator runs, on
//! a laptop, without a cluster.

pub mod analyze;
pub mod collect;
pub mod delve;
pub mod report;
