//! pprof profiles against `go tool pprof` on real Go runtime output: top-N, totals, the
//! default sample type, focus/ignore, diffs, flame graphs and the profile-level findings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

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
    assert_eq!(r.profile, ProfileType::Cpu);
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
fn the_decodes_own_walk_analyses_like_a_second_walk() {
    // analyze_bytes feeds the tallies in the decode's pass over the samples; analyze_profile
    // walks a decoded profile again. Every profile fixture, at two sizes of top-N.
    let dir = fixture_path("");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".pb.gz") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let p = godiag_analyze::pprof::decode::decode(&data).unwrap();
        for top in [1, 25] {
            let opts = AnalyzeOptions { top, ..Default::default() };
            let Analysis::Pprof(fused) = analyze_bytes(&data, &opts).unwrap() else { continue };
            let again = godiag_analyze::pprof::analyze_profile(&p, &opts).unwrap();
            assert_eq!(fused, again, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} analyses compared");
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
fn a_profile_compared_with_itself_differs_in_nothing_and_kinds_must_match() {
    let data = fixture("cpu.pb.gz");
    let (_, c) = analyze_against(&data, &[("same".into(), data.clone())], None, &AnalyzeOptions::default()).unwrap();
    let cpu = &c.profiles[0];
    assert_eq!(cpu.kind, ArtifactKind::Cpu);
    assert!(cpu.shifts.is_empty() && c.findings.is_empty(), "{c:#?}");
    assert!((cpu.target_total - cpu.siblings_total).abs() < 1e-9);

    let err = analyze_against(&fixture("goroutine.txt"), &[("cpu".into(), data)], None, &AnalyzeOptions::default())
        .unwrap_err();
    assert_eq!(err.reason(), "DiffNotPossible");
}

#[test]
fn empty_block_profile_says_rate_never_set() {
    let r =
        pprof_report("block-empty.pb.gz", &AnalyzeOptions { kind: Some(ArtifactKind::Block), ..Default::default() });
    assert_eq!(r.total, 0);
    assert!(r.note.as_deref().unwrap().starts_with("empty profile"));
    let f = &r.findings[0];
    assert_eq!(f.rule, Rule::ProfilingRateUnset);
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
    let m = pprof_report("mutex.pb.gz", &AnalyzeOptions { kind: Some(ArtifactKind::Mutex), ..Default::default() });
    let f = m.findings.iter().find(|f| f.rule == Rule::LockContention).expect("contention finding");
    assert!(f.message.starts_with("main.contend causes"), "{}", f.message);
    assert!(f.evidence.iter().any(|e| e.contains("contention events")));
    let a = pprof_report("allocs.pb.gz", &AnalyzeOptions::default());
    let f = a.findings.iter().find(|f| f.rule == Rule::AllocationHotSpot).expect("allocation finding");
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
    let f = h.findings.iter().find(|f| f.rule == Rule::AllocationHotSpot).expect("allocation finding");
    assert!(f.message.starts_with("main.allocLoop accounts for"), "{}", f.message);
}

#[test]
fn flame_graph_is_coloured_by_code_origin() {
    let svg = flamegraph_svg(&fixture("cpu.pb.gz"), &FlameOptions::default()).unwrap().expect("svg");
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    assert!(svg.contains("main.fib") && svg.contains("blockSHANI"));
    let rgb = |c: inferno::flamegraph::color::Color| format!("rgb({},{},{})", c.r, c.g, c.b);
    for name in ["main.fib", "runtime.asyncPreempt", "crypto/internal/fips140/sha256.blockSHANI"] {
        let c = rgb(godiag_analyze::flame::color_for(name));
        assert!(svg.contains(&c), "{name} should be drawn in {c}");
    }
    let focused =
        flamegraph_svg(&fixture("cpu.pb.gz"), &FlameOptions { focus: Some("main\\.fib".into()), ..Default::default() })
            .unwrap()
            .unwrap();
    assert!(focused.contains("main.fib") && !focused.contains("blockSHANI"));
}

#[test]
fn cpu_dominance_and_gc_pressure_rules() {
    // The fixture's hottest leaf is runtime.asyncPreempt (where preemption signals land); the
    // rule charges those samples to the preempted function instead.
    let mut opts = AnalyzeOptions::default();
    opts.thresholds.cpu_dominant_percent = 25.0;
    let r = pprof_report("cpu.pb.gz", &opts);
    assert_eq!(r.functions[0].name, "runtime.asyncPreempt");
    let f = r.findings.iter().find(|f| f.rule == Rule::CpuDominantFunction).expect("dominance finding");
    assert!(f.message.starts_with("main.fib uses 37% of CPU samples"), "{}", f.message);
    assert!(f.evidence[0].contains("attributed to the program"), "{:?}", f.evidence);

    let default = analyze("trace.out", &AnalyzeOptions::default());
    assert!(default.findings().is_empty(), "3 forced GCs in a short trace are not pressure");
    opts.thresholds.stw_percent = 0.01;
    let Analysis::Trace(t) = analyze_bytes(&fixture("trace.out"), &opts).unwrap() else { panic!() };
    let f = &t.findings[0];
    assert_eq!(f.rule, Rule::GcPressure);
    assert!(f.message.starts_with(&format!("{} GC cycles", t.gc_count)), "{}", f.message);
}

/// A CPU profile of a binary without symbols (the shape a stripped C program or a profiler
/// without symbol tables writes): addresses and mappings only, besides one Go function.
fn symbolless_cpu_profile() -> Vec<u8> {
    use godiag_analyze::pprof::proto::{Function, Line, Location, Mapping, Profile, Sample, ValueType};
    use prost::Message;
    let strings = ["", "samples", "count", "cpu", "nanoseconds", "/usr/lib/libc-2.15.so", "/app/server", "main.serve"];
    let loc = |id: u64, mapping_id: u64, address: u64| Location { id, mapping_id, address, line: vec![] };
    let sample = |ids: &[u64], n: i64| -> bytes::Bytes {
        Sample { location_id: ids.to_vec(), value: vec![n, n * 10_000_000] }.encode_to_vec().into()
    };
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }, ValueType { r#type: 3, unit: 4 }],
        mapping: vec![
            Mapping { id: 1, memory_start: 0x7f00_0000_0000, memory_limit: 0x7f00_0010_0000, filename: 5 },
            Mapping { id: 2, memory_start: 0x40_0000, memory_limit: 0x80_0000, filename: 6 },
            Mapping { id: 3, memory_start: 0x7fff_0000_0000, memory_limit: 0x7fff_0000_1000, filename: 0 },
        ],
        location: vec![
            loc(1, 1, 0x7f00_0000_1234),
            loc(2, 1, 0x7f00_0000_5678),
            loc(3, 2, 0x42_ed43),
            loc(4, 2, 0x43_0010),
            loc(5, 3, 0x7fff_0000_0042),
            Location { id: 6, mapping_id: 2, address: 0x44_0000, line: vec![Line { function_id: 1, line: 12 }] },
        ],
        function: vec![Function { id: 1, name: 7, system_name: 7, filename: 0 }],
        sample: vec![sample(&[3, 4, 6], 76), sample(&[1, 2, 3, 6], 15), sample(&[5, 6], 6), sample(&[6], 3)],
        string_table: strings.iter().map(|s| s.to_string()).collect(),
        period: 10_000_000,
        period_type: Some(ValueType { r#type: 3, unit: 4 }),
        duration_nanos: 1_000_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn a_profile_without_symbols_is_named_by_mapping_like_pprof() {
    let raw = symbolless_cpu_profile();
    let r = match analyze_bytes(&raw, &AnalyzeOptions { top: 25, ..Default::default() }).unwrap() {
        Analysis::Pprof(r) => r,
        other => panic!("{other:?}"),
    };
    let names: Vec<&str> = r.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["[server]", "[libc-2.15.so]", "<unknown>", "main.serve"]);
    for f in &r.findings {
        assert!(!f.message.chars().take(16).all(|c| c.is_ascii_hexdigit()), "a raw address in {f:?}");
    }
    if !go_available() {
        eprintln!("SKIP: `go` not on PATH; compared with go tool pprof only where Go is installed");
        return;
    }
    let path = std::env::temp_dir().join(format!("godiag-symbolless-{}.pb", std::process::id()));
    std::fs::write(&path, &raw).unwrap();
    let (rows, total) = pprof_top(&path.display().to_string(), "cpu", "nanoseconds", 25);
    let _ = std::fs::remove_file(&path);
    let ours: Vec<(String, i64, i64)> = r.functions.iter().map(|f| (f.name.clone(), f.flat, f.cum)).collect();
    assert_eq!(ours, rows, "godiag vs go tool pprof -top on a profile without symbols");
    assert_eq!(r.total, total);
}
