//! Counting a profile's samples while it streams: gzip-decode on the fly and scan only the
//! top level of profile.proto for field 2 (`Profile.sample`). Memory stays constant; the
//! collector uses it on the bytes as they stream to storage (an empty block or mutex profile
//! gets a note without a second read).

use super::decode::MAX_DECOMPRESSED;
use crate::wire::{VarintBuilder, WireType};
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
    Key(VarintBuilder),
    /// Skipping a varint value.
    Varint,
    /// Reading the length of a length-delimited field.
    Len { field: u64, len: VarintBuilder },
    /// Skipping this many bytes of a field's value.
    Skip(u64),
}

const NEXT_KEY: State = State::Key(VarintBuilder::DEFAULT);

/// A `Write` sink that walks the top level of a protobuf message.
#[derive(Debug)]
struct TopLevelScan {
    state: State,
    samples: u64,
    /// Decompressed bytes seen; past [`MAX_DECOMPRESSED`] the count is abandoned.
    seen: u64,
}

impl Default for TopLevelScan {
    fn default() -> Self {
        TopLevelScan { state: NEXT_KEY, samples: 0, seen: 0 }
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl TopLevelScan {
    fn at_boundary(&self) -> bool {
        matches!(self.state, State::Key(k) if k.is_empty())
    }

    fn key_done(&mut self, key: u64) -> io::Result<()> {
        let field = key >> 3;
        self.state = match WireType::of_key(key) {
            Some(WireType::Varint) => State::Varint,
            Some(WireType::Fixed64) => State::Skip(8),
            Some(WireType::LengthDelimited) => State::Len { field, len: VarintBuilder::default() },
            Some(WireType::Fixed32) => State::Skip(4),
            None => return Err(invalid(format!("unsupported wire type {}", key & 7))),
        };
        Ok(())
    }
}

impl Write for TopLevelScan {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The same cap as decoding: a gzip bomb costs at most this much inflating, and gives no
        // count (hence no "empty profile" note) rather than a wrong one.
        self.seen += buf.len() as u64;
        if self.seen > MAX_DECOMPRESSED {
            return Err(invalid(format!("decompresses to more than {} MiB", MAX_DECOMPRESSED >> 20)));
        }
        let mut i = 0;
        while i < buf.len() {
            match &mut self.state {
                State::Skip(n) => {
                    let take = (*n).min((buf.len() - i) as u64);
                    *n -= take;
                    i += take as usize;
                    if *n == 0 {
                        self.state = NEXT_KEY;
                    }
                }
                State::Varint => {
                    let b = buf[i];
                    i += 1;
                    if b & 0x80 == 0 {
                        self.state = NEXT_KEY;
                    }
                }
                State::Key(k) => {
                    let b = buf[i];
                    i += 1;
                    if let Some(key) = k.push(b).map_err(invalid)? {
                        self.key_done(key)?;
                    }
                }
                State::Len { field, len } => {
                    let b = buf[i];
                    i += 1;
                    if let Some(n) = len.push(b).map_err(invalid)? {
                        if *field == SAMPLE_FIELD {
                            self.samples += 1;
                        }
                        self.state = if n == 0 { NEXT_KEY } else { State::Skip(n) };
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

    #[test]
    fn a_gzip_bomb_gives_no_count() {
        // 1 MiB of empty samples in one gzip member, repeated past the decompression cap.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&[0x12, 0x00].repeat(1 << 19)).unwrap();
        let member = e.finish().unwrap();
        let mut c = SampleCounter::default();
        for _ in 0..(MAX_DECOMPRESSED >> 20) + 1 {
            c.feed(&member);
        }
        assert_eq!(c.finish(), None, "no count, so no 'never enabled' note");
        let mut c = SampleCounter::default();
        c.feed(&member);
        assert_eq!(c.finish(), Some(1 << 19));
    }
    use crate::pprof::proto::{Profile, Sample, ValueType};
    use prost::Message;

    fn sample(ids: Vec<u64>, value: i64) -> bytes::Bytes {
        Sample { location_id: ids, value: vec![value] }.encode_to_vec().into()
    }

    /// gzip of the encoded profile, followed by `extra` raw bytes inside the message.
    fn gz(p: &Profile, extra: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&p.encode_to_vec()).unwrap();
        enc.write_all(extra).unwrap();
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
            sample: (0..300).map(|i| sample(vec![i, i + 1], i as i64)).collect(),
            string_table: vec![String::new(), "contentions".into(), "count".into()],
            time_nanos: 1_700_000_000_000_000_000,
            ..Default::default()
        };
        // An unknown fixed64 field (tag 20) and an unknown fixed32 field (tag 21) are skipped.
        let extra = [&[0xa1, 0x01][..], &1.5f64.to_le_bytes(), &[0xad, 0x01], &[1, 2, 3, 4]].concat();
        let bytes = gz(&p, &extra);
        for chunk in [1, 7, 4096, bytes.len()] {
            assert_eq!(count(&bytes, chunk), Some(300), "chunk {chunk}");
        }
    }

    #[test]
    fn empty_profile_has_zero_samples() {
        let p = Profile { sample_type: vec![ValueType { r#type: 1, unit: 2 }], ..Default::default() };
        assert_eq!(count(&gz(&p, &[]), 3), Some(0));
    }

    #[test]
    fn garbage_is_not_a_count() {
        assert_eq!(count(b"<html>not a profile</html>", 5), None);
        let bytes = gz(&Profile { sample: vec![sample(vec![], 0)], ..Default::default() }, &[]);
        assert_eq!(count(&bytes[..bytes.len() - 9], 4), None, "truncated gzip");
        assert_eq!(count(&gz(&Profile::default(), &[0x0e, 0x00]), 1), None, "wire type 6");
        assert_eq!(count(&gz(&Profile::default(), &[0x80; 11]), 1), None, "overlong key");
    }
}
