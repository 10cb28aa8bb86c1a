//! Arbitrary bytes as a Go execution trace: the header check and the batch scanner must never
//! panic or hang. Inputs without a valid header get one, so most runs reach the scanner.
#![no_main]

use godiag_analyze::{Thresholds, trace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trace::analyze(data, &Thresholds::default(), &Default::default());
    if !trace::header::looks_like_trace(data) {
        let mut with_header = b"go 1.26 trace\x00\x00\x00".to_vec();
        with_header.extend_from_slice(data);
        let _ = trace::analyze(&with_header, &Thresholds::default(), &Default::default());
    }
});
