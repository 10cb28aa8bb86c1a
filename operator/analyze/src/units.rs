//! Values in their units, written the way `go tool pprof` writes them: bytes in powers of 1024
//! named `B`, `kB`, `MB`, `GB`, `TB`; durations in `ns`, `us`, `ms`, `s`; two decimals with a
//! trailing `.00` dropped (`1.50MB`, `3MB`, `10ms`). Other units print as plain counts.

/// `v` in `unit` (a profile's sample-type unit: `bytes`, `nanoseconds`, `count`, …).
pub fn scaled(v: i64, unit: &str) -> String {
    match unit {
        "bytes" => bytes(v),
        "nanoseconds" => nanoseconds(v),
        _ => v.to_string(),
    }
}

/// A byte count: `512B`, `1.50kB`, `3MB`.
pub fn bytes(v: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    let mut f = v as f64;
    let mut unit = "B";
    for u in UNITS {
        if f.abs() < 1024.0 {
            break;
        }
        f /= 1024.0;
        unit = u;
    }
    label(f, unit)
}

/// A duration in nanoseconds: `800ns`, `12.50us`, `10ms`, `1.23s`.
pub fn nanoseconds(v: i64) -> String {
    let f = v as f64;
    let a = f.abs();
    if a >= 1e9 {
        label(f / 1e9, "s")
    } else if a >= 1e6 {
        label(f / 1e6, "ms")
    } else if a >= 1e3 {
        label(f / 1e3, "us")
    } else {
        label(f, "ns")
    }
}

fn label(v: f64, unit: &str) -> String {
    let s = fixed2(v);
    if s == "0" || s == "-0" { "0".to_string() } else { format!("{s}{unit}") }
}

/// [`nanoseconds`] of an unsigned count (a trace's durations), saturating.
pub fn nanoseconds_u64(v: u64) -> String {
    nanoseconds(i64::try_from(v).unwrap_or(i64::MAX))
}

/// [`bytes`] of an unsigned count (a trace's heap sizes), saturating.
pub fn bytes_u64(v: u64) -> String {
    bytes(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Two decimals with a trailing `.00` dropped, as pprof prints numbers: `12.50`, `3`.
pub fn fixed2(v: f64) -> String {
    let s = format!("{v:.2}");
    s.strip_suffix(".00").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_pprof() {
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.50kB");
        assert_eq!(bytes(3 << 20), "3MB");
        assert_eq!(bytes(-(5 << 30)), "-5GB");
    }

    #[test]
    fn durations_like_pprof() {
        assert_eq!(nanoseconds(800), "800ns");
        assert_eq!(nanoseconds(12_500), "12.50us");
        assert_eq!(nanoseconds(10_000_000), "10ms");
        assert_eq!(nanoseconds(1_230_000_000), "1.23s");
    }

    #[test]
    fn other_units_are_counts() {
        assert_eq!(scaled(42, "count"), "42");
        assert_eq!(scaled(2048, "bytes"), "2kB");
    }
}
