//! A quick bounded no-panic run over mutated fixtures, on the stable toolchain (the longer,
//! coverage-guided runs are `make fuzz`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[test]
fn mutated_inputs_never_panic() {
    use std::io::Read;
    let mut raw_cpu = Vec::new();
    flate2::read::GzDecoder::new(&fixture("cpu.pb.gz")[..]).read_to_end(&mut raw_cpu).unwrap();
    let trace = fixture("trace.out");
    let seeds: Vec<Vec<u8>> = vec![
        raw_cpu,
        fixture("mutex.pb.gz"),
        fixture("goroutine-leaked.txt")[..6000].to_vec(),
        trace[..trace.len().min(20_000)].to_vec(),
    ];
    let mut rng = mutate::Rng::new(0x5eed);
    let opts = AnalyzeOptions::default();
    for i in 0..3000 {
        let seed = &seeds[i % seeds.len()];
        let other = &seeds[(i + 1) % seeds.len()];
        let input = mutate::mutate(&mut rng, seed, other);
        let _ = analyze_bytes(&input, &opts);
        if i % 50 == 0 {
            let _ = flamegraph_svg(&input, &FlameOptions::default());
        }
    }
}
