//! Counting a profile's samples while it streams: gzip-decode on the fly and scan only the
//! top level of profile.proto for field 2 (`Profile.sample`). Memory stays constant; the
//! full decoding belongs to `analyze/`.

use flate2::write::MultiGzDecoder;
use std::io::{self, Write};

/// Field number of `Profile.sample` in profile.proto.
const SAMPLE_FIELD: u64 = 2;

/// Feed it the gzip-compressed bytes of a pprof profile in any chunking; [`finish`](Self::finish)
/// returns the number of samples, or `None` if the bytes were not a well-formed profile.
pub struct SampleCounter {
    decoder: Option<MultiGzDecoder<TopLevelScan>>,
}

impl Default for SampleCounter {
    fn default() -> Self {
        SampleCounter { decoder: Some(MultiGzDecoder::new(TopLevelScan::default())) }
    }
}

impl SampleCounter {
    /// Feeds the next compressed chunk. After an error, further chunks are ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        if let Some(d) = &mut self.decoder
            && d.write_all(chunk).is_err()
        {
            self.decoder = None;
        }
    }

    /// Number of top-level samples, if the stream decoded cleanly to a message boundary.
    pub fn finish(self) -> Option<u64> {
        let scan = self.decoder?.finish().ok()?;
        scan.at_boundary().then_some(scan.samples)
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Reading a field key (tag << 3 | wire type).
    Key { value: u64, shift: u32 },
    /// Skipping a varint value.
    Varint,
    /// Reading the length of a length-delimited field.
    Len { field: u64, value: u64, shift: u32 },
    /// Skipping this many bytes of a field's value.
    Skip(u64),
}

/// A `Write` sink that walks the top level of a protobuf message.
#[derive(Debug)]
struct TopLevelScan {
    state: State,
    samples: u64,
}

impl Default for TopLevelScan {
    fn default() -> Self {
        TopLevelScan { state: State::Key { value: 0, shift: 0 }, samples: 0 }
    }
}

impl TopLevelScan {
    fn at_boundary(&self) -> bool {
        matches!(self.state, State::Key { shift: 0, .. })
    }

    fn key_done(&mut self, key: u64) -> io::Result<()> {
        let field = key >> 3;
        self.state = match key & 7 {
            0 => State::Varint,
            1 => State::Skip(8),
            2 => State::Len { field, value: 0, shift: 0 },
            5 => State::Skip(4),
            w => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unsupported wire type {w}")));
            }
        };
        Ok(())
    }
}

fn varint_step(value: &mut u64, shift: &mut u32, b: u8) -> io::Result<bool> {
    if *shift > 63 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "varint too long"));
    }
    *value |= u64::from(b & 0x7f) << *shift;
    *shift += 7;
    Ok(b & 0x80 == 0)
}

impl Write for TopLevelScan {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut i = 0;
        while i < buf.len() {
            match &mut self.state {
                State::Skip(n) => {
                    let take = (*n).min((buf.len() - i) as u64);
                    *n -= take;
                    i += take as usize;
                    if *n == 0 {
                        self.state = State::Key { value: 0, shift: 0 };
                    }
                }
                State::Varint => {
                    let b = buf[i];
                    i += 1;
                    if b & 0x80 == 0 {
                        self.state = State::Key { value: 0, shift: 0 };
                    }
                }
                State::Key { value, shift } => {
                    let b = buf[i];
                    i += 1;
                    if varint_step(value, shift, b)? {
                        let key = *value;
                        self.key_done(key)?;
                    }
                }
                State::Len { field, value, shift } => {
                    let b = buf[i];
                    i += 1;
                    if varint_step(value, shift, b)? {
                        if *field == SAMPLE_FIELD {
                            self.samples += 1;
                        }
                        let len = *value;
                        self.state = if len == 0 { State::Key { value: 0, shift: 0 } } else { State::Skip(len) };
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct ValueType {
        #[prost(int64, tag = "1")]
        r#type: i64,
        #[prost(int64, tag = "2")]
        unit: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        value: Vec<i64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Profile {
        #[prost(message, repeated, tag = "1")]
        sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        sample: Vec<Sample>,
        #[prost(string, repeated, tag = "6")]
        string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        time_nanos: i64,
        #[prost(double, tag = "20")]
        unknown_fixed64: f64,
    }

    fn gz(p: &Profile) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&p.encode_to_vec()).unwrap();
        enc.finish().unwrap()
    }

    fn count(bytes: &[u8], chunk: usize) -> Option<u64> {
        let mut c = SampleCounter::default();
        for piece in bytes.chunks(chunk) {
            c.feed(piece);
        }
        c.finish()
    }

    #[test]
    fn counts_samples_in_any_chunking() {
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            sample: (0..300).map(|i| Sample { location_id: vec![i, i + 1], value: vec![i as i64] }).collect(),
            string_table: vec![String::new(), "contentions".into(), "count".into()],
            time_nanos: 1_700_000_000_000_000_000,
            unknown_fixed64: 1.5,
        };
        let bytes = gz(&p);
        for chunk in [1, 7, 4096, bytes.len()] {
            assert_eq!(count(&bytes, chunk), Some(300), "chunk {chunk}");
        }
    }

    #[test]
    fn empty_profile_has_zero_samples() {
        let p = Profile { sample_type: vec![ValueType { r#type: 1, unit: 2 }], ..Default::default() };
        assert_eq!(count(&gz(&p), 3), Some(0));
    }

    #[test]
    fn garbage_is_not_a_count() {
        assert_eq!(count(b"<html>not a profile</html>", 5), None);
        let bytes = gz(&Profile { sample: vec![Sample::default()], ..Default::default() });
        assert_eq!(count(&bytes[..bytes.len() - 9], 4), None, "truncated gzip");
    }
}
