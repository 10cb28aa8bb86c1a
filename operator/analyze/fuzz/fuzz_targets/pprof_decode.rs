//! Arbitrary bytes as a pprof profile (gzip or raw protobuf): the decoder (alone and feeding the
//! analysis in its own pass), the analysis, the goroutine-profile grouping, the flame graph and
//! the streaming sample counter must never panic or hang, whatever a target pod sends.
#![no_main]

use godiag_analyze::pprof::sample_count::SampleCounter;
use godiag_analyze::{AnalyzeOptions, FlameOptions, flame, goroutine, pprof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = AnalyzeOptions::default();
    let _ = godiag_analyze::analyze_bytes(data, &opts);
    if let Ok(p) = pprof::decode::decode(data) {
        let _ = pprof::analyze_profile(&p, &opts);
        let _ = goroutine::analyze_profile(&p, &opts);
        let _ = flame::flame_graph_from_profile(&p, &FlameOptions::default());
    }
    let mut counter = SampleCounter::default();
    for chunk in data.chunks(4096) {
        counter.feed(chunk);
    }
    let _ = counter.finish();
});
