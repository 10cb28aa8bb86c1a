//! The 16-byte header of a Go execution trace: `go 1.NN trace\0\0\0`.

use crate::AnalyzeError;

pub const HEADER_LEN: usize = 16;

/// True when the bytes start like a Go execution trace (any version).
pub fn looks_like_trace(data: &[u8]) -> bool {
    data.starts_with(b"go 1.")
}

/// Trace format versions this scanner reads (the Go 1.22+ "v2" format).
pub const SUPPORTED: [u32; 4] = [22, 23, 25, 26];

/// Reads the header and returns the minor version `NN`; rejects formats other than v2.
pub fn read_header(data: &[u8]) -> Result<u32, AnalyzeError> {
    if data.len() < HEADER_LEN || !looks_like_trace(data) {
        return Err(AnalyzeError::MalformedTrace("bad file format: not a Go execution trace header".into()));
    }
    let head = &data[..HEADER_LEN];
    let rest = &head[5..];
    let digits: Vec<u8> = rest.iter().copied().take_while(u8::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 3 {
        return Err(AnalyzeError::MalformedTrace("bad version in trace header".into()));
    }
    let v: u32 = digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    let tail = &rest[digits.len()..];
    if !tail.starts_with(b" trace") {
        return Err(AnalyzeError::MalformedTrace("bad trace header".into()));
    }
    if !SUPPORTED.contains(&v) {
        return Err(AnalyzeError::UnsupportedTraceVersion(v));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(read_header(b"go 1.26 trace\0\0\0").ok(), Some(26));
        assert_eq!(read_header(b"go 1.22 trace\0\0\0").ok(), Some(22));
        let e = read_header(b"go 1.21 trace\0\0\0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported trace version 21 (godiag reads the Go 1.22+ format: go 1.22, 1.23, 1.25, 1.26)"
        );
        assert_eq!(e.reason(), "UnsupportedTraceVersion");
        assert!(read_header(b"go 1.x trace").is_err());
    }
}
