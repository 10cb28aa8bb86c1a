//! What the analysis tests share: the fixtures (real Go runtime output made by
//! `fixtures/gen/regen.sh`), shortcuts to analyse them, and `go tool pprof -top` as the reference.
#![allow(dead_code, unused_imports)]

pub mod mutate;

pub use godiag_analyze::goroutine::GoroutineSource;
pub use godiag_analyze::pprof::ProfileType;
pub use godiag_analyze::resources::Resources;
pub use godiag_analyze::{
    Analysis, AnalyzeOptions, ArtifactKind, FlameGraph, FlameOptions, Rule, analyze_against, analyze_bytes,
    flame_graph, flamegraph_svg, one_line, summarize_target, summary_json,
};
use std::path::PathBuf;
use std::process::Command;

pub fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn fixture_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

pub fn analyze(name: &str, opts: &AnalyzeOptions) -> Analysis {
    analyze_bytes(&fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn pprof_report(name: &str, opts: &AnalyzeOptions) -> godiag_analyze::PprofReport {
    match analyze(name, opts) {
        Analysis::Pprof(r) => r,
        other => panic!("{name}: expected pprof, got {other:?}"),
    }
}

pub fn goroutines(name: &str) -> godiag_analyze::GoroutineReport {
    match analyze(name, &AnalyzeOptions::default()) {
        Analysis::Goroutines(r) => r,
        other => panic!("{name}: expected goroutines, got {other:?}"),
    }
}

pub fn go_available() -> bool {
    Command::new("go").arg("version").output().is_ok_and(|o| o.status.success())
}

/// Rows of `go tool pprof -top`: (name without the inline suffix, flat, cum), plus the total.
pub fn pprof_top(file: &str, sample_index: &str, unit: &str, n: usize) -> (Vec<(String, i64, i64)>, i64) {
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
