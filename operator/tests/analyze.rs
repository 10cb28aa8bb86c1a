//! Analysis tests on real Go runtime output (fixtures made by tests/fixtures/gen/regen.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mutate.rs"]
mod mutate;

use godiag::analyze::{
    Analysis, AnalyzeOptions, FlameGraph, FlameOptions, analyze_bytes, analyze_diff, flame_graph, flamegraph_svg,
    one_line, summarize_target, summary_json,
};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

fn analyze(name: &str, opts: &AnalyzeOptions) -> Analysis {
    analyze_bytes(&fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pprof_report(name: &str, opts: &AnalyzeOptions) -> godiag::analyze::PprofReport {
    match analyze(name, opts) {
        Analysis::Pprof(r) => r,
        other => panic!("{name}: expected pprof, got {other:?}"),
    }
}

fn goroutines(name: &str) -> godiag::analyze::GoroutineReport {
    match analyze(name, &AnalyzeOptions::default()) {
        Analysis::Goroutines(r) => r,
        other => panic!("{name}: expected goroutines, got {other:?}"),
    }
}

fn go_available() -> bool {
    Command::new("go").arg("version").output().is_ok_and(|o| o.status.success())
}

/// Rows of `go tool pprof -top`: (name without the inline suffix, flat, cum), plus the total.
fn pprof_top(file: &str, sample_index: &str, unit: &str, n: usize) -> (Vec<(String, i64, i64)>, i64) {
    let mut cmd = Command::new("go");
    cmd.args(["tool", "pprof", "-top", &format!("-nodecount={n}"), "-nodefraction=0", "-edgefraction=0"]);
    cmd.arg(format!("-sample_index={sample_index}"));
    let suffix = match unit {
        "nanoseconds" => "ns",
        "bytes" => "B",
        _ => "",
    };
    if !suffix.is_empty() {
        cmd.arg(format!("-unit={suffix}"));
    }
    let out = cmd.arg(file).output().expect("go tool pprof");
    assert!(out.status.success(), "pprof failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let num = |s: &str| -> i64 {
        let t = s.strip_suffix(suffix).unwrap_or(s);
        t.parse().unwrap_or_else(|_| panic!("cannot read pprof number {s:?} in\n{text}"))
    };
    let mut total = 0;
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if let Some(i) = line.find(" of ")
            && line.starts_with("Showing nodes accounting for")
        {
            total = num(line[i + 4..].split_whitespace().next().unwrap());
        }
        if line.trim_start().starts_with("flat") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 {
            continue;
        }
        let name = cols[5..].join(" ");
        let name = name.strip_suffix(" (inline)").or_else(|| name.strip_suffix(" (partial-inline)")).unwrap_or(&name);
        rows.push((name.to_string(), num(cols[0]), num(cols[3])));
    }
    (rows, total)
}

#[test]
fn top_n_equals_go_tool_pprof() {
    if !go_available() {
        eprintln!("SKIP: `go` not on PATH; top-N is compared with go tool pprof only where Go is installed");
        return;
    }
    let cases: &[(&str, Option<&str>)] = &[
        ("cpu.pb.gz", None),
        ("cpu.pb.gz", Some("samples")),
        ("allocs.pb.gz", None),
        ("allocs.pb.gz", Some("alloc_objects")),
        ("heap.pb.gz", None),
        ("heap.pb.gz", Some("inuse_objects")),
        ("mutex.pb.gz", None),
        ("mutex.pb.gz", Some("contentions")),
        ("block.pb.gz", None),
        ("block.pb.gz", Some("contentions")),
    ];
    let n = 25;
    for (file, st) in cases {
        let opts = AnalyzeOptions { sample_type: st.map(str::to_string), top: n, ..Default::default() };
        let r = pprof_report(file, &opts);
        let (rows, total) = pprof_top(&fixture_path(file), &r.sample_type, &r.unit, n);
        assert!(!rows.is_empty(), "{file}: pprof printed no rows");
        let ours: Vec<(String, i64, i64)> = r.functions.iter().map(|f| (f.name.clone(), f.flat, f.cum)).collect();
        assert_eq!(ours, rows, "{file} {:?}: godiag vs go tool pprof -top", st);
        assert_eq!(r.total, total, "{file} {st:?}: total");
    }
}

#[test]
fn default_sample_type_is_chosen_like_pprof() {
    let d = AnalyzeOptions::default();
    assert_eq!(pprof_report("cpu.pb.gz", &d).sample_type, "cpu");
    assert_eq!(pprof_report("heap.pb.gz", &d).sample_type, "inuse_space");
    assert_eq!(pprof_report("allocs.pb.gz", &d).sample_type, "alloc_space");
    assert_eq!(pprof_report("mutex.pb.gz", &d).sample_type, "delay");
    let r = pprof_report("cpu.pb.gz", &d);
    assert_eq!(r.unit, "nanoseconds");
    assert_eq!(r.profile, "cpu");
    // Inlined frames count as functions of their own: main.mix is inlined into main.spin,
    // so it has flat time while main.spin only has cum.
    let mix = r.functions.iter().find(|f| f.name == "main.mix").expect("main.mix in top 10");
    assert!(mix.flat > 0);
    let all = pprof_report("cpu.pb.gz", &AnalyzeOptions { top: 1000, ..Default::default() });
    let spin = all.functions.iter().find(|f| f.name == "main.spin").expect("main.spin");
    assert_eq!(spin.flat, 0);
    assert!(spin.cum >= mix.cum);
    let err = analyze_bytes(
        &fixture("cpu.pb.gz"),
        &AnalyzeOptions { sample_type: Some("bogus".into()), ..Default::default() },
    )
    .unwrap_err();
    assert_eq!(err.reason(), "UnknownSampleType");
    assert!(err.to_string().contains("samples, cpu"), "{err}");
}

#[test]
fn raw_protobuf_decodes_like_gzip() {
    use std::io::Read;
    let gz = fixture("cpu.pb.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
    let a = analyze_bytes(&gz, &AnalyzeOptions::default()).unwrap();
    let b = analyze_bytes(&raw, &AnalyzeOptions::default()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn focus_and_ignore_filter_stacks() {
    let all = pprof_report("cpu.pb.gz", &AnalyzeOptions { top: 1000, ..Default::default() });
    let fib_cum = all.functions.iter().find(|f| f.name == "main.fib").unwrap().cum;
    let focus = pprof_report("cpu.pb.gz", &AnalyzeOptions { focus: Some(r"^main\.fib$".into()), ..Default::default() });
    assert_eq!(focus.total, fib_cum);
    let ignore =
        pprof_report("cpu.pb.gz", &AnalyzeOptions { ignore: Some(r"^main\.".into()), top: 1000, ..Default::default() });
    assert!(ignore.functions.iter().all(|f| !f.name.starts_with("main.")));
    assert!(ignore.total < all.total);
    let bad = analyze_bytes(&fixture("cpu.pb.gz"), &AnalyzeOptions { focus: Some("(".into()), ..Default::default() });
    assert_eq!(bad.unwrap_err().reason(), "BadRegex");
}

#[test]
fn diff_lists_regressions() {
    let same = analyze_diff(&fixture("cpu.pb.gz"), &fixture("cpu.pb.gz"), &AnalyzeOptions::default()).unwrap();
    let Analysis::Pprof(r) = same else { panic!() };
    let d = r.diff.unwrap();
    assert_eq!(d.delta_total, 0);
    assert!(d.regressions.is_empty() && d.improvements.is_empty());

    let grew =
        analyze_diff(&fixture("block-empty.pb.gz"), &fixture("block.pb.gz"), &AnalyzeOptions::default()).unwrap();
    let Analysis::Pprof(r) = grew else { panic!() };
    let d = r.diff.unwrap();
    assert_eq!(d.base_total, 0);
    assert_eq!(d.delta_total, r.total);
    let first = &d.regressions[0];
    assert_eq!(first.delta_flat, r.functions[0].flat, "largest regression is the new top function");
    assert!(d.regressions.windows(2).all(|w| w[0].delta_flat >= w[1].delta_flat));

    let err = analyze_diff(&fixture("goroutine.txt"), &fixture("cpu.pb.gz"), &AnalyzeOptions::default()).unwrap_err();
    assert_eq!(err.reason(), "DiffNotPossible");
}

#[test]
fn goroutine_dump_groups_and_leak_suspects() {
    let r = goroutines("goroutine.txt");
    assert_eq!(r.source, "text");
    assert_eq!(r.total, 229);
    assert_eq!(r.by_state.get("chan send"), Some(&200));
    assert_eq!(r.by_state.get("select"), Some(&20));
    assert_eq!(r.by_state.get("sync.Mutex.Lock"), Some(&5));
    assert_eq!(r.by_state.get("sync.WaitGroup.Wait"), Some(&3));
    let g = &r.groups[0];
    assert_eq!((g.count, g.state.as_str()), (200, "chan send"));
    assert_eq!(g.stack, vec!["main.leakOne".to_string()]);
    assert_eq!(g.created_by.as_deref(), Some("main.startLeaks"));
    let leaks: Vec<_> = r.findings.iter().filter(|f| f.rule == "goroutine-leak").collect();
    assert_eq!(leaks.len(), 1, "only the 200-goroutine group crosses the default threshold: {leaks:?}");
    assert!(leaks[0].message.contains("200 goroutines blocked in chan send at main.leakOne"), "{}", leaks[0].message);
    let mutex = r.groups.iter().find(|g| g.state == "sync.Mutex.Lock").unwrap();
    assert_eq!(mutex.stack.last().map(String::as_str), Some("main.lockForever"));
}

#[test]
fn goroutine_dump_wait_minutes() {
    let r = goroutines("goroutine-waited.txt");
    assert_eq!(r.groups[0].max_wait_minutes, 1);
    let select = r.groups.iter().find(|g| g.state == "select").unwrap();
    assert_eq!((select.count, select.max_wait_minutes), (20, 1));
    // Lower thresholds make the waited select group a suspect too.
    let mut opts = AnalyzeOptions::default();
    opts.thresholds.leak_min_minutes = 1;
    let Analysis::Goroutines(r) = analyze_bytes(&fixture("goroutine-waited.txt"), &opts).unwrap() else { panic!() };
    assert!(r.findings.iter().any(|f| { f.message.contains("20 goroutines blocked in select at main.leakSelect") }));
}

#[test]
fn runtime_leak_marker_and_goroutineleak_profile() {
    let r = goroutines("goroutine-leaked.txt");
    assert_eq!(r.leaked, 220, "200 chan send + 20 select are provably leaked");
    assert_eq!(r.by_state.get("chan send"), Some(&200), "(leaked) is not part of the state");
    assert_eq!(r.findings[0].severity, godiag::analyze::Severity::High);
    assert!(r.findings[0].message.contains("200 goroutines leaked"), "{}", r.findings[0].message);

    let p = goroutines("goroutineleak.pb.gz");
    assert_eq!(p.source, "goroutineleak");
    assert_eq!(p.total, 220);
    assert!(p.findings.iter().all(|f| f.severity == godiag::analyze::Severity::High));
    assert!(p.groups[0].stack.contains(&"main.leakOne".to_string()));
}

#[test]
fn binary_goroutine_profile() {
    let r = goroutines("goroutine.pb.gz");
    assert_eq!(r.source, "profile");
    assert_eq!(r.total, 229);
    assert!(r.by_state.is_empty());
    assert_eq!(r.groups[0].count, 200);
    assert!(r.groups[0].stack.contains(&"main.leakOne".to_string()));
    assert!(r.findings.is_empty(), "no states, no leak guess");
}

#[test]
fn trace_numbers_are_sane() {
    let expect: serde_json::Value = serde_json::from_slice(&fixture("trace.expect.json")).unwrap();
    let Analysis::Trace(t) = analyze("trace.out", &AnalyzeOptions::default()) else { panic!() };
    assert_eq!(t.version, "go1.26");
    assert!(t.goroutines_created >= expect["goroutinesCreatedMin"].as_u64().unwrap(), "{t:?}");
    assert!(t.gc_count >= expect["gcCountMin"].as_u64().unwrap(), "{t:?}");
    assert!(t.duration_ns > 10_000_000 && t.duration_ns < 60_000_000_000, "{t:?}");
    assert!(t.stw_count >= t.gc_count, "each GC stops the world at least once");
    assert!(t.stw_max_ns <= t.stw_total_ns && t.stw_total_ns < t.duration_ns);
    assert!(t.syscall_count >= 20 && t.syscall_ns > 0, "the program made file writes");
    assert!(!t.proc_utilization.is_empty());
    assert!(t.proc_utilization.iter().all(|p| (0.0..=1.0).contains(&p.utilization) && p.busy_ns <= t.duration_ns));
    assert!(t.proc_utilization.iter().any(|p| p.utilization > 0.05));
    assert!(t.note.is_none(), "{:?}", t.note);
}

#[test]
fn unsupported_trace_version_is_named() {
    let mut old = b"go 1.21 trace\0\0\0".to_vec();
    old.extend_from_slice(&[0u8; 64]);
    let err = analyze_bytes(&old, &AnalyzeOptions::default()).unwrap_err();
    assert_eq!(err.reason(), "UnsupportedTraceVersion");
    assert!(err.to_string().starts_with("unsupported trace version 21"), "{err}");
}

#[test]
fn empty_block_profile_says_rate_never_set() {
    let r =
        pprof_report("block-empty.pb.gz", &AnalyzeOptions { profile_hint: Some("block".into()), ..Default::default() });
    assert_eq!(r.total, 0);
    assert!(r.note.as_deref().unwrap().starts_with("empty profile"));
    let f = &r.findings[0];
    assert_eq!(f.rule, "profiling-rate-unset");
    assert!(f.message.contains("runtime.SetBlockProfileRate"), "{}", f.message);
    assert_eq!(flamegraph_svg(&fixture("block-empty.pb.gz"), &FlameOptions::default()).unwrap(), None);
    let FlameGraph::Empty { reason } = flame_graph(&fixture("block-empty.pb.gz"), &FlameOptions::default()).unwrap()
    else {
        panic!()
    };
    assert!(reason.starts_with("empty profile"), "{reason}");
}

#[test]
fn contention_and_allocation_hot_spots() {
    let m = pprof_report("mutex.pb.gz", &AnalyzeOptions { profile_hint: Some("mutex".into()), ..Default::default() });
    let f = m.findings.iter().find(|f| f.rule == "lock-contention").expect("contention finding");
    assert!(f.message.starts_with("main.contend causes"), "{}", f.message);
    assert!(f.evidence.iter().any(|e| e.contains("contention events")));
    let a = pprof_report("allocs.pb.gz", &AnalyzeOptions::default());
    let f = a.findings.iter().find(|f| f.rule == "allocation-hot-spot").expect("allocation finding");
    assert!(f.message.starts_with("main.allocLarge"), "{}", f.message);
}

#[test]
fn allocation_hot_spot_ignores_what_collecting_the_diagnostics_allocated() {
    // A heap profile taken while godiag's own CPU profile and trace ran: the profilers' buffers
    // (runtime/trace, runtime/pprof and their gzip writers) are most of the in-use bytes.
    let h = pprof_report("heap-during-collection.pb.gz", &AnalyzeOptions::default());
    assert!(
        h.functions
            .iter()
            .take(3)
            .any(|f| f.name.starts_with("runtime/trace.") || f.name.starts_with("runtime/pprof."))
    );
    let f = h.findings.iter().find(|f| f.rule == "allocation-hot-spot").expect("allocation finding");
    assert!(f.message.starts_with("main.allocLoop accounts for"), "{}", f.message);
}

#[test]
fn flame_graph_is_coloured_by_code_origin() {
    let svg = flamegraph_svg(&fixture("cpu.pb.gz"), &FlameOptions::default()).unwrap().expect("svg");
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    assert!(svg.contains("main.fib") && svg.contains("blockSHANI"));
    let rgb = |c: inferno::flamegraph::color::Color| format!("rgb({},{},{})", c.r, c.g, c.b);
    for name in ["main.fib", "runtime.asyncPreempt", "crypto/internal/fips140/sha256.blockSHANI"] {
        let c = rgb(godiag::analyze::flame::color_for(name));
        assert!(svg.contains(&c), "{name} should be drawn in {c}");
    }
    let focused =
        flamegraph_svg(&fixture("cpu.pb.gz"), &FlameOptions { focus: Some("main\\.fib".into()), ..Default::default() })
            .unwrap()
            .unwrap();
    assert!(focused.contains("main.fib") && !focused.contains("blockSHANI"));
}

fn all_fixtures() -> Vec<(&'static str, Analysis)> {
    [
        ("cpu", "cpu.pb.gz"),
        ("heap", "heap.pb.gz"),
        ("allocs", "allocs.pb.gz"),
        ("goroutine", "goroutine.txt"),
        ("goroutine", "goroutine.pb.gz"),
        ("block", "block-empty.pb.gz"),
        ("mutex", "mutex.pb.gz"),
        ("trace", "trace.out"),
    ]
    .into_iter()
    .map(|(k, f)| (k, analyze(f, &AnalyzeOptions::default())))
    .collect()
}

#[test]
fn summary_is_bounded_and_readable() {
    let all = all_fixtures();
    let inputs: Vec<(&str, &Analysis)> = all.iter().map(|(k, a)| (*k, a)).collect();
    let s = summarize_target(&inputs);
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.len() < 2048, "{} bytes: {json}", json.len());
    eprintln!("summary: {} bytes: {json}", json.len());
    assert_eq!(s.goroutines.as_ref().unwrap().total, 229);
    assert_eq!(s.goroutines.as_ref().unwrap().by_state.get("chan send"), Some(&200), "text dump wins over the profile");
    assert!(s.top.iter().any(|t| t.profile == "cpu"));
    assert!(s.findings.iter().any(|f| f.rule == "goroutine-leak"));
    // Five findings at most, most severe first: the info-level "rate never set" finding may be
    // crowded out, the note about the empty profile is not.
    assert!(s.findings.len() <= 5);
    assert!(s.notes.iter().any(|n| n.starts_with("block: empty profile")), "{:?}", s.notes);
    assert!(s.findings.windows(2).all(|w| w[0].severity <= w[1].severity), "most severe first");
    let line = one_line(&s);
    assert!(line.starts_with("cpu: "), "{line}");
    assert!(line.contains("200 goroutines blocked in chan send at main.leakOne (leak suspect)"), "{line}");
    let full = summary_json(&inputs);
    assert_eq!(full["oneLine"], line);
    assert_eq!(full["artifacts"]["trace"]["kind"], "trace");
    // Round-trips (it is embedded in the CRD status).
    let back: godiag::analyze::TargetSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn summary_stays_under_2k_with_hostile_names() {
    let mut all = all_fixtures();
    // Many repetitions with the largest inputs: still bounded.
    for (_, a) in &mut all {
        if let Analysis::Pprof(r) = a {
            for f in &mut r.functions {
                f.name = format!("github.com/some/very/long/module/path/{}", f.name.repeat(8));
            }
        }
    }
    let mut inputs: Vec<(&str, &Analysis)> = Vec::new();
    for _ in 0..5 {
        inputs.extend(all.iter().map(|(k, a)| (*k, a)));
    }
    let s = summarize_target(&inputs);
    assert!(serde_json::to_string(&s).unwrap().len() < 2048);
    assert!(one_line(&s).len() <= 240);
}

#[test]
fn summary_schema_is_structural() {
    let schema = schemars::schema_for!(godiag::analyze::TargetSummary);
    let text = serde_json::to_string(&schema).unwrap();
    assert!(!text.contains("\"oneOf\""), "no untagged unions: {text}");
    assert!(text.contains("\"enum\":[\"high\",\"warning\",\"info\"]"), "{text}");
    assert!(text.contains("Share of the profile's total spent in the function itself"), "field docs reach the schema");
}

#[test]
fn cli_json_matches_the_contract() {
    let bin = env!("CARGO_BIN_EXE_godiag");
    let run = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(bin).arg("analyze").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let p = run(&["--format", "json", "--top", "5", &fixture_path("cpu.pb.gz")]);
    assert_eq!(p["kind"], "pprof");
    assert_eq!(p["sampleType"], "cpu");
    assert_eq!(p["unit"], "nanoseconds");
    assert!(p["total"].as_i64().unwrap() > 0);
    let fs = p["functions"].as_array().unwrap();
    assert_eq!(fs.len(), 5);
    let flats: Vec<i64> = fs.iter().map(|f| f["flat"].as_i64().unwrap()).collect();
    assert!(flats.windows(2).all(|w| w[0] >= w[1]), "sorted by flat: {flats:?}");
    for f in fs {
        assert!(f["name"].is_string() && f["cum"].is_i64());
        assert!(!f["name"].as_str().unwrap().ends_with("(inline)"));
    }

    let g = run(&["--format", "json", &fixture_path("goroutine.txt")]);
    assert_eq!(g["kind"], "goroutines");
    assert_eq!(g["total"], 229);
    assert_eq!(g["byState"]["chan send"], 200);
    let g0 = &g["groups"][0];
    assert_eq!(g0["count"], 200);
    assert_eq!(g0["state"], "chan send");
    assert_eq!(g0["maxWaitMinutes"], 0);
    assert_eq!(g0["stack"][0], "main.leakOne");
    assert!(g["findings"].is_array());

    let t = run(&["--format", "json", &fixture_path("trace.out")]);
    assert_eq!(t["kind"], "trace");
    assert_eq!(t["version"], "go1.26");
    for k in ["durationNs", "goroutinesCreated", "gcCount", "stwTotalNs", "stwMaxNs", "syscallNs"] {
        assert!(t[k].is_u64(), "{k}: {t}");
    }
    assert!(t["procUtilization"].is_array());

    let text = Command::new(bin).args(["analyze", &fixture_path("goroutine.txt")]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("200 × [chan send]"));

    let mut old = b"go 1.19 trace\0\0\0".to_vec();
    old.extend_from_slice(&[0u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.trace");
    std::fs::write(&path, old).unwrap();
    let out = Command::new(bin).args(["analyze", path.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported trace version 19"));

    let svg = dir.path().join("cpu.svg");
    let out = Command::new(bin)
        .args(["analyze", "--svg", svg.to_str().unwrap(), &fixture_path("cpu.pb.gz")])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

/// A quick bounded no-panic run over mutated fixtures (the longer run is
/// `cargo run --release --example fuzz_analyze`).
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

#[test]
fn cpu_dominance_and_gc_pressure_rules() {
    // The fixture's hottest leaf is runtime.asyncPreempt (where preemption signals land); the
    // rule charges those samples to the preempted function instead.
    let mut opts = AnalyzeOptions::default();
    opts.thresholds.cpu_dominant_percent = 25.0;
    let r = pprof_report("cpu.pb.gz", &opts);
    assert_eq!(r.functions[0].name, "runtime.asyncPreempt");
    let f = r.findings.iter().find(|f| f.rule == "cpu-dominant-function").expect("dominance finding");
    assert!(!f.message.starts_with("runtime.asyncPreempt"), "{}", f.message);
    assert!(f.evidence[0].contains("flat"), "{:?}", f.evidence);

    let default = analyze("trace.out", &AnalyzeOptions::default());
    assert!(default.findings().is_empty(), "3 forced GCs in a short trace are not pressure");
    opts.thresholds.stw_percent = 0.01;
    let Analysis::Trace(t) = analyze_bytes(&fixture("trace.out"), &opts).unwrap() else { panic!() };
    let f = &t.findings[0];
    assert_eq!(f.rule, "gc-pressure");
    assert!(f.message.starts_with(&format!("{} GC cycles", t.gc_count)), "{}", f.message);
}
