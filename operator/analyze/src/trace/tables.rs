//! The string and stack tables of one trace generation (`EvStrings` and `EvStacks` batches),
//! and the interned names every generation resolves into. IDs are scoped to their generation;
//! the names and stacks kept across generations are bounded in count and bytes, so a trace that
//! declares millions of them cannot grow the operator's memory.

use crate::frames::is_profiler;
use crate::wire::read_varint;
use std::collections::HashMap;

const EV_STACK: u8 = 3;
const EV_STRING: u8 = 5;

/// Longest string kept (function, file, reason, task or log text); longer ones are clipped.
pub const MAX_STRING: usize = 1024;
/// Most string bytes one generation may hold.
const MAX_GEN_STRING_BYTES: usize = 16 << 20;
/// Most frames one generation may hold across its stacks.
const MAX_GEN_FRAMES: usize = 4 << 20;
/// Innermost frames kept of each stack (the runtime records at most 128).
pub const MAX_DEPTH: usize = 64;
/// Most distinct names and stacks kept across the whole trace.
const MAX_NAMES: usize = 1 << 18;
const MAX_STACKS: usize = 1 << 18;

/// One frame as a stack batch lists it: function and file string IDs, and the line.
#[derive(Clone, Copy, Debug)]
struct RawFrame {
    func: u64,
    line: u64,
}

/// The tables of the generation being read.
#[derive(Default)]
pub struct GenTables {
    strings: HashMap<u64, Box<str>>,
    string_bytes: usize,
    stacks: HashMap<u64, Vec<RawFrame>>,
    frames: usize,
    /// Entries dropped because a bound was reached.
    pub dropped: u64,
}

impl GenTables {
    pub fn clear(&mut self) {
        self.strings.clear();
        self.stacks.clear();
        self.string_bytes = 0;
        self.frames = 0;
    }

    /// Reads an `EvStrings` batch (after its leading type byte): `[EvString id len bytes]…`.
    pub fn read_strings(&mut self, b: &[u8]) {
        let mut p = 0;
        while p < b.len() {
            if b[p] != EV_STRING {
                return;
            }
            p += 1;
            let (Some(id), Some(len)) = (read_varint(b, &mut p), read_varint(b, &mut p)) else { return };
            let Some(end) = usize::try_from(len).ok().and_then(|l| p.checked_add(l)).filter(|e| *e <= b.len()) else {
                return;
            };
            let raw = &b[p..end];
            p = end;
            let kept = &raw[..raw.len().min(MAX_STRING)];
            if self.string_bytes + kept.len() > MAX_GEN_STRING_BYTES {
                self.dropped += 1;
                continue;
            }
            self.string_bytes += kept.len();
            self.strings.insert(id, String::from_utf8_lossy(kept).into());
        }
    }

    /// Reads an `EvStacks` batch (after its type byte): `[EvStack id n (pc func file line)×n]…`.
    pub fn read_stacks(&mut self, b: &[u8]) {
        let mut p = 0;
        while p < b.len() {
            if b[p] != EV_STACK {
                return;
            }
            p += 1;
            let (Some(id), Some(n)) = (read_varint(b, &mut p), read_varint(b, &mut p)) else { return };
            let mut frames = Vec::new();
            for _ in 0..n {
                let (Some(_pc), Some(func), Some(_file), Some(line)) =
                    (read_varint(b, &mut p), read_varint(b, &mut p), read_varint(b, &mut p), read_varint(b, &mut p))
                else {
                    return;
                };
                if frames.len() < MAX_DEPTH {
                    frames.push(RawFrame { func, line });
                }
            }
            if self.frames + frames.len() > MAX_GEN_FRAMES {
                self.dropped += 1;
                continue;
            }
            self.frames += frames.len();
            self.stacks.insert(id, frames);
        }
    }

    pub fn string(&self, id: u64) -> Option<&str> {
        self.strings.get(&id).map(|s| &**s)
    }
}

/// A stack interned across generations: innermost frame first.
pub type StackId = u32;
/// The stack of an event that recorded none, or of one beyond the bounds.
pub const NO_STACK: StackId = 0;

/// One frame of an interned stack: the function's name and the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub name: u32,
    pub line: u32,
}

/// Names and stacks kept for the whole trace.
pub struct Interned {
    names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, u32>,
    stacks: Vec<Vec<Frame>>,
    /// Per stack: does it pass through the profilers' own code ([`is_profiler`])?
    profiler: Vec<bool>,
    stack_ids: HashMap<Vec<Frame>, StackId>,
    /// Generation stack ID → interned stack, for the generation being resolved.
    cache: HashMap<u64, StackId>,
    pub dropped: u64,
}

impl Default for Interned {
    fn default() -> Self {
        Interned {
            names: vec!["?".into()],
            name_ids: HashMap::new(),
            stacks: vec![Vec::new()],
            profiler: vec![false],
            stack_ids: HashMap::new(),
            cache: HashMap::new(),
            dropped: 0,
        }
    }
}

impl Interned {
    /// Forgets the previous generation's stack IDs (they are reused by the next one).
    pub fn new_generation(&mut self) {
        self.cache.clear();
    }

    pub fn name_id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(s) {
            return id;
        }
        if self.names.len() >= MAX_NAMES {
            self.dropped += 1;
            return 0;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.name_ids.insert(s.into(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |s| s)
    }

    /// The interned stack of generation stack `id` ([`NO_STACK`] for 0 or an unknown ID).
    pub fn stack(&mut self, t: &GenTables, id: u64) -> StackId {
        if id == 0 {
            return NO_STACK;
        }
        if let Some(&s) = self.cache.get(&id) {
            return s;
        }
        let Some(raw) = t.stacks.get(&id) else { return NO_STACK };
        let frames: Vec<Frame> = raw
            .iter()
            .map(|f| {
                let name = t.string(f.func).unwrap_or("?");
                Frame { name: self.name_id(name), line: u32::try_from(f.line).unwrap_or(u32::MAX) }
            })
            .collect();
        let sid = match self.stack_ids.get(&frames) {
            Some(&s) => s,
            None if self.stacks.len() < MAX_STACKS => {
                let s = self.stacks.len() as StackId;
                self.profiler.push(frames.iter().any(|f| is_profiler(self.name(f.name))));
                self.stacks.push(frames.clone());
                self.stack_ids.insert(frames, s);
                s
            }
            None => {
                self.dropped += 1;
                NO_STACK
            }
        };
        self.cache.insert(id, sid);
        sid
    }

    /// True when the stack passes through runtime/pprof, runtime/trace or net/http/pprof.
    pub fn is_profiler(&self, s: StackId) -> bool {
        self.profiler.get(s as usize).copied().unwrap_or(false)
    }

    /// The frames of an interned stack, innermost first, as function names.
    pub fn frames(&self, s: StackId) -> impl Iterator<Item = &str> {
        self.stacks.get(s as usize).into_iter().flatten().map(|f| self.name(f.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's uvarints are protobuf's base-128 varints.
    fn uvarint(v: u64, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(v, out);
    }

    #[test]
    fn strings_and_stacks_resolve_to_names_and_survive_a_broken_tail() {
        let mut s = Vec::new();
        for (id, text) in [(1u64, "main.handle"), (2, "runtime.goexit")] {
            s.push(EV_STRING);
            uvarint(id, &mut s);
            uvarint(text.len() as u64, &mut s);
            s.extend_from_slice(text.as_bytes());
        }
        s.extend_from_slice(&[EV_STRING, 9, 200]); // declares 200 bytes, has none
        let mut t = GenTables::default();
        t.read_strings(&s);
        assert_eq!(t.string(1), Some("main.handle"));
        let mut k = Vec::new();
        k.push(EV_STACK);
        for v in [7, 2, 0x10, 1, 0, 88, 0x20, 2, 0, 1] {
            uvarint(v, &mut k);
        }
        t.read_stacks(&k);
        let mut names = Interned::default();
        let id = names.stack(&t, 7);
        assert_ne!(id, NO_STACK);
        assert_eq!(names.frames(id).collect::<Vec<_>>(), ["main.handle", "runtime.goexit"]);
        assert_eq!(names.stack(&t, 7), id, "cached");
        assert_eq!(names.stack(&t, 99), NO_STACK, "unknown ID");
    }
}
