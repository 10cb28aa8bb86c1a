//! Attribution of a profile's samples to the program's own code: each sample goes to the
//! innermost frame that is the program's (not the runtime, the standard library or plumbing
//! such as RPC transports and instrumentation), with the hot leaf it reached remembered beside
//! it. Samples taken inside the profilers themselves (godiag's CPU profile and trace buffers,
//! net/http/pprof handlers) are left out and counted apart.

use super::decode::{FrameVisitor, Profile};
use super::filter::CompiledFilter;
use crate::frames::{FrameOrigin, is_machinery, is_profiler, origin};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A function of the program and what the samples attributed to it cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnCode {
    /// The program's function: the innermost frame of its own code on the samples' stacks.
    pub name: String,
    /// Value of the samples attributed to it (in the profile's unit).
    pub value: i64,
    /// The leaf where most of that value was spent, when it is another function (the
    /// `crypto/sha256` block function under `main.hashLoop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// Value spent in `leaf` under this function.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leaf_value: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Samples by the program's function, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub sites: Vec<OwnCode>,
    /// Value of the samples attributed (everything but the profilers' own samples).
    pub total: i64,
    /// Value of the samples left out because their stack runs through a profiler.
    pub profiling: i64,
}

/// Which leaf to name beside the program's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// The leaf as sampled (CPU: `runtime.mapaccess2` under `main.lookup` is worth knowing),
    /// except `runtime.asyncPreempt`, which stands for the loop it interrupted.
    Sampled,
    /// The first frame past the runtime's allocation, locking and waiting machinery (a heap
    /// profile's leaf is always the allocator).
    CallSite,
}

/// How good a frame is as "the program's code": lower is better.
fn rank(name: &str) -> u8 {
    match origin(name) {
        FrameOrigin::Own => 0,
        FrameOrigin::Library => 1,
        FrameOrigin::Stdlib if !is_machinery(name) => 2,
        FrameOrigin::Unsymbolized => 3,
        _ => 4,
    }
}

/// Runtime frames that only switch stacks or start goroutines: never the name of an activity.
const TRAMPOLINES: &[&str] = &[
    "runtime.goexit",
    "runtime.main",
    "runtime.systemstack",
    "runtime.systemstack_switch",
    "runtime.mcall",
    "runtime.morestack",
    "runtime.asmcgocall",
];

/// Attributes column `col` of the samples kept by `filter`.
pub fn attribute(p: &Profile, col: usize, filter: &CompiledFilter, leaf: Leaf) -> Attribution {
    let mut a = Attributor::new(p, leaf);
    p.for_each_kept(col, filter, |frames, v| a.add(frames, v));
    a.finish(p)
}

/// Per function, what the attribution asks of it, in one byte: its [`rank`] (low bits), whether it
/// is a profiler's and whether it is skipped as a leaf.
const RANK_BITS: u8 = 0b111;
const PROFILER: u8 = 1 << 3;
const SKIP_LEAF: u8 = 1 << 4;
/// The rank of [`TRAMPOLINES`].
const TRAMPOLINE: u8 = 5;

/// The attribution, fed one kept stack at a time or one frame at a time (the analysis walks the
/// stacks once for every tally it needs).
pub struct Attributor {
    flags: Vec<u8>,
    by_pair: FxHashMap<(u32, u32), i64>,
    profiling: i64,
    total: i64,
}

/// What one stack's frames said so far: a profiler's frame anywhere, the innermost frame of the
/// best rank, the outermost frame that is not a trampoline (the owner of a runtime-only
/// stack), the outermost frame, and the first frame not skipped as a leaf ([`NONE`] while
/// there is none: plain numbers, so that the walk keeps them in registers).
#[derive(Clone, Copy)]
pub struct Walk {
    profiler: bool,
    best: u8,
    best_frame: u32,
    outer: u32,
    last: u32,
    leaf: u32,
}

const NONE: u32 = u32::MAX;

impl Attributor {
    pub fn new(p: &Profile, leaf: Leaf) -> Self {
        let flags = p
            .names
            .iter()
            .map(|n| {
                let rank = if TRAMPOLINES.contains(&n.as_str()) { TRAMPOLINE } else { rank(n) };
                let skip = match leaf {
                    Leaf::Sampled => n == "runtime.asyncPreempt",
                    Leaf::CallSite => is_machinery(n),
                };
                rank | if is_profiler(n) { PROFILER } else { 0 } | if skip { SKIP_LEAF } else { 0 }
            })
            .collect();
        Attributor { flags, by_pair: FxHashMap::default(), profiling: 0, total: 0 }
    }

    pub fn finish(self, p: &Profile) -> Attribution {
        self.top(p, usize::MAX)
    }

    /// The attribution with its `n` largest sites (only those are sorted in full and have their
    /// names copied); the totals are over all.
    pub fn top(self, p: &Profile, n: usize) -> Attribution {
        let mut by_owner: FxHashMap<u32, (i64, u32, i64)> = FxHashMap::default();
        for ((o, l), v) in self.by_pair {
            let e = by_owner.entry(o).or_insert((0, l, 0));
            e.0 = e.0.saturating_add(v);
            // The hottest leaf; ties go to the smaller name index, so the result is deterministic.
            if v > e.2 || (v == e.2 && p.names[l as usize] < p.names[e.1 as usize]) {
                e.1 = l;
                e.2 = v;
            }
        }
        let mut owners: Vec<(u32, (i64, u32, i64))> = by_owner.into_iter().collect();
        super::top::first_sorted(&mut owners, n, |a, b| {
            b.1.0.cmp(&a.1.0).then_with(|| p.names[a.0 as usize].cmp(&p.names[b.0 as usize]))
        });
        let sites = owners
            .into_iter()
            .map(|(o, (value, l, lv))| {
                let other = l != o;
                OwnCode {
                    name: p.names[o as usize].clone(),
                    value,
                    leaf: other.then(|| p.names[l as usize].clone()),
                    leaf_value: if other { lv } else { 0 },
                }
            })
            .collect();
        Attribution { sites, total: self.total, profiling: self.profiling }
    }
}

impl FrameVisitor for Attributor {
    type Walk = Walk;

    #[inline(always)]
    fn begin(&mut self, _: i64) -> Walk {
        Walk { profiler: false, best: u8::MAX, best_frame: NONE, outer: NONE, last: NONE, leaf: NONE }
    }

    #[inline(always)]
    fn frame(&mut self, w: &mut Walk, f: u32) {
        let Some(&fl) = self.flags.get(f as usize) else { return };
        w.profiler |= fl & PROFILER != 0;
        // The program's own frame and the leaf found, nothing further out changes the result
        // but a profiler's frame: most frames of a deep stack end here.
        if w.best == 0 && w.leaf != NONE {
            return;
        }
        let r = fl & RANK_BITS;
        if r < w.best {
            w.best = r;
            w.best_frame = f;
        }
        if r != TRAMPOLINE {
            w.outer = f;
        }
        w.last = f;
        if w.leaf == NONE && fl & SKIP_LEAF == 0 {
            w.leaf = f;
        }
    }

    fn end(&mut self, w: Walk, v: i64) {
        if w.profiler {
            self.profiling = self.profiling.saturating_add(v);
            return;
        }
        self.total = self.total.saturating_add(v);
        if w.last == NONE {
            return;
        }
        let o = if w.best < 4 {
            w.best_frame
        } else if w.outer != NONE {
            w.outer
        } else {
            w.last
        };
        let leaf = if w.leaf != NONE { w.leaf } else { o };
        let e = self.by_pair.entry((o, leaf)).or_insert(0);
        *e = e.saturating_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pprof::decode::{decode, tests::profile_bytes};
    use crate::pprof::filter::Filter;

    fn attribution(raw: &[u8], leaf: Leaf) -> Attribution {
        let p = decode(raw).unwrap();
        let f = Filter::new(None, None).unwrap();
        attribute(&p, p.default_index, &f.compile_for(&p), leaf)
    }

    #[test]
    fn samples_go_to_the_programs_innermost_frame_with_the_leaf_beside_it() {
        // 99 samples in sha256 under main.hashLoop, 1 in a GC worker, 5 in the CPU profiler.
        let raw = profile_bytes(
            &[
                "",
                "cpu",
                "nanoseconds",
                "crypto/internal/fips140/sha256.blockSHANI",
                "crypto/sha256.Sum256",
                "main.hashLoop",
                "runtime.gcDrain",
                "runtime.gcBgMarkWorker",
                "runtime/pprof.profileWriter",
                "runtime.goexit",
            ],
            &[(1, 2)],
            &[(1, 3), (2, 4), (3, 5), (4, 6), (5, 7), (6, 8), (7, 9)],
            &[(1, &[1]), (2, &[2]), (3, &[3]), (4, &[4]), (5, &[5]), (6, &[6]), (7, &[7])],
            &[(&[1, 2, 3], &[99]), (&[4, 5, 7], &[1]), (&[1, 6], &[5])],
        );
        let a = attribution(&raw, Leaf::Sampled);
        assert_eq!((a.total, a.profiling), (100, 5));
        assert_eq!(a.sites[0].name, "main.hashLoop");
        assert_eq!(a.sites[0].leaf.as_deref(), Some("crypto/internal/fips140/sha256.blockSHANI"));
        assert_eq!((a.sites[0].value, a.sites[0].leaf_value), (99, 99));
        assert_eq!(a.sites[1].name, "runtime.gcBgMarkWorker", "runtime-only stacks name their activity");
    }

    #[test]
    fn plumbing_is_skipped_for_the_program_further_out() {
        let raw = profile_bytes(
            &[
                "",
                "inuse_space",
                "bytes",
                "runtime.mallocgc",
                "encoding/json.Unmarshal",
                "google.golang.org/grpc.(*Server).handleStream",
                "github.com/acme/shop.(*Cart).Load",
                "net/http.(*conn).serve",
            ],
            &[(1, 2)],
            &[(1, 3), (2, 4), (3, 5), (4, 6), (5, 7)],
            &[(1, &[1]), (2, &[2]), (3, &[3]), (4, &[4]), (5, &[5])],
            &[(&[1, 2, 4, 3], &[70]), (&[1, 3], &[20]), (&[1, 5], &[10])],
        );
        let a = attribution(&raw, Leaf::CallSite);
        let got: Vec<(&str, Option<&str>, i64)> =
            a.sites.iter().map(|s| (s.name.as_str(), s.leaf.as_deref(), s.value)).collect();
        assert_eq!(
            got,
            [
                ("github.com/acme/shop.(*Cart).Load", Some("encoding/json.Unmarshal"), 70),
                ("google.golang.org/grpc.(*Server).handleStream", None, 20),
                ("net/http.(*conn).serve", None, 10),
            ]
        );
    }
}
