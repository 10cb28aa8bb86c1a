//! Decoding profile.proto (gzip or raw) into a compact form: interned function names,
//! locations as lists of function indices (innermost inlined frame first) and samples
//! as lists of location indices (leaf first). Nothing here trusts a length or a count from the
//! input: decompression is capped, every table is counted before anything is kept for it, names
//! are clipped, the decoded samples have a byte budget, and the total stack-expansion work is
//! bounded up front. A profile beyond a bound is a precise [`AnalyzeError::TooLarge`].

use crate::AnalyzeError;
use crate::kind::ArtifactKind;
use crate::wire::{Field, FieldError, Fields, WireType, read_varint};
use serde::{Deserialize, Serialize};

use std::collections::HashMap;
use std::io::Read;

/// Largest decompressed profile godiag reads. The largest real Go profiles we know of are about
/// 10 MB raw; this leaves room while keeping a gzip bomb far under the operator's memory limit.
pub const MAX_DECOMPRESSED: u64 = 64 << 20;
/// Upper bound on frames visited when expanding every sample's stack once. Keeps pathological
/// inputs (a few bytes referencing a location with thousands of lines, many times) from hanging.
pub const MAX_FRAME_VISITS: u64 = 1 << 26;
/// Most entries per table of a profile (a large real CPU profile has ~50 k strings and ~23 k
/// functions). Each is counted before it is kept.
pub const MAX_STRINGS: usize = 1 << 21;
pub const MAX_FUNCTIONS: usize = 1 << 20;
pub const MAX_LOCATIONS: usize = 1 << 20;
/// Most lines over all locations (inlined frames).
pub const MAX_LINES: usize = 1 << 22;
pub const MAX_SAMPLE_TYPES: usize = 64;
/// Bytes the decoded samples may take (their values and where each is in the profile).
pub const MAX_SAMPLE_BYTES: usize = 64 << 20;
pub use crate::text::MAX_NAME_BYTES;

/// One value column of a profile, e.g. `cpu`/`nanoseconds`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueKind {
    pub name: String,
    pub unit: String,
}

/// A decoded profile. Locations live in flat arrays (offsets + contents) so a profile with
/// millions of frames costs a handful of allocations; the samples' location ids stay in the
/// decompressed bytes, checked once by [`decode`] and read again by each walk over the stacks
/// (a large profile's ids take a byte or two each there, four times that as indices).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub sample_types: Vec<ValueKind>,
    /// The column `go tool pprof` shows by default.
    pub default_index: usize,
    /// Function names, indexed by the numbers in `loc_funcs`.
    pub names: Vec<String>,
    /// The locations' function indices, innermost (inlined) first, caller last; `table` says
    /// where each location's are.
    loc_funcs: Vec<u32>,
    /// The decompressed profile the samples are read from.
    raw: Vec<u8>,
    /// Per sample: the range of its message in `raw`; its location ids are leaf first.
    samples: Vec<(u32, u32)>,
    /// Location ids to where each location's frames are in `loc_funcs`.
    table: LocTable,
    /// `sample_types.len()` values per sample.
    values: Vec<i64>,
    pub period_type: Option<ValueKind>,
    pub period: i64,
    pub duration_nanos: i64,
    pub time_nanos: i64,
}

/// A tally fed one frame at a time by [`Profile::visit_frames`]: `begin` with the sample's value,
/// `frame` for each of its frames (function indices, leaf first), `end` with the value again.
pub trait FrameVisitor {
    fn begin(&mut self, value: i64);
    fn frame(&mut self, func: u32);
    fn end(&mut self, value: i64);

    /// One whole stack (leaf first) and its value.
    fn add(&mut self, frames: &[u32], value: i64) {
        self.begin(value);
        for &f in frames {
            self.frame(f);
        }
        self.end(value);
    }
}

/// Two tallies fed by one walk.
impl<A: FrameVisitor, B: FrameVisitor> FrameVisitor for (&mut A, &mut B) {
    #[inline(always)]
    fn begin(&mut self, value: i64) {
        self.0.begin(value);
        self.1.begin(value);
    }
    #[inline(always)]
    fn frame(&mut self, func: u32) {
        self.0.frame(func);
        self.1.frame(func);
    }
    #[inline(always)]
    fn end(&mut self, value: i64) {
        self.0.end(value);
        self.1.end(value);
    }
}

/// True when the bytes start with the gzip magic number.
pub fn is_gzip(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

/// Gunzips (all members) with a cap on the output size.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, AnalyzeError> {
    // The gzip trailer states the uncompressed size (mod 2^32). It is only a capacity hint,
    // clamped by the cap and by a generous compression ratio, so a lying trailer cannot make
    // us allocate much; it saves the copies of a doubling buffer on large profiles.
    let hint = data
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as u64)
        .unwrap_or(0)
        .min(MAX_DECOMPRESSED)
        .min((data.len() as u64).saturating_mul(32));
    // Grown by hand so that the buffer never reserves past the cap (a doubling `read_to_end`
    // would reserve up to twice it), and an allocation refused by a memory limit is an error.
    let cap = MAX_DECOMPRESSED as usize + 1;
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(hint as usize + 1).map_err(|_| out_of_memory(hint as usize + 1))?;
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(cap as u64);
    let mut chunk = [0u8; 64 << 10];
    loop {
        let n = match dec.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AnalyzeError::Gzip(e.to_string())),
        };
        if out.capacity() - out.len() < n {
            let grow = out.capacity().max(n).min(cap - out.len());
            out.try_reserve_exact(grow).map_err(|_| out_of_memory(out.len() + grow))?;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(AnalyzeError::TooLarge(format!(
            "profile decompresses to more than {} MiB",
            MAX_DECOMPRESSED >> 20
        )));
    }
    Ok(out)
}

fn out_of_memory(bytes: usize) -> AnalyzeError {
    AnalyzeError::OutOfMemory(format!("cannot reserve {} MiB to decompress the profile", bytes >> 20))
}

/// Decodes gzip or raw profile.proto bytes.
pub fn decode(data: &[u8]) -> Result<Profile, AnalyzeError> {
    if is_gzip(data) { decode_raw(gunzip(data)?) } else { decode_raw(data.to_vec()) }
}

fn malformed(what: &str) -> impl Fn(FieldError) -> AnalyzeError + '_ {
    move |e| AnalyzeError::MalformedProfile(format!("{what}: {e}"))
}

fn too_many(what: &str, max: usize) -> AnalyzeError {
    AnalyzeError::TooLarge(format!("profile has more than {max} {what}"))
}

/// The tables of a profile as read in one pass: strings as ranges of the input, functions and
/// locations with the ids they reference, samples only counted.
#[derive(Default)]
struct Tables<'a> {
    strings: Vec<&'a [u8]>,
    sample_types: Vec<(u64, u64)>,
    /// (id, name string index).
    functions: Vec<(u64, u64)>,
    /// Per location: id, mapping id, and its lines' function ids in
    /// `line_funcs[start..next start]` (the address is not needed at function granularity).
    locations: Vec<(u64, u64, usize)>,
    /// (mapping id, file name string index).
    mappings: Vec<(u64, u64)>,
    line_funcs: Vec<u64>,
    samples: usize,
    period_type: Option<(u64, u64)>,
    period: i64,
    duration_nanos: i64,
    time_nanos: i64,
    default_sample_type: u64,
}

/// Varint fields 1 and 2 of a small message (`ValueType`: type and unit; `Function`: id and
/// name), 0 when absent; other fields are skipped.
fn fields_1_and_2(b: &[u8], what: &str) -> Result<(u64, u64), AnalyzeError> {
    let (mut one, mut two) = (0, 0);
    for f in Fields::new(b) {
        match f.map_err(malformed(what))? {
            Field::Varint(1, v) => one = v,
            Field::Varint(2, v) => two = v,
            _ => {}
        }
    }
    Ok((one, two))
}

fn read_tables(data: &[u8]) -> Result<Tables<'_>, AnalyzeError> {
    let mut t = Tables::default();
    for f in Fields::new(data) {
        match f.map_err(malformed("profile"))? {
            Field::Bytes(1, b) => {
                if t.sample_types.len() >= MAX_SAMPLE_TYPES {
                    return Err(too_many("sample types", MAX_SAMPLE_TYPES));
                }
                t.sample_types.push(fields_1_and_2(b, "value type")?);
            }
            Field::Bytes(2, _) => {
                t.samples += 1;
            }
            Field::Bytes(4, b) => {
                if t.locations.len() >= MAX_LOCATIONS {
                    return Err(too_many("locations", MAX_LOCATIONS));
                }
                let (mut id, mut mapping) = (0, 0);
                let start = t.line_funcs.len();
                for lf in Fields::new(b) {
                    match lf.map_err(malformed("location"))? {
                        Field::Varint(1, v) => id = v,
                        Field::Varint(2, v) => mapping = v,
                        Field::Bytes(4, line) => {
                            if t.line_funcs.len() >= MAX_LINES {
                                return Err(too_many("lines in its locations", MAX_LINES));
                            }
                            let mut function_id = 0;
                            for x in Fields::new(line) {
                                if let Field::Varint(1, v) = x.map_err(malformed("line"))? {
                                    function_id = v;
                                }
                            }
                            t.line_funcs.push(function_id);
                        }
                        _ => {}
                    }
                }
                t.locations.push((id, mapping, start));
            }
            Field::Bytes(3, b) => {
                if t.mappings.len() >= MAX_LOCATIONS {
                    return Err(too_many("mappings", MAX_LOCATIONS));
                }
                let (mut id, mut file) = (0, 0);
                for mf in Fields::new(b) {
                    match mf.map_err(malformed("mapping"))? {
                        Field::Varint(1, v) => id = v,
                        Field::Varint(5, v) => file = v,
                        _ => {}
                    }
                }
                t.mappings.push((id, file));
            }
            Field::Bytes(5, b) => {
                if t.functions.len() >= MAX_FUNCTIONS {
                    return Err(too_many("functions", MAX_FUNCTIONS));
                }
                t.functions.push(fields_1_and_2(b, "function")?);
            }
            Field::Bytes(6, b) => {
                if t.strings.len() >= MAX_STRINGS {
                    return Err(too_many("strings", MAX_STRINGS));
                }
                t.strings.push(b);
            }
            Field::Varint(9, v) => t.time_nanos = v as i64,
            Field::Varint(10, v) => t.duration_nanos = v as i64,
            Field::Bytes(11, b) => t.period_type = Some(fields_1_and_2(b, "value type")?),
            Field::Varint(12, v) => t.period = v as i64,
            Field::Varint(14, v) => t.default_sample_type = v,
            Field::Varint(n @ (1 | 2 | 3 | 4 | 5 | 6 | 11), _) => {
                return Err(AnalyzeError::MalformedProfile(format!("field {n} is a varint, not a message")));
            }
            _ => {}
        }
    }
    Ok(t)
}

/// A name from the string table, cut to leave room for `…` within [`MAX_NAME_BYTES`].
fn name_bytes(b: &[u8]) -> &[u8] {
    if b.len() <= MAX_NAME_BYTES { b } else { &b[..MAX_NAME_BYTES - '…'.len_utf8()] }
}

fn to_name(b: &[u8], full_len: usize) -> String {
    let mut s = String::from_utf8_lossy(b).into_owned();
    if full_len > b.len() {
        s.push('…');
    }
    s
}

/// Function names, each distinct one stored once.
#[derive(Default)]
struct Interner<'a> {
    by_name: HashMap<&'a [u8], u32>,
    by_mapping: HashMap<&'a [u8], u32>,
    names: Vec<String>,
}

impl<'a> Interner<'a> {
    fn intern(&mut self, full: &'a [u8]) -> u32 {
        let key = name_bytes(full);
        let names = &mut self.names;
        *self.by_name.entry(key).or_insert_with(|| {
            names.push(to_name(key, full.len()));
            (names.len() - 1) as u32
        })
    }

    /// An unsymbolized location, named as `go tool pprof` names it at its default (function)
    /// granularity, where addresses are dropped: `[file]` after the base name of its mapping's
    /// file, or `<unknown>` when it has none.
    fn unsymbolized(&mut self, mapping_file: &'a [u8]) -> u32 {
        let base = mapping_file.rsplit(|&b| b == b'/').next().unwrap_or(b"");
        let key = if base.is_empty() { &b""[..] } else { base };
        let names = &mut self.names;
        *self.by_mapping.entry(key).or_insert_with(|| {
            names.push(if key.is_empty() {
                "<unknown>".to_string()
            } else {
                format!("[{}]", to_name(name_bytes(key), key.len()))
            });
            (names.len() - 1) as u32
        })
    }
}

fn decode_raw(raw: Vec<u8>) -> Result<Profile, AnalyzeError> {
    // The samples are kept as ranges of these bytes (u32 offsets), like a decompressed profile.
    if raw.len() as u64 > MAX_DECOMPRESSED {
        return Err(AnalyzeError::TooLarge(format!("profile is larger than {} MiB", MAX_DECOMPRESSED >> 20)));
    }
    let data = &raw[..];
    let t = read_tables(data)?;
    if t.sample_types.is_empty() {
        return Err(AnalyzeError::MalformedProfile("no sample types".into()));
    }
    let string = |i: u64| -> &[u8] { usize::try_from(i).ok().and_then(|i| t.strings.get(i)).copied().unwrap_or(b"") };
    let s = |i: u64| -> String {
        let full = string(i);
        to_name(name_bytes(full), full.len())
    };
    let sample_types: Vec<ValueKind> =
        t.sample_types.iter().map(|&(ty, unit)| ValueKind { name: s(ty), unit: s(unit) }).collect();
    let default_index = if t.default_sample_type != 0 {
        let want = s(t.default_sample_type);
        sample_types.iter().position(|v| v.name == want).unwrap_or(sample_types.len() - 1)
    } else {
        sample_types.len() - 1
    };
    let ncols = sample_types.len();
    let per_sample = size_of::<usize>() + ncols * size_of::<i64>();
    if t.samples.saturating_mul(per_sample) > MAX_SAMPLE_BYTES {
        return Err(AnalyzeError::TooLarge(format!(
            "profile has {} samples of {ncols} values: more than the {} MiB godiag decodes samples into",
            t.samples,
            MAX_SAMPLE_BYTES >> 20
        )));
    }

    // Functions are interned by (clipped) name: pprof aggregates by function name at its default
    // granularity. Keys borrow from the input; only distinct names are copied.
    let mut names = Interner::default();
    let mut func_index: HashMap<u64, u32> = HashMap::with_capacity(t.functions.len());
    for &(id, name) in &t.functions {
        func_index.insert(id, names.intern(string(name)));
    }

    let mapping_files: HashMap<u64, &[u8]> = t.mappings.iter().map(|&(id, file)| (id, string(file))).collect();
    let nloc = t.locations.len();
    let mut loc_index: HashMap<u64, u32> = HashMap::with_capacity(nloc);
    let mut loc_funcs: Vec<u32> = Vec::with_capacity(t.line_funcs.len() + nloc);
    let mut loc_start: Vec<usize> = Vec::with_capacity(nloc + 1);
    for (i, &(id, mapping, start)) in t.locations.iter().enumerate() {
        let end = t.locations.get(i + 1).map_or(t.line_funcs.len(), |l| l.2);
        loc_start.push(loc_funcs.len());
        for &function_id in &t.line_funcs[start..end] {
            match func_index.get(&function_id) {
                Some(&f) => loc_funcs.push(f),
                None => {
                    return Err(AnalyzeError::MalformedProfile(format!(
                        "location {id} references unknown function {function_id}"
                    )));
                }
            }
        }
        if start == end {
            loc_funcs.push(names.unsymbolized(mapping_files.get(&mapping).copied().unwrap_or(b"")));
        }
        loc_index.insert(id, i as u32);
    }
    loc_start.push(loc_funcs.len());
    drop(func_index);

    let table = LocTable::new(loc_index, &loc_start);
    // Every sample checked once: known locations, one value per sample type, and the frames
    // its stack expands to (bounded in all). The walks over the stacks read the ids again.
    let mut visits: u64 = 0;
    let mut samples: Vec<(u32, u32)> = Vec::with_capacity(t.samples);
    let mut values: Vec<i64> = Vec::with_capacity(t.samples.saturating_mul(ncols));
    for f in Fields::new(data) {
        let Ok(Field::Bytes(2, msg)) = f else { continue };
        let before_vals = values.len();
        decode_sample(msg, &table, |_, n| visits += u64::from(n), Some(&mut values))?;
        if values.len() - before_vals != ncols {
            return Err(AnalyzeError::MalformedProfile(format!(
                "sample has {} values for {} sample types",
                values.len() - before_vals,
                ncols
            )));
        }
        if visits > MAX_FRAME_VISITS {
            return Err(AnalyzeError::TooLarge(format!("stacks expand to more than {MAX_FRAME_VISITS} frames")));
        }
        // The message lies inside `data`, which is at most MAX_DECOMPRESSED bytes.
        let start = msg.as_ptr() as usize - data.as_ptr() as usize;
        samples.push((start as u32, msg.len() as u32));
    }
    let period_type = t.period_type.map(|(ty, unit)| ValueKind { name: s(ty), unit: s(unit) });
    let (period, duration_nanos, time_nanos) = (t.period, t.duration_nanos, t.time_nanos);
    drop(t);

    Ok(Profile {
        sample_types,
        default_index,
        names: names.names,
        loc_funcs,
        raw,
        samples,
        table,
        values,
        period_type,
        period,
        duration_nanos,
        time_nanos,
    })
}

impl Profile {
    /// The column index for a sample type name, or the default column.
    pub fn column(&self, wanted: Option<&str>) -> Result<usize, AnalyzeError> {
        match wanted {
            None => Ok(self.default_index),
            Some(w) => {
                self.sample_types.iter().position(|v| v.name == w).ok_or_else(|| AnalyzeError::UnknownSampleType {
                    wanted: w.to_string(),
                    available: self.sample_types.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    }

    /// Number of samples.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample has a non-zero value.
    pub fn is_all_zero(&self) -> bool {
        self.values.iter().all(|&v| v == 0)
    }

    /// Sum of one column over all samples.
    pub fn column_total(&self, col: usize) -> i64 {
        let n = self.sample_types.len();
        if col >= n {
            return 0;
        }
        self.values.iter().skip(col).step_by(n).fold(0i64, |a, &v| a.saturating_add(v))
    }

    /// Calls `f(frames, values)` for every sample with its stack expanded to function indices,
    /// leaf (innermost inlined) first. Reuses one buffer.
    pub fn for_each_stack(&self, mut f: impl FnMut(&[u32], &[i64])) {
        self.for_each_stack_where(|_| true, |frames, values| f(frames, values));
    }

    /// [`Self::for_each_stack`] for the samples whose values `keep` accepts; the others' stacks
    /// are not even read.
    fn for_each_stack_where(&self, keep: impl Fn(&[i64]) -> bool, mut f: impl FnMut(&[u32], &[i64])) {
        let ncols = self.sample_types.len();
        let mut buf: Vec<u32> = Vec::with_capacity(128);
        for (i, &(start, len)) in self.samples.iter().enumerate() {
            let values = &self.values[i * ncols..(i + 1) * ncols];
            if !keep(values) {
                continue;
            }
            buf.clear();
            let msg = &self.raw[start as usize..(start + len) as usize];
            // Checked by `decode`: reading it again cannot fail.
            let _ = decode_sample(
                msg,
                &self.table,
                |a, n| {
                    // Locations are one line or a few (inlined calls): pushes, not a copy.
                    for &func in &self.loc_funcs[a as usize..(a + n) as usize] {
                        buf.push(func);
                    }
                },
                None,
            );
            f(&buf, values);
        }
    }

    /// Every stack with a value in column `col`, one frame at a time (leaf first, inlined
    /// frames innermost first) and without copying it: for tallies that need no whole stack,
    /// when no filter is set. The same stacks and values as [`Self::for_each_kept`] with a
    /// filter that keeps all.
    pub fn visit_frames(&self, col: usize, visitor: &mut impl FrameVisitor) {
        let ncols = self.sample_types.len();
        for (i, &(start, len)) in self.samples.iter().enumerate() {
            let v = self.values.get(i * ncols + col).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            visitor.begin(v);
            let msg = &self.raw[start as usize..(start + len) as usize];
            // Checked by `decode`: reading it again cannot fail.
            let _ = decode_sample(
                msg,
                &self.table,
                |a, n| {
                    for &func in &self.loc_funcs[a as usize..(a + n) as usize] {
                        visitor.frame(func);
                    }
                },
                None,
            );
            visitor.end(v);
        }
    }

    /// The stacks `filter` keeps that have a value in column `col`, with that value.
    pub fn for_each_kept(&self, col: usize, filter: &super::filter::CompiledFilter, mut f: impl FnMut(&[u32], i64)) {
        self.for_each_stack_where(
            |values| values.get(col).is_some_and(|&v| v != 0),
            |frames, values| {
                let v = values[col];
                if filter.keeps(frames) {
                    f(frames, v);
                }
            },
        );
    }

    /// Which Go endpoint most likely produced the profile, from its sample types.
    pub fn guess_type(&self) -> ProfileType {
        let has = |n: &str| self.sample_types.iter().any(|v| v.name == n);
        if has("cpu") {
            ProfileType::Cpu
        } else if has("alloc_space") || has("inuse_space") {
            if self.sample_types.get(self.default_index).is_some_and(|v| v.name == "alloc_space") {
                ProfileType::Allocs
            } else {
                ProfileType::Heap
            }
        } else if has("goroutineleak") {
            ProfileType::Goroutineleak
        } else if has("goroutine") {
            ProfileType::Goroutine
        } else if has("threadcreate") {
            ProfileType::Threadcreate
        } else if has("contentions") || has("delay") {
            ProfileType::Contention
        } else {
            ProfileType::Unknown
        }
    }
}

/// Which Go endpoint a profile came from. Block and mutex profiles look the same inside
/// (`contention`); the artifact kind tells them apart when the caller knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileType {
    Cpu,
    Heap,
    Allocs,
    Goroutine,
    Goroutineleak,
    Threadcreate,
    Contention,
    Block,
    Mutex,
    Unknown,
}

impl ProfileType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileType::Cpu => "cpu",
            ProfileType::Heap => "heap",
            ProfileType::Allocs => "allocs",
            ProfileType::Goroutine => "goroutine",
            ProfileType::Goroutineleak => "goroutineleak",
            ProfileType::Threadcreate => "threadcreate",
            ProfileType::Contention => "contention",
            ProfileType::Block => "block",
            ProfileType::Mutex => "mutex",
            ProfileType::Unknown => "unknown",
        }
    }

    /// Sharpens `contention` to `block` or `mutex` when the artifact kind says which.
    pub fn refined_by(self, kind: Option<ArtifactKind>) -> ProfileType {
        match (self, kind) {
            (ProfileType::Contention, Some(ArtifactKind::Block)) => ProfileType::Block,
            (ProfileType::Contention, Some(ArtifactKind::Mutex)) => ProfileType::Mutex,
            (t, _) => t,
        }
    }
}

impl std::fmt::Display for ProfileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn bad(what: &str) -> AnalyzeError {
    AnalyzeError::MalformedProfile(format!("sample: {what}"))
}

/// Location ids to where their frames are in `loc_funcs` (start, count): a table indexed by id
/// where the ids are dense (Go numbers locations 1..=n; no hashing of millions of references),
/// the map otherwise (the table is bounded by the number of locations, not by the ids).
#[derive(Clone, Debug, Default)]
struct LocTable {
    dense: Option<Vec<(u32, u32)>>,
    sparse: HashMap<u64, (u32, u32)>,
}

impl LocTable {
    fn new(index: HashMap<u64, u32>, loc_start: &[usize]) -> Self {
        let frames =
            |i: u32| (loc_start[i as usize] as u32, (loc_start[i as usize + 1] - loc_start[i as usize]) as u32);
        let max_id = index.keys().copied().max().unwrap_or(0);
        if max_id <= 2 * index.len() as u64 + 1024 {
            let mut table = vec![(u32::MAX, 0); max_id as usize + 1];
            for (id, i) in index {
                table[id as usize] = frames(i);
            }
            LocTable { dense: Some(table), sparse: HashMap::new() }
        } else {
            let sparse = index.into_iter().map(|(id, i)| (id, frames(i))).collect();
            LocTable { dense: None, sparse }
        }
    }

    #[inline(always)]
    fn get(&self, id: u64) -> Result<(u32, u32), AnalyzeError> {
        let found = match &self.dense {
            Some(t) => usize::try_from(id).ok().and_then(|i| t.get(i)).copied().filter(|&(a, _)| a != u32::MAX),
            None => self.sparse.get(&id).copied(),
        };
        found.ok_or_else(|| unknown_location(id))
    }
}

#[cold]
fn unknown_location(id: u64) -> AnalyzeError {
    AnalyzeError::MalformedProfile(format!("sample references unknown location {id}"))
}

/// Reads one `Sample` message: location ids (field 1) and values (field 2), packed or not;
/// labels and unknown fields are skipped. Each location, looked up as it is read (leaf first),
/// goes to `loc` as where its frames are in `loc_funcs` (start, count), the values to `vals`
/// when given. Inlined into each caller, so that `loc` is too: it runs for every location
/// reference of a profile.
#[inline(always)]
fn decode_sample(
    b: &[u8],
    table: &LocTable,
    mut loc: impl FnMut(u32, u32),
    mut vals: Option<&mut Vec<i64>>,
) -> Result<(), AnalyzeError> {
    let mut pos = 0;
    while pos < b.len() {
        let key = read_varint(b, &mut pos).ok_or_else(|| bad("truncated key"))?;
        let field = key >> 3;
        match WireType::of_key(key).ok_or_else(|| bad("unsupported wire type"))? {
            WireType::Varint => {
                let v = read_varint(b, &mut pos).ok_or_else(|| bad("truncated varint"))?;
                match field {
                    1 => {
                        let (i, n) = table.get(v)?;
                        loc(i, n);
                    }
                    2 => {
                        if let Some(vals) = vals.as_mut() {
                            vals.push(v as i64);
                        }
                    }
                    _ => {}
                }
            }
            WireType::LengthDelimited => {
                let len = read_varint(b, &mut pos).ok_or_else(|| bad("truncated length"))?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|&e| e <= b.len())
                    .ok_or_else(|| bad("length beyond the message"))?;
                let packed = &b[..end];
                if field == 1 {
                    // Most of a large profile's bytes: one id per byte or two. Eight one-byte
                    // ids at a time where they come in a row, one varint otherwise.
                    while pos < end {
                        if let Some(w) = packed.get(pos..pos + 8)
                            && let Ok(w) = <[u8; 8]>::try_from(w)
                            && u64::from_le_bytes(w) & 0x8080_8080_8080_8080 == 0
                        {
                            for id in w {
                                let (i, n) = table.get(u64::from(id))?;
                                loc(i, n);
                            }
                            pos += 8;
                            continue;
                        }
                        let v = read_varint(packed, &mut pos).ok_or_else(|| bad("truncated packed varint"))?;
                        let (i, n) = table.get(v)?;
                        loc(i, n);
                    }
                } else if field == 2
                    && let Some(vals) = vals.as_mut()
                {
                    while pos < end {
                        vals.push(read_varint(packed, &mut pos).ok_or_else(|| bad("truncated packed varint"))? as i64);
                    }
                }
                pos = end;
            }
            WireType::Fixed64 => {
                pos = pos.checked_add(8).filter(|&e| e <= b.len()).ok_or_else(|| bad("truncated fixed64"))?
            }
            WireType::Fixed32 => {
                pos = pos.checked_add(4).filter(|&e| e <= b.len()).ok_or_else(|| bad("truncated fixed32"))?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pprof::proto::{self, Function, Line, Location, ValueType};
    use prost::Message;

    /// A raw profile.proto: `strings[0]` must be "". Each sample is (location ids leaf first,
    /// values).
    pub(crate) fn profile_bytes(
        strings: &[&str],
        types: &[(i64, i64)],
        functions: &[(u64, i64)],
        locations: &[(u64, &[u64])],
        samples: &[(&[u64], &[i64])],
    ) -> Vec<u8> {
        let p = proto::Profile {
            sample_type: types.iter().map(|&(t, u)| ValueType { r#type: t, unit: u }).collect(),
            sample: samples
                .iter()
                .map(|(ids, vals)| {
                    proto::Sample { location_id: ids.to_vec(), value: vals.to_vec() }.encode_to_vec().into()
                })
                .collect(),
            location: locations
                .iter()
                .map(|(id, funcs)| Location {
                    id: *id,
                    mapping_id: 0,
                    address: 0x1000 + id,
                    line: funcs.iter().map(|&f| Line { function_id: f, line: 1 }).collect(),
                })
                .collect(),
            function: functions
                .iter()
                .map(|&(id, name)| Function { id, name, system_name: name, filename: 0 })
                .collect(),
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        p.encode_to_vec()
    }

    fn cpu() -> Vec<u8> {
        // main.work inlined into main.loop at location 1 (one location, two lines).
        profile_bytes(
            &["", "samples", "count", "cpu", "nanoseconds", "main.work", "main.loop", "runtime.main"],
            &[(1, 2), (3, 4)],
            &[(1, 5), (2, 6), (3, 7)],
            &[(1, &[1, 2]), (2, &[3])],
            &[(&[1, 2], &[3, 30]), (&[2], &[1, 10])],
        )
    }

    #[test]
    fn decodes_names_stacks_and_columns() {
        let p = decode(&cpu()).unwrap();
        assert_eq!(p.guess_type(), ProfileType::Cpu);
        assert_eq!(p.default_index, 1, "the last sample type, like pprof");
        assert_eq!((p.sample_count(), p.column_total(0), p.column_total(1)), (2, 4, 40));
        let mut stacks = Vec::new();
        p.for_each_stack(|frames, values| {
            stacks.push((frames.iter().map(|&f| p.names[f as usize].as_str()).collect::<Vec<_>>(), values.to_vec()))
        });
        assert_eq!(stacks[0], (vec!["main.work", "main.loop", "runtime.main"], vec![3, 30]), "inlined frame first");
        assert_eq!(stacks[1], (vec!["runtime.main"], vec![1, 10]));
    }

    #[test]
    fn unsymbolized_locations_are_named_by_mapping_like_pprof() {
        // Locations 8 and 9 lie in libc (mapping 1), 10 in no mapping, 11 in a mapping without
        // a file name: pprof prints `[libc-2.15.so]` once for both and `<unknown>` for the rest.
        let mut p = proto::Profile::decode(
            &profile_bytes(
                &["", "samples", "count", "/lib/x86_64/libc-2.15.so"],
                &[(1, 2)],
                &[],
                &[(8, &[]), (9, &[]), (10, &[]), (11, &[])],
                &[(&[8], &[5]), (&[9], &[1]), (&[10, 11], &[2])],
            )[..],
        )
        .unwrap();
        p.mapping = vec![
            proto::Mapping { id: 1, memory_start: 0x1000, memory_limit: 0x2000, filename: 3 },
            proto::Mapping { id: 2, memory_start: 0x3000, memory_limit: 0x4000, filename: 0 },
        ];
        for l in &mut p.location {
            l.mapping_id = match l.id {
                8 | 9 => 1,
                11 => 2,
                _ => 0,
            };
        }
        let p = decode(&p.encode_to_vec()).unwrap();
        assert_eq!(p.names, ["[libc-2.15.so]", "<unknown>"]);
    }

    #[test]
    fn inconsistent_profiles_are_precise_errors() {
        let no_types = profile_bytes(&[""], &[], &[], &[], &[]);
        assert!(decode(&no_types).unwrap_err().to_string().contains("no sample types"));
        let bad_loc = profile_bytes(&["", "s", "c"], &[(1, 2)], &[], &[], &[(&[42], &[1])]);
        assert!(decode(&bad_loc).unwrap_err().to_string().contains("unknown location 42"));
        let bad_fn = profile_bytes(&["", "s", "c"], &[(1, 2)], &[], &[(1, &[7])], &[]);
        assert!(decode(&bad_fn).unwrap_err().to_string().contains("references unknown function 7"));
        let short = profile_bytes(&["", "s", "c", "t", "u"], &[(1, 2), (3, 4)], &[], &[], &[(&[], &[1])]);
        assert!(decode(&short).unwrap_err().to_string().contains("1 values for 2 sample types"));
        assert_eq!(decode(b"\x1f\x8bnot gzip").unwrap_err().reason(), "BadGzip");
    }
}
