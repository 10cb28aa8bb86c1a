//! The `godiag analyze` command line: its JSON is a contract (scripts read it), its text and its
//! errors are what a person reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn fixture_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("analyze/tests/fixtures").join(name).display().to_string()
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

/// A pipe or device (`/dev/zero`) is refused at once instead of being read until memory runs out.
#[test]
fn endless_inputs_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_godiag")).args(["analyze", "/dev/zero"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/zero is not a regular file"), "{err}");
}

#[test]
fn analyze_with_bases_names_what_differs_from_the_healthy_siblings() {
    let bin = env!("CARGO_BIN_EXE_godiag");
    let args = [
        "analyze".to_string(),
        "--base".into(),
        fixture_path("sibling-light-cpu.pb.gz"),
        "--base".into(),
        fixture_path("sibling-heavy-cpu.pb.gz"),
        fixture_path("sibling-hot-cpu.pb.gz"),
    ];
    let out = Command::new(bin).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Compared with 2 base(s): "), "{text}");
    assert!(text.contains("differs-from-siblings: main.(*Index).Rebuild: "), "{text}");
    assert!(text.contains("compared: each function's share of its pod's CPU time"), "{text}");

    let json = Command::new(bin).args(&args).args(["--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["analysis"]["kind"], "pprof");
    assert_eq!(v["comparison"]["profiles"][0]["normalization"], "cpuShare");
    assert_eq!(v["comparison"]["findings"][0]["rule"], "differs-from-siblings");

    // A base of another kind is refused with a message, not compared.
    let bad = Command::new(bin)
        .args(["analyze", "--base", &fixture_path("goroutine.txt"), &fixture_path("sibling-hot-cpu.pb.gz")])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not the same kind of file"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
