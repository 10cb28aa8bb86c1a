//! Folded stacks (`root;…;leaf value`), the input of inferno and of most flame graph tools.

use super::decode::Profile;
use super::filter::CompiledFilter;
use crate::AnalyzeError;
use std::collections::HashMap;

/// Bytes the folded stacks of one profile may take (the distinct stacks, as frame indices and
/// as text). Real profiles need a few MiB; past this the flame graph is refused, not drawn.
pub const MAX_FOLDED_BYTES: usize = 32 << 20;

fn too_large() -> AnalyzeError {
    AnalyzeError::TooLarge(format!("its distinct stacks need more than {} MiB as folded text", MAX_FOLDED_BYTES >> 20))
}

/// Aggregated folded stacks for one column, sorted by stack; samples with a value ≤ 0 and
/// samples without frames are left out (a flame graph cannot draw them).
pub fn folded(p: &Profile, col: usize, filter: &CompiledFilter) -> Result<Vec<(String, i64)>, AnalyzeError> {
    let mut acc: HashMap<Vec<u32>, i64> = HashMap::new();
    // Each distinct stack costs its frame indices and its text (names plus separators).
    let mut bytes = 0usize;
    let mut over = false;
    p.for_each_stack(|frames, values| {
        let v = values.get(col).copied().unwrap_or(0);
        if over || v <= 0 || frames.is_empty() || !filter.keeps(frames) {
            return;
        }
        if let Some(e) = acc.get_mut(frames) {
            *e = e.saturating_add(v);
            return;
        }
        bytes += frames.iter().map(|&f| p.names[f as usize].len() + 1 + 4).sum::<usize>() + 64;
        if bytes > MAX_FOLDED_BYTES {
            over = true;
            return;
        }
        acc.insert(frames.to_vec(), v);
    });
    if over {
        return Err(too_large());
    }
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
    Ok(out)
}
