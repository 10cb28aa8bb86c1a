//! `godiag collect` against the real Go fixture program (e2e/fixtures/goapp), built with the
//! machine's `go`. Every artifact is decoded back; every Go quirk gets its precise message.

mod support;

use godiag::api::ProfileKind;
use godiag::collect::{CollectPlan, Connector, TcpConnector, collect_target};
use godiag::store::{self, Manifest};
use godiag_analyze::{ArtifactFormat, ArtifactKind};
use std::path::Path;
use std::time::Duration;
use support::*;

const ALL: &str = "cpu,heap,allocs,goroutine,block,mutex,threadcreate,trace";

fn read_manifest(out: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json")).expect("manifest json")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn all_eight_kinds_are_collected_and_decode() {
    let Some(app) = start_goapp(&["-block-rate", "1", "-mutex-fraction", "1"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out_url = format!("file://{}", tmp.path().display());
    let o = godiag(&[
        "collect",
        &app.url(),
        "--profiles",
        ALL,
        "--duration",
        "2s",
        "--trace-duration",
        "1s",
        "--out",
        &out_url,
        "--name",
        "goapp",
    ]);
    assert!(o.status.success(), "exit {}", o.status);

    let m = read_manifest(tmp.path());
    let t = &m.targets[0];
    assert_eq!(t.name, "goapp");
    assert!(t.failures.is_empty(), "{:?}", t.failures);
    let mut kinds: Vec<ArtifactKind> = t.artifacts.iter().map(|a| a.kind).collect();
    kinds.sort();
    let pprof_kinds: Vec<ArtifactKind> = ArtifactKind::ALL
        .into_iter()
        .filter(|k| {
            !matches!(k.format(), godiag_analyze::ArtifactFormat::DelveJson | godiag_analyze::ArtifactFormat::Text)
                && !matches!(k, ArtifactKind::DelveGoroutines | ArtifactKind::Crash | ArtifactKind::Goroutineleak)
        })
        .collect();
    assert_eq!(kinds, pprof_kinds, "every pprof artifact once, the goroutine text dump beside the profile");
    assert!(t.artifacts.iter().all(|a| a.format == a.kind.format()));
    // Go 1.26 has no goroutineleak profile (without GOEXPERIMENT): said, and not a failure.
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("not offered by the program: goroutineleak (goroutineleak needs Go 1.27"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    for a in &t.artifacts {
        let file = tmp.path().join(&a.object.path);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(bytes.len() as u64, a.object.bytes, "{} size", a.object.path);
        assert_eq!(sha256_hex(&bytes), a.object.sha256, "{} sha256", a.object.path);
        assert!(a.object.uri.starts_with("file:///") && a.object.uri.ends_with(&a.object.path), "{}", a.object.uri);
        match a.format {
            ArtifactFormat::Pprof => {
                let p = decode_pprof(&bytes);
                assert!(!p.sample_types.is_empty(), "{}: no sample types", a.object.path);
                if matches!(
                    a.kind,
                    ArtifactKind::Cpu | ArtifactKind::Goroutine | ArtifactKind::Block | ArtifactKind::Mutex
                ) {
                    assert!(p.sample_count() > 0, "{}: no samples", a.object.path);
                }
                // Go starts the profile's clock in a goroutine: under load it starts late.
                if a.kind == ArtifactKind::Cpu {
                    assert!(p.duration_nanos >= 1_000_000_000, "cpu profile lasted {}ns", p.duration_nanos);
                }
                assert_eq!(a.note, None, "{}: unexpected note", a.object.path);
            }
            ArtifactFormat::Trace => assert!(bytes.starts_with(b"go 1."), "trace header {:?}", &bytes[..16]),
            ArtifactFormat::GoroutineText => {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.contains("goroutine 1 ["), "{}", &text[..200.min(text.len())]);
            }
            ArtifactFormat::DelveJson | ArtifactFormat::Text => {
                panic!("godiag collect stored a Delve artifact: {}", a.object.path)
            }
        }
    }
    let s = stdout(&o);
    assert!(s.contains("9 of 9 artifacts stored"), "{s}");
    assert!(s.contains("threadcreate"), "{s}");
}

#[test]
fn default_rates_give_empty_block_and_mutex_with_a_note() {
    let Some(app) = start_goapp(&[]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let o = godiag(&[
        "collect",
        &app.url(),
        "--profiles",
        "block,mutex,heap",
        "--out",
        &format!("file://{}", tmp.path().display()),
    ]);
    assert!(o.status.success());
    let m = read_manifest(tmp.path());
    let t = &m.targets[0];
    assert_eq!(t.name, format!("127.0.0.1_{}", app.port));
    for a in &t.artifacts {
        let p = decode_pprof(&std::fs::read(tmp.path().join(&a.object.path)).unwrap());
        match a.kind {
            ArtifactKind::Block => {
                assert!(p.sample_count() == 0);
                assert!(a.note.as_deref().unwrap_or("").contains("never called runtime.SetBlockProfileRate"), "{a:?}");
            }
            ArtifactKind::Mutex => {
                assert!(p.sample_count() == 0);
                assert!(
                    a.note.as_deref().unwrap_or("").contains("never called runtime.SetMutexProfileFraction"),
                    "{a:?}"
                );
            }
            _ => assert_eq!(a.note, None),
        }
    }
    assert!(stdout(&o).contains("never called runtime.SetBlockProfileRate"));
}

/// Go before 1.23 (golang/go#18755) answers 400 "profile duration exceeds server's WriteTimeout";
/// newer Go extends the write deadline by the duration instead (golang/go#62358). The test
/// checks whichever behaviour the installed Go has, read from its own net/http/pprof source.
#[test]
fn duration_longer_than_write_timeout() {
    let Some(app) = start_goapp(&["-write-timeout", "2s"]) else {
        return;
    };
    let goroot = std::process::Command::new("go").args(["env", "GOROOT"]).output().unwrap();
    let goroot = String::from_utf8_lossy(&goroot.stdout).trim().to_owned();
    let src = std::fs::read_to_string(Path::new(&goroot).join("src/net/http/pprof/pprof.go")).unwrap_or_default();
    let go_refuses = src.contains("exceeds server's WriteTimeout");

    let tmp = tempfile::tempdir().unwrap();
    let o = godiag(&[
        "collect",
        &app.url(),
        "--profiles",
        "cpu",
        "--duration",
        "3s",
        "--out",
        &format!("file://{}", tmp.path().display()),
    ]);
    let m = read_manifest(tmp.path());
    let t = &m.targets[0];
    if go_refuses {
        assert!(!o.status.success());
        assert_eq!(t.failures[0].reason, "DurationExceedsWriteTimeout");
        assert!(t.failures[0].message.contains("must be lower than the program's http.Server WriteTimeout"));
    } else {
        eprintln!("this Go ({goroot}) extends the write deadline: the 3s profile must come back whole");
        assert!(o.status.success(), "{:?}", t.failures);
        let p = decode_pprof(&std::fs::read(tmp.path().join(&t.artifacts[0].object.path)).unwrap());
        assert!(p.duration_nanos >= 2_000_000_000, "profile lasted {}ns", p.duration_nanos);
    }
}

#[test]
fn program_without_pprof_is_named_precisely() {
    let Some(app) = start_goapp(&["-no-pprof"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let o = godiag(&[
        "collect",
        &app.url(),
        "--profiles",
        "cpu,heap,trace",
        "--duration",
        "1s",
        "--out",
        &format!("file://{}", tmp.path().display()),
    ]);
    assert!(!o.status.success(), "nothing collected must be a failure");
    let m = read_manifest(tmp.path());
    let t = &m.targets[0];
    assert!(t.artifacts.is_empty());
    assert_eq!(t.failures.len(), 3);
    for f in &t.failures {
        assert_eq!(f.reason, "NoPprofEndpoint");
        assert!(f.message.contains("does not serve net/http/pprof at that path"), "{}", f.message);
    }
    assert!(stdout(&o).contains("does not serve net/http/pprof at that path"));
}

#[test]
fn connection_refused_is_named_precisely() {
    let port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let o = godiag(&[
        "collect",
        &format!("http://127.0.0.1:{port}"),
        "--profiles",
        "heap,goroutine",
        "--out",
        &format!("file://{}", tmp.path().display()),
    ]);
    assert!(!o.status.success());
    let s = stdout(&o);
    assert!(
        s.contains(&format!(
            "nothing accepts connections at 127.0.0.1:{port} (connection refused): the program does not serve net/http/pprof at that port"
        )),
        "{s}"
    );
    let m = read_manifest(tmp.path());
    assert!(m.targets[0].failures.iter().all(|f| f.reason == "NoPprofEndpoint"));
}

#[test]
fn https_is_refused_with_a_clear_error() {
    let o = godiag(&["collect", "https://127.0.0.1:6060", "--out", "memory://"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("https is not supported"));
}

/// Two CPU profiles at once: Go allows one per process. The second one sees HTTP 500
/// "cpu profiling already in use", backs off, and either succeeds after the first one ends
/// or names the other profiler precisely.
#[test]
fn concurrent_cpu_profiles_retry_or_name_the_other_profiler() {
    let Some(app) = start_goapp(&[]) else { return };
    let url = app.url();
    let runs: Vec<(std::process::Output, tempfile::TempDir)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || {
                    let tmp = tempfile::tempdir().unwrap();
                    let out = format!("file://{}", tmp.path().display());
                    let o = godiag(&["collect", &url, "--profiles", "cpu", "--duration", "2s", "--out", &out]);
                    (o, tmp)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ok = 0;
    let mut retried = false;
    for (o, tmp) in &runs {
        retried |= String::from_utf8_lossy(&o.stderr).contains("busy; retrying");
        let m = read_manifest(tmp.path());
        if o.status.success() {
            ok += 1;
        } else {
            let f = &m.targets[0].failures[0];
            assert_eq!(f.reason, "CpuProfilerBusy");
            assert!(f.message.contains("another CPU profiler holds the program's profiler"), "{}", f.message);
        }
    }
    assert!(ok >= 1, "at least the first profile must succeed");
    assert!(retried, "one of the two runs must have hit 'cpu profiling already in use' and retried");
}

/// The library API the controller uses, into an in-memory store.
#[tokio::test]
async fn pipeline_into_memory_store() {
    let Some(app) = start_goapp(&[]) else { return };
    let conn = TcpConnector::new("127.0.0.1", app.port);
    assert_eq!(conn.describe(), format!("127.0.0.1:{}", app.port));
    let store = store::open("memory:///godiag").unwrap();
    let plan = CollectPlan::new(
        vec![ProfileKind::Cpu, ProfileKind::Goroutine, ProfileKind::Trace],
        "/debug/pprof",
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    let dir = store::layout::target_dir("shop", "req", "pod-a");
    let started = std::time::Instant::now();
    let outcome =
        collect_target(&conn, &plan, store.as_ref(), &dir, &godiag::collect::WindowGate::none(), "t", None).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    // Sequential would take at least 4s.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3800), "cpu and trace must share one window, took {took:?}");
    let paths: Vec<&str> = outcome.artifacts.iter().map(|a| a.object.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "shop/req/pod-a/cpu.pb.gz",
            "shop/req/pod-a/goroutine.pb.gz",
            "shop/req/pod-a/goroutine.txt",
            "shop/req/pod-a/trace.out"
        ]
    );
    for a in &outcome.artifacts {
        let bytes = store.get_bytes(&a.object.path).await.unwrap();
        assert_eq!(sha256_hex(&bytes), a.object.sha256);
        assert_eq!(a.object.uri, format!("memory:///godiag/{}", a.object.path));
    }
}

/// While another client holds the CPU profiler for longer than all retries, the collection
/// fails with the precise "another CPU profiler" message and the attempt count, and the other
/// kinds still succeed.
#[tokio::test]
async fn cpu_profiler_held_elsewhere_fails_precisely_after_retries() {
    use std::io::{Read, Write};
    let Some(app) = start_goapp(&[]) else { return };
    let port = app.port;
    // The "other profiler": a raw 4s CPU profile request held open on its own thread.
    let holder = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /debug/pprof/profile?seconds=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let conn = TcpConnector::new("127.0.0.1", port);
    let store = store::open("memory://").unwrap();
    let plan = CollectPlan {
        kinds: vec![ProfileKind::Cpu, ProfileKind::Heap],
        cpu_duration: Duration::from_secs(1),
        busy_retries: 2,
        busy_backoff: Duration::from_millis(300),
        ..CollectPlan::default()
    };
    let outcome =
        collect_target(&conn, &plan, store.as_ref(), "t", &godiag::collect::WindowGate::none(), "t", None).await;
    assert_eq!(outcome.artifacts.len(), 1, "heap must still be collected");
    assert_eq!(outcome.artifacts[0].kind, ArtifactKind::Heap);
    let f = &outcome.failures[0];
    assert_eq!((f.kind, f.error.reason()), (ArtifactKind::Cpu, "CpuProfilerBusy"));
    let msg = f.error.to_string();
    assert!(msg.contains("another CPU profiler holds the program's profiler"), "{msg}");
    assert!(msg.contains("after 3 attempts"), "{msg}");
    holder.join().unwrap();
}

/// Each artifact is handed over the moment it is stored (the operator analyses it then): the
/// snapshots come out while the CPU window still runs, before the CPU profile, and every stored
/// artifact is handed over exactly once.
#[tokio::test]
async fn snapshots_are_handed_over_before_the_window_ends() {
    let Some(app) = start_goapp(&[]) else { return };
    let conn = TcpConnector::new("127.0.0.1", app.port);
    let store = store::open("memory:///godiag").unwrap();
    let plan = CollectPlan::new(
        vec![ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Goroutine],
        "/debug/pprof",
        Duration::from_secs(2),
        Duration::from_secs(1),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome =
        collect_target(&conn, &plan, store.as_ref(), "t", &godiag::collect::WindowGate::none(), "t", Some(tx)).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let mut handed = Vec::new();
    while let Some(a) = rx.recv().await {
        handed.push(a.kind);
    }
    assert_eq!(handed.last(), Some(&ArtifactKind::Cpu), "the CPU profile ends its window last: {handed:?}");
    let mut stored: Vec<ArtifactKind> = outcome.artifacts.iter().map(|a| a.kind).collect();
    handed.sort();
    stored.sort();
    assert_eq!(handed, stored, "every stored artifact handed over once");
}
