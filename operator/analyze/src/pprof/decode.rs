//! Decoding profile.proto (gzip or raw) into a compact form: interned function names,
//! locations as lists of function indices (innermost inlined frame first) and samples
//! as lists of location indices (leaf first). Nothing here trusts a length from the input:
//! decompression is capped and the total stack-expansion work is bounded up front.

use super::proto;
use crate::AnalyzeError;
use crate::kind::ArtifactKind;
use crate::wire::{WireType, read_varint};
use prost::Message;
use serde::{Deserialize, Serialize};

use std::collections::HashMap;
use std::io::Read;

/// Largest decompressed profile godiag reads (a Go profile of this size would be extraordinary).
pub const MAX_DECOMPRESSED: u64 = 256 << 20;
/// Upper bound on frames visited when expanding every sample's stack once. Keeps pathological
/// inputs (a few bytes referencing a location with thousands of lines, many times) from hanging.
pub const MAX_FRAME_VISITS: u64 = 1 << 27;

/// One value column of a profile, e.g. `cpu`/`nanoseconds`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueKind {
    pub name: String,
    pub unit: String,
}

/// A decoded profile. Locations and samples live in flat arrays (offsets + contents) so a
/// profile with millions of frames costs a handful of allocations.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub sample_types: Vec<ValueKind>,
    /// The column `go tool pprof` shows by default.
    pub default_index: usize,
    /// Function names, indexed by the numbers in `loc_funcs`.
    pub names: Vec<String>,
    /// Per location `l`: `loc_funcs[loc_start[l]..loc_start[l + 1]]`, function indices, innermost
    /// (inlined) first, caller last.
    loc_funcs: Vec<u32>,
    loc_start: Vec<usize>,
    /// Per sample `i`: `sample_locs[sample_start[i]..sample_start[i + 1]]`, location indices,
    /// leaf first.
    sample_locs: Vec<u32>,
    sample_start: Vec<usize>,
    /// `sample_types.len()` values per sample.
    values: Vec<i64>,
    pub period_type: Option<ValueKind>,
    pub period: i64,
    pub duration_nanos: i64,
    pub time_nanos: i64,
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
    let mut out = Vec::with_capacity(hint as usize + 1);
    flate2::read::MultiGzDecoder::new(data)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| AnalyzeError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(AnalyzeError::TooLarge(format!("profile decompresses to more than {MAX_DECOMPRESSED} bytes")));
    }
    Ok(out)
}

/// Decodes gzip or raw profile.proto bytes.
pub fn decode(data: &[u8]) -> Result<Profile, AnalyzeError> {
    if is_gzip(data) {
        let raw = gunzip(data)?;
        decode_raw(bytes::Bytes::from(raw))
    } else {
        decode_raw(bytes::Bytes::copy_from_slice(data))
    }
}

fn decode_raw(data: bytes::Bytes) -> Result<Profile, AnalyzeError> {
    let p = proto::Profile::decode(data).map_err(|e| AnalyzeError::MalformedProfile(e.to_string()))?;
    if p.sample_type.is_empty() {
        return Err(AnalyzeError::MalformedProfile("no sample types".into()));
    }
    let strings = &p.string_table;
    let s = |i: i64| -> String { usize::try_from(i).ok().and_then(|i| strings.get(i)).cloned().unwrap_or_default() };
    let sample_types: Vec<ValueKind> =
        p.sample_type.iter().map(|v| ValueKind { name: s(v.r#type), unit: s(v.unit) }).collect();
    let default_index = if p.default_sample_type != 0 {
        let want = s(p.default_sample_type);
        sample_types.iter().position(|v| v.name == want).unwrap_or(sample_types.len() - 1)
    } else {
        sample_types.len() - 1
    };

    // Functions are interned by name: pprof aggregates by function name at its default granularity.
    let mut names: Vec<String> = Vec::new();
    let mut by_name: HashMap<String, u32> = HashMap::new();
    let mut intern = |name: String, names: &mut Vec<String>| -> u32 {
        if let Some(&i) = by_name.get(&name) {
            return i;
        }
        let i = names.len() as u32;
        by_name.insert(name.clone(), i);
        names.push(name);
        i
    };
    let mut func_index: HashMap<u64, u32> = HashMap::with_capacity(p.function.len());
    for f in &p.function {
        let idx = intern(s(f.name), &mut names);
        func_index.insert(f.id, idx);
    }

    let mut loc_index: HashMap<u64, u32> = HashMap::with_capacity(p.location.len());
    let mut loc_funcs: Vec<u32> = Vec::with_capacity(p.location.len());
    let mut loc_start: Vec<usize> = Vec::with_capacity(p.location.len() + 1);
    for l in &p.location {
        loc_start.push(loc_funcs.len());
        let before = loc_funcs.len();
        for line in &l.line {
            match func_index.get(&line.function_id) {
                Some(&f) => loc_funcs.push(f),
                None => {
                    return Err(AnalyzeError::MalformedProfile(format!(
                        "location {} references unknown function {}",
                        l.id, line.function_id
                    )));
                }
            }
        }
        if loc_funcs.len() == before {
            // Unsymbolized: pprof prints the address.
            loc_funcs.push(intern(format!("{:016x}", l.address), &mut names));
        }
        loc_index.insert(l.id, (loc_start.len() - 1) as u32);
    }
    loc_start.push(loc_funcs.len());

    // Go numbers locations 1..=n: a dense table beats hashing millions of ids. Fall back to the
    // map for sparse ids (the table is bounded by the number of locations, not by the ids).
    let max_id = p.location.iter().map(|l| l.id).max().unwrap_or(0);
    let dense: Option<Vec<u32>> = (max_id <= 2 * p.location.len() as u64 + 1024).then(|| {
        let mut t = vec![u32::MAX; max_id as usize + 1];
        for (id, &i) in &loc_index {
            t[*id as usize] = i;
        }
        t
    });
    let lookup = |id: u64| -> Option<u32> {
        match &dense {
            Some(t) => t.get(usize::try_from(id).ok()?).copied().filter(|&i| i != u32::MAX),
            None => loc_index.get(&id).copied(),
        }
    };

    let ncols = sample_types.len();
    let mut visits: u64 = 0;
    let mut sample_locs: Vec<u32> = Vec::new();
    let mut ids: Vec<u64> = Vec::with_capacity(64);
    let mut sample_start: Vec<usize> = Vec::with_capacity(p.sample.len() + 1);
    let mut values: Vec<i64> = Vec::with_capacity(p.sample.len().saturating_mul(ncols));
    for raw in &p.sample {
        sample_start.push(sample_locs.len());
        let before_vals = values.len();
        ids.clear();
        decode_sample(raw, &mut ids, &mut values)?;
        for &id in &ids {
            let Some(li) = lookup(id) else {
                return Err(AnalyzeError::MalformedProfile(format!("sample references unknown location {id}")));
            };
            sample_locs.push(li);
            visits += (loc_start[li as usize + 1] - loc_start[li as usize]) as u64;
        }
        if visits > MAX_FRAME_VISITS {
            return Err(AnalyzeError::TooLarge(format!("stacks expand to more than {MAX_FRAME_VISITS} frames")));
        }
        if values.len() - before_vals != ncols {
            return Err(AnalyzeError::MalformedProfile(format!(
                "sample has {} values for {} sample types",
                values.len() - before_vals,
                ncols
            )));
        }
    }
    sample_start.push(sample_locs.len());

    Ok(Profile {
        sample_types,
        default_index,
        names,
        loc_funcs,
        loc_start,
        sample_locs,
        sample_start,
        values,
        period_type: p.period_type.map(|v| ValueKind { name: s(v.r#type), unit: s(v.unit) }),
        period: p.period,
        duration_nanos: p.duration_nanos,
        time_nanos: p.time_nanos,
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
        self.sample_start.len().saturating_sub(1)
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
        let ncols = self.sample_types.len();
        let mut buf: Vec<u32> = Vec::with_capacity(128);
        for i in 0..self.sample_count() {
            buf.clear();
            for &l in &self.sample_locs[self.sample_start[i]..self.sample_start[i + 1]] {
                let l = l as usize;
                buf.extend_from_slice(&self.loc_funcs[self.loc_start[l]..self.loc_start[l + 1]]);
            }
            f(&buf, &self.values[i * ncols..(i + 1) * ncols]);
        }
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

/// Reads one `Sample` message: location ids (field 1) and values (field 2), packed or not;
/// labels and unknown fields are skipped.
fn decode_sample(b: &[u8], locs: &mut Vec<u64>, vals: &mut Vec<i64>) -> Result<(), AnalyzeError> {
    let mut pos = 0;
    while pos < b.len() {
        let key = read_varint(b, &mut pos).ok_or_else(|| bad("truncated key"))?;
        let field = key >> 3;
        match WireType::of_key(key).ok_or_else(|| bad("unsupported wire type"))? {
            WireType::Varint => {
                let v = read_varint(b, &mut pos).ok_or_else(|| bad("truncated varint"))?;
                match field {
                    1 => locs.push(v),
                    2 => vals.push(v as i64),
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
                if field == 1 || field == 2 {
                    while pos < end {
                        let v = read_varint(&b[..end], &mut pos).ok_or_else(|| bad("truncated packed varint"))?;
                        if field == 1 {
                            locs.push(v);
                        } else {
                            vals.push(v as i64);
                        }
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
    fn unsymbolized_locations_are_named_by_address() {
        let raw = profile_bytes(&["", "samples", "count"], &[(1, 2)], &[], &[(9, &[])], &[(&[9], &[5])]);
        let p = decode(&raw).unwrap();
        assert_eq!(p.names, ["0000000000001009"]);
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
