//! What a misbehaving server does to the collector: a real HTTP server (axum) on loopback
//! plays a proxy that answers with HTML, a gateway error, a Go pprof error, a handler that
//! never answers, and a body that stalls half-way.

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use godiag::api::ProfileKind;
use godiag::collect::{ByteCaps, CollectPlan, TcpConnector, collect_target};
use godiag::store;
use godiag_analyze::ArtifactKind;
use std::time::{Duration, Instant};

async fn serve() -> u16 {
    let app = Router::new()
        .route(
            "/debug/pprof/heap",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/html")], "<!DOCTYPE html><html><title>Sign in</title></html>")
            }),
        )
        .route(
            "/debug/pprof/allocs",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html><title>502 Bad Gateway</title></html>") }),
        )
        .route(
            "/debug/pprof/threadcreate",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, [("X-Go-Pprof", "1")], "failed to collect profile\n") }),
        )
        .route(
            "/debug/pprof/profile",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route(
            "/debug/pprof/trace",
            get(|| async {
                let head = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"go 1.26 trace\0\0\0"))]);
                Body::from_stream(head.chain(futures::stream::pending()))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn each_misbehaviour_gets_its_own_reason_and_nothing_partial_is_stored() {
    let port = serve().await;
    let conn = TcpConnector::new("127.0.0.1", port);
    let store = store::open("memory://").unwrap();
    let plan = CollectPlan {
        kinds: vec![
            ProfileKind::Cpu,
            ProfileKind::Heap,
            ProfileKind::Allocs,
            ProfileKind::Threadcreate,
            ProfileKind::Trace,
        ],
        cpu_duration: Duration::from_secs(1),
        trace_duration: Duration::from_secs(1),
        grace: Duration::from_millis(500),
        ..CollectPlan::default()
    };
    let started = Instant::now();
    let outcome =
        collect_target(&conn, &plan, store.as_ref(), "t", &godiag::collect::WindowGate::none(), "t", None).await;
    let took = started.elapsed();
    assert!(outcome.artifacts.is_empty(), "{:?}", outcome.artifacts);
    assert!(took < Duration::from_secs(3), "deadlines must bound the whole collection, took {took:?}");

    let by_kind = |k: ArtifactKind| &outcome.failures.iter().find(|f| f.kind == k).unwrap().error;
    let cpu = by_kind(ArtifactKind::Cpu);
    assert_eq!(cpu.reason(), "Timeout", "{cpu}");
    assert!(cpu.to_string().contains("within 1.5s"), "{cpu}");

    let heap = by_kind(ArtifactKind::Heap);
    assert_eq!(heap.reason(), "UnexpectedBody", "{heap}");
    let msg = heap.to_string();
    assert!(msg.contains("did not return a gzip-compressed pprof profile"), "{msg}");
    assert!(msg.contains("text/html") && msg.contains("<!DOCTYPE html>"), "{msg}");

    let allocs = by_kind(ArtifactKind::Allocs);
    assert_eq!(allocs.reason(), "HttpError", "{allocs}");
    assert!(allocs.to_string().contains("not from Go's pprof handler"), "{allocs}");
    assert!(allocs.to_string().contains("502 Bad Gateway"), "{allocs}");

    let tc = by_kind(ArtifactKind::Threadcreate);
    assert_eq!(tc.reason(), "PprofError", "{tc}");
    assert!(tc.to_string().contains("failed to collect profile"), "{tc}");

    let trace = by_kind(ArtifactKind::Trace);
    assert_eq!(trace.reason(), "Timeout", "{trace}");
    let err = store.get_bytes("t/trace.out").await.unwrap_err();
    assert_eq!(err.reason(), "ObjectNotFound", "a stalled body must not leave a partial artifact");
}

/// A pod that answers `/debug/pprof/heap` with an endless gzip-looking body and a 300 KB
/// Content-Type: the body is cut off at the byte cap, nothing is stored, the reason says so,
/// and the header does not blow up the message.
#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_byte_cap() {
    let hostile_type = "x".repeat(300_000);
    let app = Router::new().route(
        "/debug/pprof/heap",
        get(move || {
            let hostile_type = hostile_type.clone();
            async move {
                let gzip_magic =
                    futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(&[0x1f, 0x8b, 8, 0]))]);
                let chunk = Bytes::from(vec![0u8; 64 << 10]);
                let endless = gzip_magic.chain(futures::stream::repeat_with(move || Ok(chunk.clone())));
                ([(header::CONTENT_TYPE, hostile_type)], Body::from_stream(endless))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let conn = TcpConnector::new("127.0.0.1", port);
    let store = store::open("memory://").unwrap();
    let cap = 4 << 20;
    let plan = CollectPlan {
        kinds: vec![ProfileKind::Heap],
        caps: ByteCaps { profile: cap, trace: cap },
        grace: Duration::from_secs(30),
        ..CollectPlan::default()
    };
    let started = Instant::now();
    let outcome =
        collect_target(&conn, &plan, store.as_ref(), "t", &godiag::collect::WindowGate::none(), "t", None).await;
    assert!(outcome.artifacts.is_empty());
    let err = &outcome.failures[0].error;
    assert_eq!(err.reason(), "ArtifactTooLarge", "{err}");
    assert!(err.to_string().contains(&format!("grew past {cap} bytes")), "{err}");
    assert!(err.to_string().len() < 1000, "no header in the message: {} bytes", err.to_string().len());
    assert!(started.elapsed() < Duration::from_secs(20), "cut off at the cap, not at the deadline");
    let missing = store.get_bytes("t/heap.pb.gz").await.unwrap_err();
    assert_eq!(missing.reason(), "ObjectNotFound", "nothing of the oversized body is stored");
}
