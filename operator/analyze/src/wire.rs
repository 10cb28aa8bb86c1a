//! Reading the varints of two binary formats: protobuf (profile.proto) and Go's execution trace
//! (`encoding/binary` uvarints). Both are the same base-128 encoding; the one rule both share is
//! that a value has at most 10 bytes and the 10th carries at most one bit. Nothing here trusts
//! the input: a truncated or overlong varint is `None`, never a panic.

/// Most bytes a varint may take.
pub const MAX_VARINT_LEN: usize = 10;

/// Reads one varint at `*pos`, advancing past it. `None` when the bytes end first or the value
/// overflows 64 bits.
#[inline(always)]
pub fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let rest = b.get(*pos..)?;
    // Most varints of a profile (keys, small ids) are one byte.
    if let Some(&c) = rest.first()
        && c < 0x80
    {
        *pos += 1;
        return Some(u64::from(c));
    }
    let mut x: u64 = 0;
    for (i, &c) in rest.iter().take(MAX_VARINT_LEN).enumerate() {
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

/// One protobuf field: its number and value. Length-delimited values borrow from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Varint(u64, u64),
    Bytes(u64, &'a [u8]),
    /// A fixed32 or fixed64 field (profile.proto uses none; skipped).
    Fixed(u64),
}

/// Why a message's fields could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("truncated field key at offset {0}")]
    Key(usize),
    #[error("unsupported wire type {wire} at offset {at}")]
    WireType { wire: u64, at: usize },
    #[error("truncated value at offset {0}")]
    Value(usize),
    #[error("length at offset {0} runs past the end of the message")]
    Length(usize),
}

/// The fields of one protobuf message, in wire order, without allocating: the reader of
/// attacker-sized messages (a repeated field is counted and checked before anything is kept).
pub struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Fields { b, pos: 0 }
    }

    fn next_field(&mut self) -> Result<Field<'a>, FieldError> {
        let at = self.pos;
        let key = read_varint(self.b, &mut self.pos).ok_or(FieldError::Key(at))?;
        let number = key >> 3;
        let value_at = self.pos;
        match WireType::of_key(key).ok_or(FieldError::WireType { wire: key & 7, at })? {
            WireType::Varint => {
                read_varint(self.b, &mut self.pos).map(|v| Field::Varint(number, v)).ok_or(FieldError::Value(value_at))
            }
            WireType::LengthDelimited => {
                let len = read_varint(self.b, &mut self.pos).ok_or(FieldError::Value(value_at))?;
                let start = self.pos;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| start.checked_add(l))
                    .filter(|&e| e <= self.b.len())
                    .ok_or(FieldError::Length(value_at))?;
                self.pos = end;
                Ok(Field::Bytes(number, &self.b[start..end]))
            }
            w @ (WireType::Fixed64 | WireType::Fixed32) => {
                let n = if w == WireType::Fixed64 { 8 } else { 4 };
                self.pos = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(FieldError::Value(value_at))?;
                Ok(Field::Fixed(number))
            }
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, FieldError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.b.len() {
            return None;
        }
        let r = self.next_field();
        if r.is_err() {
            // One error ends the message: nothing after a broken field can be trusted.
            self.pos = self.b.len();
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_borrow_values_and_stop_at_the_first_broken_one() {
        // 1: varint 150; 2: bytes "hi"; 3: fixed32; then a length past the end.
        let msg = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d, 1, 2, 3, 4, 0x22, 0x05, 0x00];
        let got: Vec<_> = Fields::new(&msg).collect();
        assert_eq!(
            got,
            [Ok(Field::Varint(1, 150)), Ok(Field::Bytes(2, b"hi")), Ok(Field::Fixed(3)), Err(FieldError::Length(13))]
        );
        assert_eq!(Fields::new(&[0x0e]).next(), Some(Err(FieldError::WireType { wire: 6, at: 0 })));
        assert_eq!(Fields::new(&[0x08]).next(), Some(Err(FieldError::Value(1))));
    }

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
