//! What a hostile or broken pod can send, generated here (tiny files that expand, or names and
//! counts chosen to blow up naive structures), each run through `godiag analyze` in a child
//! process under an address-space cap. Each must end with a clear outcome — a result or a
//! precise error — and a peak RSS far under the operator's 256 MiB limit.
//!
//! `cargo test --test hostile_inputs -- --nocapture` prints the table of peak RSS per input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The address-space cap of the child: an allocation past it fails (and aborts the process).
const ADDRESS_SPACE_CAP: u64 = 512 << 20;
/// `GODIAG_HOSTILE_SURVEY=1` only prints the table (outcome and peak RSS, cap raised to 8 GiB):
/// how the figures in the closing notes are measured.
fn survey() -> bool {
    std::env::var_os("GODIAG_HOSTILE_SURVEY").is_some()
}
/// What each input may cost at most, measured as the child's peak RSS.
const MAX_RSS_MIB: u64 = 160;

// ---- protobuf wire helpers (profile.proto is small enough to write by hand) ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(tag: u64, v: u64, out: &mut Vec<u8>) {
    varint(tag << 3, out);
    varint(v, out);
}

fn field_bytes(tag: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint((tag << 3) | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn msg(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

/// A profile's head: one sample type (`strings` 1 and 2) and the string table.
fn head(strings: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(
        1,
        &msg(|m| {
            field_varint(1, 1, m);
            field_varint(2, 2, m);
        }),
        &mut out,
    );
    for s in strings {
        field_bytes(6, s.as_bytes(), &mut out);
    }
    out
}

fn function(id: u64, name: u64) -> Vec<u8> {
    msg(|m| {
        field_varint(1, id, m);
        field_varint(2, name, m);
    })
}

fn location(id: u64, function_id: u64) -> Vec<u8> {
    msg(|m| {
        field_varint(1, id, m);
        field_bytes(4, &msg(|l| field_varint(1, function_id, l)), m);
    })
}

fn sample(locs: &[u64], value: u64) -> Vec<u8> {
    msg(|m| {
        let mut packed = Vec::new();
        for &l in locs {
            varint(l, &mut packed);
        }
        field_bytes(1, &packed, m);
        field_bytes(2, &msg(|v| varint(value, v)), m);
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `prefix`, then `unit` repeated to about `total` bytes, gzipped as a chain of identical gzip
/// members (one 1 MiB member compressed once): a few hundred KB that expand to `total`.
fn gzip_bomb(prefix: &[u8], unit: &[u8], total: usize) -> Vec<u8> {
    let chunk: Vec<u8> = unit.iter().copied().cycle().take((1 << 20) / unit.len() * unit.len()).collect();
    let member = gzip(&chunk);
    let mut out = gzip(prefix);
    for _ in 0..total / chunk.len() {
        out.extend_from_slice(&member);
    }
    out
}

// ---- the inputs ----

/// 60 MiB of empty samples (31 M) in a ~60 KB gzip.
fn empty_samples() -> Vec<u8> {
    gzip_bomb(&head(&["", "samples", "count"]), &[0x12, 0x00], 60 << 20)
}

/// A gzip bomb past the decompression cap (zeros are not even a valid profile).
fn zeros_bomb() -> Vec<u8> {
    gzip_bomb(&[], &[0], 300 << 20)
}

/// 31 M empty strings (~60 KB gzipped).
fn empty_strings() -> Vec<u8> {
    gzip_bomb(&head(&["", "samples", "count"]), &[0x32, 0x00], 60 << 20)
}

/// 30 M empty functions and 30 M empty locations.
fn empty_functions() -> Vec<u8> {
    gzip_bomb(&head(&["", "samples", "count"]), &[0x2a, 0x00], 60 << 20)
}

fn empty_locations() -> Vec<u8> {
    gzip_bomb(&head(&["", "samples", "count"]), &[0x22, 0x00], 60 << 20)
}

/// One 64 KiB function name, repeated in a 4,096-frame stack: a file of a few hundred bytes.
fn long_name_deep_stack(sample_type: &str) -> Vec<u8> {
    let name = "a".repeat(64 << 10);
    let mut p = head(&["", sample_type, "count", &name]);
    field_bytes(2, &sample(&[1; 4096], 1), &mut p);
    field_bytes(4, &location(1, 1), &mut p);
    field_bytes(5, &function(1, 3), &mut p);
    gzip(&p)
}

/// A location of 8,192 inlined frames referenced 16,384 times by one sample (a few KB): its
/// stack would expand to 134 M frames.
fn inlined_frames_bomb() -> Vec<u8> {
    let mut p = head(&["", "samples", "count", "main.f"]);
    field_bytes(2, &sample(&[1; 16384], 1), &mut p);
    let loc = msg(|m| {
        field_varint(1, 1, m);
        for _ in 0..8192 {
            field_bytes(4, &msg(|l| field_varint(1, 1, l)), m);
        }
    });
    field_bytes(4, &loc, &mut p);
    field_bytes(5, &function(1, 3), &mut p);
    gzip(&p)
}

/// A goroutine profile whose 512 samples have distinct 2,048-frame stacks of two 4 KiB names.
fn goroutine_distinct_stacks() -> Vec<u8> {
    let (a, b) = ("a".repeat(4 << 10), "b".repeat(4 << 10));
    let mut p = head(&["", "goroutine", "count", &a, &b]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..512 {
        let stack: Vec<u64> = (0..2048)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + (x & 1)
            })
            .collect();
        field_bytes(2, &sample(&stack, 1), &mut p);
    }
    field_bytes(4, &location(1, 1), &mut p);
    field_bytes(4, &location(2, 2), &mut p);
    field_bytes(5, &function(1, 3), &mut p);
    field_bytes(5, &function(2, 4), &mut p);
    gzip(&p)
}

/// A Go 1.26 trace whose batches start 4 M distinct Ps, each on its own M.
fn trace_many_ps() -> Vec<u8> {
    let mut out = b"go 1.26 trace\0\0\0".to_vec();
    let mut body = Vec::new();
    for p in 0..(4u64 << 20) {
        body.clear();
        body.push(10); // ProcStart: dt, P id, seq
        for a in [1, p, 1] {
            varint(a, &mut body);
        }
        out.push(1); // EventBatch: gen, m, ts, size
        for v in [1, p, 100, body.len() as u64] {
            varint(v, &mut out);
        }
        out.extend_from_slice(&body);
    }
    out
}

/// A debug=2 goroutine dump of 600 K goroutines (~45 MB), each in its own state with its own function.
fn text_distinct_states() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..(600u64 << 10) {
        writeln!(out, "goroutine {i} [state {i}]:\nmain.f{i}()\n\t/app/main.go:{i} +0x1\n").unwrap();
    }
    out
}

/// A text dump whose single goroutine has a 16 MiB function name and 100,000 frames.
fn text_long_frames() -> Vec<u8> {
    let mut out = b"goroutine 1 [running]:\n".to_vec();
    out.extend(std::iter::repeat_n(b'x', 16 << 20));
    out.extend_from_slice(b"()\n\t/app/main.go:1 +0x1\n");
    for _ in 0..100_000 {
        out.extend_from_slice(b"main.g()\n\t/app/main.go:2 +0x1\n");
    }
    out
}

// ---- running them ----

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    peak_rss_mib: u64,
}

/// Runs `godiag analyze ARGS` under [`ADDRESS_SPACE_CAP`] and measures its peak RSS (the
/// kernel's `ru_maxrss` of the child, read by a small Python wrapper that does nothing else).
fn analyze(args: &[&str]) -> Run {
    const WRAPPER: &str = r#"
import resource, subprocess, sys
cap = int(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
r = subprocess.run(sys.argv[2:], preexec_fn=limit, capture_output=True)
sys.stdout.buffer.write(r.stdout)
sys.stderr.buffer.write(r.stderr)
sys.stderr.write("\nPEAK_RSS_KIB=%d\nEXIT=%d\n" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            WRAPPER,
            &(if survey() { 8 << 30 } else { ADDRESS_SPACE_CAP }).to_string(),
            env!("CARGO_BIN_EXE_godiag"),
            "analyze",
        ])
        .args(args)
        .output()
        .expect("python3 runs the measuring wrapper");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let field = |name: &str| -> i64 {
        stderr.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.parse().ok()).expect("wrapper output")
    };
    Run {
        ok: field("EXIT=") == 0,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        peak_rss_mib: field("PEAK_RSS_KIB=") as u64 >> 10,
        stderr,
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

/// An input, what `godiag analyze` must say about it (in stdout on success, stderr on error),
/// and whether that is a success.
struct Case {
    name: &'static str,
    data: Vec<u8>,
    extra: Vec<&'static str>,
    ok: bool,
    says: &'static str,
}

fn check(dir: &Path, c: Case) -> String {
    let path = write(dir, c.name, &c.data);
    let mut args = c.extra.clone();
    args.push(&path);
    let r = analyze(&args);
    let said = if c.ok { &r.stdout } else { &r.stderr };
    if survey() {
        let last = r.stderr.lines().rfind(|l| l.starts_with("error") || l.contains("memory allocation")).unwrap_or("");
        return format!("| {} | {} bytes | {} MiB | exit ok={} {} |", c.name, c.data.len(), r.peak_rss_mib, r.ok, last);
    }
    assert!(!r.stderr.contains("memory allocation of"), "{}: the child ran out of memory:\n{}", c.name, r.stderr);
    assert_eq!(r.ok, c.ok, "{}: exit status; stderr:\n{}", c.name, r.stderr);
    assert!(said.contains(c.says), "{}: expected {:?} in:\n{said}\n{}", c.name, c.says, r.stderr);
    assert!(r.peak_rss_mib <= MAX_RSS_MIB, "{}: peak RSS {} MiB", c.name, r.peak_rss_mib);
    format!("| {} | {} bytes | {} MiB |", c.name, c.data.len(), r.peak_rss_mib)
}

fn case(name: &'static str, data: Vec<u8>, ok: bool, says: &'static str) -> Case {
    Case { name, data, extra: vec![], ok, says }
}

/// Checks every case and prints the table of sizes and peak RSS.
fn check_all(cases: impl IntoIterator<Item = Case>) {
    let dir = tempfile::tempdir().unwrap();
    let table: Vec<String> = cases.into_iter().map(|c| check(dir.path(), c)).collect();
    eprintln!("{}", table.join("\n"));
}

#[test]
fn hostile_pprof_profiles_are_refused_or_analysed_within_bounds() {
    check_all([
        case("empty-samples.pb.gz", empty_samples(), false, "samples"),
        case("zeros-bomb.pb.gz", zeros_bomb(), false, "decompresses to more than"),
        case("empty-strings.pb.gz", empty_strings(), false, "strings"),
        case("empty-functions.pb.gz", empty_functions(), false, "functions"),
        case("empty-locations.pb.gz", empty_locations(), false, "locations"),
        Case {
            extra: vec!["--svg", "/dev/null"],
            ..case("long-name-deep-stack.pb.gz", long_name_deep_stack("samples"), true, "aaaa")
        },
        case("inlined-frames-bomb.pb.gz", inlined_frames_bomb(), false, "stacks expand to more than"),
        case("goroutine-distinct-stacks.pb.gz", goroutine_distinct_stacks(), true, "Goroutines: 512 (512 groups"),
        case("goroutine-long-name.pb.gz", long_name_deep_stack("goroutine"), true, "aaaa"),
    ]);
}

#[test]
fn hostile_traces_and_dumps_are_analysed_within_bounds() {
    check_all([
        case("many-ps.trace", trace_many_ps(), true, "concern Ps or Ms beyond the first 65536"),
        case("distinct-states.txt", text_distinct_states(), true, "counted, not grouped"),
        case("long-frames.txt", text_long_frames(), true, "Goroutines: 1 (1 groups"),
    ]);
}
