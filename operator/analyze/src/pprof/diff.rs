//! Comparing two profiles of the same kind: per-function change in flat and cum, largest
//! regressions first.

use super::decode::Profile;
use super::filter::CompiledFilter;
use super::top::function_values;
use crate::AnalyzeError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One function whose value changed between the base and the new profile (grown or shrunk).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDelta {
    pub name: String,
    pub base_flat: i64,
    pub new_flat: i64,
    pub delta_flat: i64,
    pub base_cum: i64,
    pub new_cum: i64,
    pub delta_cum: i64,
}

/// The comparison of a profile against an older one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub base_total: i64,
    pub new_total: i64,
    pub delta_total: i64,
    /// Functions that grew the most (by flat, then cum), largest first.
    pub regressions: Vec<FunctionDelta>,
    /// Functions that shrank the most, largest drop first.
    pub improvements: Vec<FunctionDelta>,
}

pub fn diff(
    base: &Profile,
    new: &Profile,
    sample_type: &str,
    filter_base: &CompiledFilter,
    filter_new: &CompiledFilter,
    top: usize,
) -> Result<Diff, AnalyzeError> {
    let col_new = new.column(Some(sample_type))?;
    let col_base = base
        .column(Some(sample_type))
        .map_err(|_| AnalyzeError::Diff(format!("the base profile has no {sample_type:?} sample type")))?;
    let (b, base_total) = function_values(base, col_base, filter_base);
    let (n, new_total) = function_values(new, col_new, filter_new);
    let mut rows: BTreeMap<String, FunctionDelta> = BTreeMap::new();
    for f in b {
        rows.insert(
            f.name.clone(),
            FunctionDelta {
                name: f.name,
                base_flat: f.flat,
                new_flat: 0,
                delta_flat: 0,
                base_cum: f.cum,
                new_cum: 0,
                delta_cum: 0,
            },
        );
    }
    for f in n {
        let r = rows.entry(f.name.clone()).or_insert_with(|| FunctionDelta {
            name: f.name.clone(),
            base_flat: 0,
            new_flat: 0,
            delta_flat: 0,
            base_cum: 0,
            new_cum: 0,
            delta_cum: 0,
        });
        r.new_flat = f.flat;
        r.new_cum = f.cum;
    }
    let mut all: Vec<FunctionDelta> = rows
        .into_values()
        .map(|mut r| {
            r.delta_flat = r.new_flat.saturating_sub(r.base_flat);
            r.delta_cum = r.new_cum.saturating_sub(r.base_cum);
            r
        })
        .collect();
    all.sort_by(|a, b| {
        b.delta_flat.cmp(&a.delta_flat).then(b.delta_cum.cmp(&a.delta_cum)).then_with(|| a.name.cmp(&b.name))
    });
    let regressions: Vec<FunctionDelta> =
        all.iter().filter(|r| r.delta_flat > 0 || (r.delta_flat == 0 && r.delta_cum > 0)).take(top).cloned().collect();
    let mut improvements: Vec<FunctionDelta> = all.into_iter().filter(|r| r.delta_flat < 0).collect();
    improvements.sort_by(|a, b| a.delta_flat.cmp(&b.delta_flat).then_with(|| a.name.cmp(&b.name)));
    improvements.truncate(top);
    Ok(Diff { base_total, new_total, delta_total: new_total.saturating_sub(base_total), regressions, improvements })
}
