//! A bounded fuzz run of the three parsers (pprof, goroutine text, execution trace) over
//! mutations of the real fixtures. It stands in for `cargo fuzz` where no nightly toolchain
//! and sanitizer build are available: the same property (arbitrary bytes never panic, never
//! hang), checked by a seeded mutator for a fixed time or number of executions per target.
//!
//!     cargo run --release -p godiag --example fuzz_analyze -- [SECONDS_PER_TARGET] [SEED]
//!
//! Exits non-zero on a panic (the input is written to target/fuzz-crash-<target>.bin) or when
//! one input takes longer than 2 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mutate.rs"]
mod mutate;

use godiag::analyze::{AnalyzeOptions, FlameOptions, flame, goroutine, pprof, trace};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut v).unwrap();
    v
}

type Target = (&'static str, Vec<Vec<u8>>, fn(&[u8], u64) -> bool);

/// Each runner returns whether the input was accepted (parsed without error), to show how much
/// of the run reached past the first checks.
fn run_pprof(b: &[u8], i: u64) -> bool {
    let opts = AnalyzeOptions::default();
    match pprof::decode::decode(b) {
        Ok(p) => {
            let _ = pprof::analyze_profile(&p, &opts);
            let _ = goroutine::analyze_profile(&p, &opts);
            if i.is_multiple_of(16) {
                let _ = flame::flame_graph_from_profile(&p, &FlameOptions::default());
            }
            true
        }
        Err(_) => false,
    }
}

fn run_goroutines(b: &[u8], _: u64) -> bool {
    goroutine::analyze_text(b, &AnalyzeOptions::default()).is_ok()
}

fn run_trace(b: &[u8], _: u64) -> bool {
    trace::analyze(b, &Default::default()).is_ok_and(|r| r.note.is_none())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0x9e3779b97f4a7c15);
    let pb = [
        "cpu.pb.gz",
        "allocs.pb.gz",
        "heap.pb.gz",
        "mutex.pb.gz",
        "block.pb.gz",
        "goroutine.pb.gz",
        "goroutineleak.pb.gz",
    ];
    let mut pprof_seeds: Vec<Vec<u8>> = pb.iter().map(|f| gunzip(&fixture(f))).collect();
    pprof_seeds.extend(pb.iter().take(2).map(|f| fixture(f)));
    let g = fixture("goroutine-leaked.txt");
    let w = fixture("goroutine-waited.txt");
    let goroutine_seeds = vec![g[..8000].to_vec(), w[..8000].to_vec(), g[g.len() - 4000..].to_vec()];
    let t = fixture("trace.out");
    let trace_seeds = vec![t[..t.len().min(70_000)].to_vec(), t[..4096].to_vec(), t.clone()];
    let targets: Vec<Target> = vec![
        ("pprof", pprof_seeds, run_pprof),
        ("goroutine-text", goroutine_seeds, run_goroutines),
        ("trace", trace_seeds, run_trace),
    ];

    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, seeds, f) in targets {
        let mut rng = mutate::Rng::new(seed ^ name.len() as u64);
        let start = Instant::now();
        let mut execs: u64 = 0;
        let mut accepted: u64 = 0;
        let mut slowest = Duration::ZERO;
        // Corpus grows with inputs that parse at least partially, so mutations stack.
        let mut corpus = seeds.clone();
        while start.elapsed() < Duration::from_secs(secs) {
            let a = &corpus[rng.below(corpus.len())];
            let b = &corpus[rng.below(corpus.len())];
            let input = mutate::mutate(&mut rng, a, b);
            let t0 = Instant::now();
            let r = std::panic::catch_unwind(|| f(&input, execs));
            accepted += u64::from(matches!(r, Ok(true)));
            let dt = t0.elapsed();
            slowest = slowest.max(dt);
            execs += 1;
            if r.is_err() || dt > Duration::from_secs(2) {
                let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/fuzz-crash-{name}.bin"));
                let _ = std::fs::write(&path, &input);
                eprintln!(
                    "{name}: {} after {execs} executions; input saved to {}",
                    if r.is_err() { "PANIC" } else { "SLOW" },
                    path.display()
                );
                failed = true;
                break;
            }
            if matches!(r, Ok(true)) && execs.is_multiple_of(16) && corpus.len() < 256 && input.len() < 300_000 {
                corpus.push(input);
            }
        }
        println!(
            "{name:<15} executions {execs:>9}  in {:>5.1}s  ({:>8.0}/s)  accepted {:>4.1}%  slowest input {:.1} ms",
            start.elapsed().as_secs_f64(),
            execs as f64 / start.elapsed().as_secs_f64(),
            accepted as f64 * 100.0 / execs.max(1) as f64,
            slowest.as_secs_f64() * 1e3
        );
    }
    if failed {
        std::process::exit(1);
    }
}
