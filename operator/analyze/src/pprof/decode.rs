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

use foldhash::{HashMap, HashMapExt};
use std::io::Read;

/// Largest decompressed profile godiag reads. The largest real Go profiles we know of are about
/// 10 MB raw; this leaves room while keeping a gzip bomb far under the operator's memory limit.
pub const MAX_DECOMPRESSED: u64 = 64 << 20;
/// Upper bound on the frames of locations with several (inlined) frames visited when expanding
/// every sample's stack once. Keeps pathological inputs (a few bytes referencing a location with
/// thousands of lines, many times) from hanging. A location of one frame takes a byte of the
/// profile or more per reference: [`MAX_DECOMPRESSED`] bounds those.
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
    /// Per location id, when the ids are dense: the function of a location with one frame (most
    /// are), [`MULTI`] for the others; what the walks over the stacks look up first.
    one: Vec<u32>,
    /// `sample_types.len()` values per sample.
    values: Vec<i64>,
    /// Per sample type, the sum over all samples (saturating).
    totals: Vec<i64>,
    /// Whether any sample has a value other than zero.
    any_value: bool,
    pub period_type: Option<ValueKind>,
    pub period: i64,
    pub duration_nanos: i64,
    pub time_nanos: i64,
}

/// A tally fed one frame at a time by [`Profile::visit_frames`]: `begin` with the sample's value
/// gives the state of the walk over its stack, `frame` takes each of its frames (function
/// indices, leaf first), `end` the state and the value again. The state is the walk's own local
/// (kept in registers over the frames of a stack), not a field of the tally.
pub trait FrameVisitor {
    type Walk: Copy;
    fn begin(&mut self, value: i64) -> Self::Walk;
    fn frame(&mut self, walk: &mut Self::Walk, func: u32);
    fn end(&mut self, walk: Self::Walk, value: i64);

    /// One whole stack (leaf first) and its value.
    fn add(&mut self, frames: &[u32], value: i64) {
        let mut w = self.begin(value);
        for &f in frames {
            self.frame(&mut w, f);
        }
        self.end(w, value);
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
    decode_visiting(data, |_| None::<(usize, NoVisit)>).map(|(p, _)| p)
}

/// [`decode`], feeding a visitor in the same pass over the samples: `make` gets the profile's
/// tables before any sample is read, and gives the column to walk and the visitor, or `None`.
/// The visitor sees each stack with a value in that column, like [`Profile::visit_frames`]
/// (whose second read of the samples this saves); it is only of use when the decode succeeds.
pub fn decode_visiting<V: FrameVisitor>(
    data: &[u8],
    make: impl FnOnce(&Profile) -> Option<(usize, V)>,
) -> Result<(Profile, Option<V>), AnalyzeError> {
    if is_gzip(data) { decode_raw(gunzip(data)?, make) } else { decode_raw(data.to_vec(), make) }
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
    // Counted first (each count bounded), so that every table is allocated once at its size:
    // growing them by doubling copied a large profile's tables several times.
    let mut counts = [0usize; 7];
    for f in Fields::new(data) {
        if let Ok(Field::Bytes(n @ 3..=6, _)) = f {
            counts[n as usize] += 1;
        }
    }
    for (n, what, max) in [
        (3, "mappings", MAX_LOCATIONS),
        (4, "locations", MAX_LOCATIONS),
        (5, "functions", MAX_FUNCTIONS),
        (6, "strings", MAX_STRINGS),
    ] {
        if counts[n] > max {
            return Err(too_many(what, max));
        }
    }
    t.mappings.reserve_exact(counts[3]);
    t.locations.reserve_exact(counts[4]);
    t.line_funcs.reserve(counts[4]);
    t.functions.reserve_exact(counts[5]);
    t.strings.reserve_exact(counts[6]);
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

fn decode_raw<V: FrameVisitor>(
    raw: Vec<u8>,
    make: impl FnOnce(&Profile) -> Option<(usize, V)>,
) -> Result<(Profile, Option<V>), AnalyzeError> {
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
    names.by_name.reserve(t.functions.len());
    names.names.reserve_exact(t.functions.len());
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
    let one = table.single_frames(&loc_funcs);
    let period_type = t.period_type.map(|(ty, unit)| ValueKind { name: s(ty), unit: s(unit) });
    let (period, duration_nanos, time_nanos, samples) = (t.period, t.duration_nanos, t.time_nanos, t.samples);
    drop(t);

    let mut p = Profile {
        sample_types,
        default_index,
        names: names.names,
        loc_funcs,
        raw,
        samples: Vec::new(),
        table,
        one,
        values: Vec::new(),
        totals: vec![0; ncols],
        any_value: false,
        period_type,
        period,
        duration_nanos,
        time_nanos,
    };
    let visit = make(&p);
    let visited = p.read_samples(samples, visit)?;
    Ok((p, visited))
}

/// A visitor that visits nothing, for [`decode`].
pub struct NoVisit;

impl FrameVisitor for NoVisit {
    type Walk = ();
    fn begin(&mut self, _: i64) {}
    fn frame(&mut self, _: &mut (), _: u32) {}
    fn end(&mut self, _: (), _: i64) {}
}

impl Profile {
    /// Every sample checked once (known locations, one value per sample type, the frames its
    /// stack expands to, bounded in all) and kept as its place in `raw` and its values; the
    /// stacks with a value in column `col` fed to the visitor in the same pass. Later walks over
    /// the stacks read the ids again.
    fn read_samples<V: FrameVisitor>(
        &mut self,
        count: usize,
        // By value: a local of the walk, so that its tables' addresses stay in registers.
        mut visit: Option<(usize, V)>,
    ) -> Result<Option<V>, AnalyzeError> {
        let ncols = self.sample_types.len();
        let Profile { raw, samples, values, totals, any_value, table, one, loc_funcs, .. } = self;
        let frames = Frames { table, one, loc_funcs };
        let data = &raw[..];
        samples.reserve_exact(count);
        values.reserve_exact(count.saturating_mul(ncols));
        let mut visits: u64 = 0;
        for f in Fields::new(data) {
            let Ok(Field::Bytes(2, msg)) = f else { continue };
            let before = values.len();
            let shape = read_values(msg, values, ncols)?;
            if shape.values != ncols {
                return Err(AnalyzeError::MalformedProfile(format!(
                    "sample has {} values for {ncols} sample types",
                    shape.values
                )));
            }
            for (t, &v) in totals.iter_mut().zip(&values[before..]) {
                *t = t.saturating_add(v);
                *any_value |= v != 0;
            }
            // Go writes a sample's location ids as one packed field: walked without reading the
            // message's fields again.
            match &mut visit {
                Some((col, visitor)) if values[before + *col] != 0 => {
                    let v = values[before + *col];
                    let mut w = visitor.begin(v);
                    let mut frame = |func| visitor.frame(&mut w, func);
                    match shape.packed_ids {
                        Some((a, b)) => frames.walk_packed(&msg[a..b], &mut visits, &mut frame)?,
                        // Kept apart from the message without ids: the general walk inlined here
                        // made the whole loop 2% longer (callgrind).
                        None if shape.id_fields > 0 => frames.walk(msg, &mut visits, frame)?,
                        None => {}
                    }
                    visitor.end(w, v);
                }
                _ => match shape.packed_ids {
                    Some((a, b)) => frames.walk_packed(&msg[a..b], &mut visits, &mut |_| {})?,
                    None => frames.walk(msg, &mut visits, |_| {})?,
                },
            }
            // The message lies inside `data`, which is at most MAX_DECOMPRESSED bytes.
            let start = msg.as_ptr() as usize - data.as_ptr() as usize;
            samples.push((start as u32, msg.len() as u32));
        }
        Ok(visit.map(|(_, v)| v))
    }

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
        !self.any_value
    }

    /// Sum of one column over all samples.
    pub fn column_total(&self, col: usize) -> i64 {
        self.totals.get(col).copied().unwrap_or(0)
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
            self.walk_sample(start, len, |func| buf.push(func));
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
            let mut w = visitor.begin(v);
            self.walk_sample(start, len, |func| visitor.frame(&mut w, func));
            visitor.end(w, v);
        }
    }

    /// The frames of the sample at `raw[start..start + len]`, leaf first, to `frame`. The
    /// sample was checked by `decode`: nothing here can fail.
    #[inline(always)]
    fn walk_sample(&self, start: u32, len: u32, frame: impl FnMut(u32)) {
        let Some(msg) = self.raw.get(start as usize..(start as usize).saturating_add(len as usize)) else { return };
        let frames = Frames { table: &self.table, one: &self.one, loc_funcs: &self.loc_funcs };
        let _ = frames.walk(msg, &mut 0, frame);
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

/// In [`Profile::one`]: look the location up in the table.
const MULTI: u32 = u32::MAX;

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

    /// Per id of a dense table, the function of a location with exactly one frame, [`MULTI`]
    /// for the others and for unused ids; empty for a sparse table.
    fn single_frames(&self, loc_funcs: &[u32]) -> Vec<u32> {
        let Some(t) = &self.dense else { return Vec::new() };
        t.iter().map(|&(a, n)| if a != u32::MAX && n == 1 { loc_funcs[a as usize] } else { MULTI }).collect()
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

/// What [`read_values`] saw of a sample.
struct SampleFields {
    /// How many values it has.
    values: usize,
    /// Where its location ids are when they are one packed field (as Go writes them).
    packed_ids: Option<(usize, usize)>,
    /// How many location id fields it has.
    id_fields: usize,
}

/// The values (field 2, packed or not) of one `Sample` message, appended to `vals` up to `max`
/// of them, and where its location ids are. Labels and unknown fields are skipped by their
/// lengths.
fn read_values(b: &[u8], vals: &mut Vec<i64>, max: usize) -> Result<SampleFields, AnalyzeError> {
    let (mut packed_ids, mut id_fields) = (None, 0);
    let mut n = 0;
    let mut push = |v: u64| {
        if n < max {
            vals.push(v as i64);
        }
        n += 1;
    };
    let mut pos = 0;
    while pos < b.len() {
        let key = read_varint(b, &mut pos).ok_or_else(|| bad("truncated key"))?;
        let field = key >> 3;
        match WireType::of_key(key).ok_or_else(|| bad("unsupported wire type"))? {
            WireType::Varint => {
                let v = read_varint(b, &mut pos).ok_or_else(|| bad("truncated varint"))?;
                match field {
                    1 => id_fields += 1,
                    2 => push(v),
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
                if field == 1 {
                    id_fields += 1;
                    packed_ids = Some((pos, end));
                } else if field == 2 {
                    let packed = &b[..end];
                    while pos < end {
                        push(read_varint(packed, &mut pos).ok_or_else(|| bad("truncated packed varint"))?);
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
    Ok(SampleFields { values: n, packed_ids: packed_ids.filter(|_| id_fields == 1), id_fields })
}

/// What expands a sample's location ids to frames.
struct Frames<'a> {
    table: &'a LocTable,
    one: &'a [u32],
    loc_funcs: &'a [u32],
}

impl Frames<'_> {
    /// The frames of one `Sample` message's locations (field 1, packed or not), leaf first and
    /// innermost inlined frame first, to `frame`; other fields are skipped (the message's
    /// framing was checked by [`read_values`]). `visits` counts the frames of locations with
    /// several over all samples: an unknown location, a truncated id or more than
    /// [`MAX_FRAME_VISITS`] of them (checked before each such location is expanded) is an error.
    /// Inlined into each caller, so that `frame` is too: it runs for every frame of a profile.
    #[inline(always)]
    fn walk(&self, msg: &[u8], visits: &mut u64, mut frame: impl FnMut(u32)) -> Result<(), AnalyzeError> {
        for field in Fields::new(msg) {
            match field {
                Ok(Field::Bytes(1, packed)) => self.walk_packed(packed, visits, &mut frame)?,
                Ok(Field::Varint(1, id)) => self.frames_of(id, visits, &mut frame)?,
                Ok(_) => {}
                Err(e) => return Err(bad(&e.to_string())),
            }
        }
        Ok(())
    }

    /// [`Self::walk`] over one packed field of location ids.
    #[inline(always)]
    fn walk_packed(&self, packed: &[u8], visits: &mut u64, frame: &mut impl FnMut(u32)) -> Result<(), AnalyzeError> {
        let mut pos = 0;
        while pos < packed.len() {
            // Most of a large profile's bytes: one id per byte or two. Eight one-byte ids at a
            // time where they come in a row (a profile of fewer than 128 locations is all of
            // them), one varint otherwise.
            if let Some(w) = packed.get(pos..pos + 8)
                && let Ok(w) = <[u8; 8]>::try_from(w)
                && u64::from_le_bytes(w) & 0x8080_8080_8080_8080 == 0
            {
                for id in w {
                    self.frames_of(u64::from(id), visits, frame)?;
                }
                pos += 8;
                continue;
            }
            let id = read_varint(packed, &mut pos).ok_or_else(|| bad("truncated packed varint"))?;
            self.frames_of(id, visits, frame)?;
        }
        Ok(())
    }

    /// One location's frames, innermost first: the function itself for a location of one frame
    /// in a dense table (one load), the table otherwise.
    #[inline(always)]
    fn frames_of(&self, id: u64, visits: &mut u64, frame: &mut impl FnMut(u32)) -> Result<(), AnalyzeError> {
        match usize::try_from(id).ok().and_then(|i| self.one.get(i)) {
            // Not counted: a location of one frame takes at least a byte of the profile, which
            // MAX_DECOMPRESSED bounds.
            Some(&f) if f != MULTI => frame(f),
            // Out of line and without the closure, so that the walk's state stays in registers.
            _ => {
                let funcs = self.in_table(id)?;
                *visits += funcs.len() as u64;
                // Checked before a location of many frames is expanded, however often it recurs.
                if *visits > MAX_FRAME_VISITS {
                    return Err(too_many_frames());
                }
                for &func in funcs {
                    frame(func);
                }
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn in_table(&self, id: u64) -> Result<&[u32], AnalyzeError> {
        let (a, n) = self.table.get(id)?;
        Ok(self.loc_funcs.get(a as usize..(a as usize).saturating_add(n as usize)).unwrap_or(&[]))
    }
}

#[cold]
fn too_many_frames() -> AnalyzeError {
    AnalyzeError::TooLarge(format!("stacks expand to more than {MAX_FRAME_VISITS} frames"))
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
