//! Flat and cumulative values per function, counted the way `go tool pprof -top` counts them:
//! flat goes to the leaf frame (the innermost inlined function), cum goes once to every
//! distinct function on the stack, and nodes sort by |flat| desc, then name, then |cum| desc.

use super::decode::{FrameVisitor, Profile};
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
    let mut tally = Tally::new(p);
    p.for_each_kept(col, filter, |frames, v| tally.add(frames, v));
    tally.finish(p)
}

/// Flat and cum per function, fed one kept stack at a time or one frame at a time (the analysis
/// walks the stacks once for every tally it needs).
pub struct Tally {
    flat: Vec<i64>,
    cum: Vec<i64>,
    /// The sample that last added to each function's cum: each counts once per stack.
    stamp: Vec<u32>,
    sample_no: u32,
    total: i64,
}

/// The stack being walked: its number, its value, and whether its leaf is still to come.
#[derive(Clone, Copy)]
pub struct TallyWalk {
    no: u32,
    value: i64,
    at_leaf: bool,
}

impl Tally {
    pub fn new(p: &Profile) -> Self {
        let n = p.names.len();
        Tally { flat: vec![0; n], cum: vec![0; n], stamp: vec![0; n], sample_no: 0, total: 0 }
    }

    /// The functions in pprof's `-top` order, and the total.
    pub fn finish(self, p: &Profile) -> (Vec<FunctionValue>, i64) {
        self.top(p, usize::MAX)
    }

    /// The first `n` functions in pprof's `-top` order, and the total: only those are sorted
    /// in full and have their names copied (a large profile has tens of thousands).
    pub fn top(self, p: &Profile, n: usize) -> (Vec<FunctionValue>, i64) {
        let (flat, cum) = (&self.flat, &self.cum);
        let mut idx: Vec<usize> = (0..flat.len()).filter(|&i| flat[i] != 0 || cum[i] != 0).collect();
        let key = |i: usize| (flat[i], p.names[i].as_str(), cum[i]);
        first_sorted(&mut idx, n, |a, b| pprof_order(key(*a), key(*b)));
        let out =
            idx.into_iter().map(|i| FunctionValue { name: p.names[i].clone(), flat: flat[i], cum: cum[i] }).collect();
        (out, self.total)
    }
}

impl FrameVisitor for Tally {
    type Walk = TallyWalk;

    #[inline(always)]
    fn begin(&mut self, v: i64) -> TallyWalk {
        self.sample_no = self.sample_no.wrapping_add(1).max(1);
        if self.sample_no == 1 {
            // Numbers wrapped (or this is the first stack): no stamp may look current.
            self.stamp.fill(0);
        }
        self.total = self.total.saturating_add(v);
        TallyWalk { no: self.sample_no, value: v, at_leaf: true }
    }

    #[inline(always)]
    fn frame(&mut self, w: &mut TallyWalk, f: u32) {
        let f = f as usize;
        if w.at_leaf {
            if let Some(flat) = self.flat.get_mut(f) {
                *flat = flat.saturating_add(w.value);
            }
            w.at_leaf = false;
        }
        if let Some(stamp) = self.stamp.get_mut(f)
            && *stamp != w.no
        {
            *stamp = w.no;
            self.cum[f] = self.cum[f].saturating_add(w.value);
        }
    }

    #[inline(always)]
    fn end(&mut self, _: TallyWalk, _: i64) {}
}

/// pprof's FlatNameOrder of (flat, name, cum): |flat| descending, then name, then |cum|
/// descending.
fn pprof_order(a: (i64, &str, i64), b: (i64, &str, i64)) -> std::cmp::Ordering {
    b.0.unsigned_abs()
        .cmp(&a.0.unsigned_abs())
        .then_with(|| a.1.cmp(b.1))
        .then_with(|| b.2.unsigned_abs().cmp(&a.2.unsigned_abs()))
}

/// Keeps the first `n` of `v` in the order `cmp` gives, sorted: the others are set apart in
/// linear time, not sorted.
pub(crate) fn first_sorted<T>(v: &mut Vec<T>, n: usize, mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    if n < v.len() {
        if n > 0 {
            v.select_nth_unstable_by(n - 1, &mut cmp);
        }
        v.truncate(n);
    }
    v.sort_unstable_by(cmp);
}
