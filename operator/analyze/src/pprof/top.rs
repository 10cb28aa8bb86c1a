//! Flat and cumulative values per function, counted the way `go tool pprof -top` counts them:
//! flat goes to the leaf frame (the innermost inlined function), cum goes once to every
//! distinct function on the stack, and nodes sort by |flat| desc, then name, then |cum| desc.

use super::decode::Profile;
use super::filter::CompiledFilter;
use serde::{Deserialize, Serialize};

/// One function's share of a profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionValue {
    /// Function name as `go tool pprof -top` prints it (without its ` (inline)` suffix).
    pub name: String,
    /// Value of samples whose innermost frame is this function.
    pub flat: i64,
    /// Value of samples with this function anywhere on the stack.
    pub cum: i64,
}

/// Every function with a non-zero value, in pprof's `-top` order, and the total.
pub fn function_values(p: &Profile, col: usize, filter: &CompiledFilter) -> (Vec<FunctionValue>, i64) {
    let n = p.names.len();
    let mut flat = vec![0i64; n];
    let mut cum = vec![0i64; n];
    let mut stamp = vec![0u32; n];
    let mut total: i64 = 0;
    let mut sample_no: u32 = 0;
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if v == 0 || !filter.keeps(frames) {
            return;
        }
        sample_no = sample_no.wrapping_add(1).max(1);
        total = total.saturating_add(v);
        if let Some(&leaf) = frames.first() {
            flat[leaf as usize] = flat[leaf as usize].saturating_add(v);
        }
        for &f in frames {
            let f = f as usize;
            if stamp[f] != sample_no {
                stamp[f] = sample_no;
                cum[f] = cum[f].saturating_add(v);
            }
        }
    });
    let mut out: Vec<FunctionValue> = (0..n)
        .filter(|&i| flat[i] != 0 || cum[i] != 0)
        .map(|i| FunctionValue { name: p.names[i].clone(), flat: flat[i], cum: cum[i] })
        .collect();
    sort_pprof(&mut out);
    (out, total)
}

/// pprof's FlatNameOrder.
pub fn sort_pprof(v: &mut [FunctionValue]) {
    v.sort_by(|a, b| {
        b.flat
            .unsigned_abs()
            .cmp(&a.flat.unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| b.cum.unsigned_abs().cmp(&a.cum.unsigned_abs()))
    });
}
