//! Folded stacks (`root;…;leaf value`), the input of inferno and of most flame graph tools.

use super::decode::Profile;
use super::filter::CompiledFilter;
use std::collections::HashMap;

/// Aggregated folded stacks for one column, sorted by stack; samples with a value ≤ 0 and
/// samples without frames are left out (a flame graph cannot draw them).
pub fn folded(p: &Profile, col: usize, filter: &CompiledFilter) -> Vec<(String, i64)> {
    let mut acc: HashMap<Vec<u32>, i64> = HashMap::new();
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if v <= 0 || frames.is_empty() || !filter.keeps(frames) {
            return;
        }
        let e = acc.entry(frames.to_vec()).or_insert(0);
        *e = e.saturating_add(v);
    });
    let mut out: Vec<(String, i64)> = acc
        .into_iter()
        .map(|(frames, v)| {
            let mut line = String::new();
            for (i, &f) in frames.iter().rev().enumerate() {
                if i > 0 {
                    line.push(';');
                }
                // ';' separates frames and a space ends the stack: neither may appear in a name.
                line.extend(p.names[f as usize].chars().map(|c| if c == ';' || c == ' ' { '_' } else { c }));
            }
            (line, v)
        })
        .collect();
    out.sort();
    out
}
