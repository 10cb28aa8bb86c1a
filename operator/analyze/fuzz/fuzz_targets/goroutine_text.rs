//! Arbitrary bytes as a goroutine dump (`goroutine?debug=2` text): parsing, grouping and the
//! leak rules must never panic or hang.
#![no_main]

use godiag_analyze::{AnalyzeOptions, goroutine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = goroutine::analyze_text(data, &AnalyzeOptions::default());
});
