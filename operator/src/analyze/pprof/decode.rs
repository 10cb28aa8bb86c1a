//! Decoding profile.proto (gzip or raw) into a compact form: interned function names,
//! locations as lists of function indices (innermost inlined frame first) and samples
//! as lists of location indices (leaf first). Nothing here trusts a length from the input:
//! decompression is capped and the total stack-expansion work is bounded up front.

use super::proto;
use crate::analyze::AnalyzeError;
use prost::Message;
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

#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Indices into `Profile::locations`, leaf first.
    pub locs: Vec<u32>,
    pub values: Vec<i64>,
}

/// A decoded profile.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub sample_types: Vec<ValueKind>,
    /// The column `go tool pprof` shows by default.
    pub default_index: usize,
    /// Function names, indexed by the numbers in `locations`.
    pub names: Vec<String>,
    /// Per location: function indices, innermost (inlined) first, caller last.
    pub locations: Vec<Vec<u32>>,
    pub samples: Vec<Sample>,
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
    let mut out = Vec::new();
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
        decode_raw(&raw)
    } else {
        decode_raw(data)
    }
}

fn decode_raw(data: &[u8]) -> Result<Profile, AnalyzeError> {
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
    let mut locations: Vec<Vec<u32>> = Vec::with_capacity(p.location.len());
    for l in &p.location {
        let mut funcs = Vec::with_capacity(l.line.len().max(1));
        for line in &l.line {
            match func_index.get(&line.function_id) {
                Some(&f) => funcs.push(f),
                None => {
                    return Err(AnalyzeError::MalformedProfile(format!(
                        "location {} references unknown function {}",
                        l.id, line.function_id
                    )));
                }
            }
        }
        if funcs.is_empty() {
            // Unsymbolized: pprof prints the address.
            funcs.push(intern(format!("{:016x}", l.address), &mut names));
        }
        loc_index.insert(l.id, locations.len() as u32);
        locations.push(funcs);
    }

    let ncols = sample_types.len();
    let mut visits: u64 = 0;
    let mut samples = Vec::with_capacity(p.sample.len());
    for smp in p.sample {
        let mut locs = Vec::with_capacity(smp.location_id.len());
        for id in &smp.location_id {
            let Some(&li) = loc_index.get(id) else {
                return Err(AnalyzeError::MalformedProfile(format!("sample references unknown location {id}")));
            };
            visits += locations[li as usize].len() as u64;
            locs.push(li);
        }
        if visits > MAX_FRAME_VISITS {
            return Err(AnalyzeError::TooLarge(format!("stacks expand to more than {MAX_FRAME_VISITS} frames")));
        }
        let mut values = smp.value;
        if values.len() != ncols {
            return Err(AnalyzeError::MalformedProfile(format!(
                "sample has {} values for {} sample types",
                values.len(),
                ncols
            )));
        }
        values.shrink_to_fit();
        samples.push(Sample { locs, values });
    }

    Ok(Profile {
        sample_types,
        default_index,
        names,
        locations,
        samples,
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

    /// Calls `f(frames, values)` for every sample with its stack expanded to function indices,
    /// leaf (innermost inlined) first. Reuses one buffer.
    pub fn for_each_stack(&self, mut f: impl FnMut(&[u32], &[i64])) {
        let mut buf: Vec<u32> = Vec::with_capacity(64);
        for s in &self.samples {
            buf.clear();
            for &l in &s.locs {
                buf.extend_from_slice(&self.locations[l as usize]);
            }
            f(&buf, &s.values);
        }
    }

    /// Guesses which Go endpoint produced the profile, from its sample types.
    pub fn guess_kind(&self) -> &'static str {
        let has = |n: &str| self.sample_types.iter().any(|v| v.name == n);
        if has("cpu") {
            "cpu"
        } else if has("alloc_space") || has("inuse_space") {
            if self.sample_types.get(self.default_index).is_some_and(|v| v.name == "alloc_space") {
                "allocs"
            } else {
                "heap"
            }
        } else if has("goroutineleak") {
            "goroutineleak"
        } else if has("goroutine") {
            "goroutine"
        } else if has("threadcreate") {
            "threadcreate"
        } else if has("contentions") || has("delay") {
            "contention"
        } else {
            "unknown"
        }
    }
}
