//! Reading the varints of two binary formats: protobuf (profile.proto) and Go's execution trace
//! (`encoding/binary` uvarints). Both are the same base-128 encoding; the one rule both share is
//! that a value has at most 10 bytes and the 10th carries at most one bit. Nothing here trusts
//! the input: a truncated or overlong varint is `None`, never a panic.

/// Most bytes a varint may take.
pub const MAX_VARINT_LEN: usize = 10;

/// Reads one varint at `*pos`, advancing past it. `None` when the bytes end first or the value
/// overflows 64 bits.
pub fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut x: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let c = *b.get(pos.checked_add(i)?)?;
        if c < 0x80 {
            if i == MAX_VARINT_LEN - 1 && c > 1 {
                return None;
            }
            *pos += i + 1;
            return Some(x | (u64::from(c) << (7 * i)));
        }
        x |= u64::from(c & 0x7f) << (7 * i);
    }
    None
}

/// A varint read one byte at a time, for streams that arrive in arbitrary chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VarintBuilder {
    value: u64,
    len: u8,
}

impl VarintBuilder {
    /// A builder with no bytes pushed yet.
    pub const DEFAULT: VarintBuilder = VarintBuilder { value: 0, len: 0 };

    /// Adds the next byte: `Ok(Some(value))` when the varint is complete, `Ok(None)` when more
    /// bytes are needed, `Err` when it is longer than a 64-bit value allows.
    pub fn push(&mut self, b: u8) -> Result<Option<u64>, OverlongVarint> {
        let i = usize::from(self.len);
        if i >= MAX_VARINT_LEN || (i == MAX_VARINT_LEN - 1 && b > 1) {
            return Err(OverlongVarint);
        }
        self.value |= u64::from(b & 0x7f) << (7 * i);
        self.len += 1;
        if b < 0x80 {
            let v = self.value;
            *self = VarintBuilder::default();
            Ok(Some(v))
        } else {
            Ok(None)
        }
    }

    /// True when no byte of a varint has been pushed since the last complete one.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A varint longer than 10 bytes, or whose 10th byte overflows 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("varint longer than 64 bits")]
pub struct OverlongVarint;

/// The wire type of a protobuf field key (`key & 7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    LengthDelimited,
    Fixed32,
}

impl WireType {
    /// The wire type of a key; `None` for the deprecated groups (3, 4) and the undefined 6 and 7.
    pub fn of_key(key: u64) -> Option<WireType> {
        match key & 7 {
            0 => Some(WireType::Varint),
            1 => Some(WireType::Fixed64),
            2 => Some(WireType::LengthDelimited),
            5 => Some(WireType::Fixed32),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_and_large_values() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0x00], &mut pos), Some(0));
        assert_eq!(pos, 1);
        let mut pos = 0;
        assert_eq!(read_varint(&[0xac, 0x02, 0xff], &mut pos), Some(300));
        assert_eq!(pos, 2, "stops after the last byte of the varint");
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let mut pos = 0;
        assert_eq!(read_varint(&max, &mut pos), Some(u64::MAX));
    }

    #[test]
    fn truncated_and_overlong_are_none_and_do_not_move() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0x80, 0x80], &mut pos), None);
        assert_eq!(pos, 0);
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&overflow, &mut 0), None);
        assert_eq!(read_varint(&[0x80; 11], &mut 0), None);
        assert_eq!(read_varint(&[], &mut 0), None);
        let mut pos = usize::MAX;
        assert_eq!(read_varint(&[0x01], &mut pos), None, "a position past the end is not a panic");
    }

    #[test]
    fn builder_agrees_with_the_slice_reader() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut enc = Vec::new();
            let mut x = v;
            loop {
                let b = (x & 0x7f) as u8;
                x >>= 7;
                if x == 0 {
                    enc.push(b);
                    break;
                }
                enc.push(b | 0x80);
            }
            let mut b = VarintBuilder::default();
            let mut got = None;
            for &c in &enc {
                got = b.push(c).unwrap();
            }
            assert_eq!(got, Some(v));
            assert!(b.is_empty());
            assert_eq!(read_varint(&enc, &mut 0), Some(v));
        }
        let mut b = VarintBuilder::default();
        let res: Vec<_> = [0xffu8; 10].iter().map(|&c| b.push(c)).collect();
        assert_eq!(res.last(), Some(&Err(OverlongVarint)));
    }

    #[test]
    fn wire_types() {
        assert_eq!(WireType::of_key(0x08), Some(WireType::Varint));
        assert_eq!(WireType::of_key(0x12), Some(WireType::LengthDelimited));
        assert_eq!(WireType::of_key(0x0e), None, "wire type 6 is undefined");
    }
}
