//! The S3 backend against a real S3-compatible server on loopback (moto_server, from
//! `pip install 'moto[server]'`). Skips with a printed reason only when moto_server is absent.

mod support;

use bytes::Bytes;
use futures::StreamExt;
use godiag::store::{self, Manifest};
use support::*;

const BUCKET: &str = "godiag-test";
const KEY: &str = "AKIDGODIAGTEST";
const SECRET: &str = "godiag-test-secret";

/// Starts moto and creates the bucket.
async fn s3() -> Option<(Proc, String)> {
    let moto = start_moto()?;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let resp = reqwest::Client::new().put(format!("{endpoint}/{BUCKET}")).send().await.expect("create bucket");
    assert!(resp.status().is_success(), "create bucket: {}", resp.status());
    Some((moto, endpoint))
}

fn url(endpoint: &str, prefix: &str) -> String {
    format!(
        "s3://{BUCKET}/{prefix}?endpoint={endpoint}&allow_http=true&region=us-east-1&access_key_id={KEY}&secret_access_key={SECRET}"
    )
}

#[tokio::test]
async fn s3_multipart_stream_sha256_and_manifest() {
    let Some((_moto, endpoint)) = s3().await else {
        return;
    };
    let store = store::open(&url(&endpoint, "godiag/prod")).unwrap();

    // 12 MiB in 64 KiB chunks: three multipart parts of 5, 5 and 2 MiB.
    let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let obj = store.put_stream("shop/req/pod-a/trace.out", futures::stream::iter(chunks).boxed()).await.unwrap();
    assert_eq!(obj.bytes, data.len() as u64);
    assert_eq!(obj.sha256, sha256_hex(&data));
    assert_eq!(obj.uri, format!("s3://{BUCKET}/godiag/prod/shop/req/pod-a/trace.out"));
    assert_eq!(store.get_bytes("shop/req/pod-a/trace.out").await.unwrap(), Bytes::from(data));

    // Small object (single PUT), read back through the manifest type.
    let mut m = Manifest::new(Some("shop".into()), Some("req".into()), jiff::Timestamp::now());
    m.targets.push(godiag::store::manifest::TargetEntry {
        name: "pod-a".into(),
        source: "test".into(),
        sibling: false,
        owner: None,
        artifacts: vec![],
        failures: vec![],
        error: None,
        window_start: None,
    });
    m.write(store.as_ref(), &godiag::store::layout::manifest_path("shop", "req")).await.unwrap();
    let back = Manifest::read(store.as_ref(), "shop/req/manifest.json").await.unwrap();
    assert_eq!(back, m);

    let err = store.get_bytes("shop/req/absent").await.unwrap_err();
    assert_eq!(err.reason(), "ObjectNotFound", "{err}");
}

#[tokio::test]
async fn s3_missing_bucket_is_a_write_error_not_a_hang() {
    let Some((_moto, endpoint)) = s3().await else {
        return;
    };
    // A bucket that does not exist: the server refuses, put_stream reports it.
    let store = store::open(&url(&endpoint, "x").replace(BUCKET, "no-such-bucket")).unwrap();
    let body = futures::stream::iter([Ok(Bytes::from_static(b"go 1.26 trace"))]).boxed();
    let err = store.put_stream("a/trace.out", body).await.unwrap_err();
    assert_eq!(err.reason(), "StorageWriteFailed", "{err}");
}

/// `godiag collect --out s3://…` with the S3 settings taken from the standard AWS_* variables.
#[tokio::test]
async fn godiag_collect_to_s3_from_aws_env() {
    let Some((_moto, endpoint)) = s3().await else {
        return;
    };
    let Some(app) = start_goapp(&[]) else { return };
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let app_url = app.url();
    let out = format!("s3://{BUCKET}/cli");
    // Blocking is fine here: nothing in this runtime has to make progress meanwhile.
    let o = godiag_with_env(
        &["collect", &app_url, "--profiles", "cpu,heap,trace", "--duration", "1s", "--out", &out, "--name", "goapp"],
        &env,
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("manifest: s3://{BUCKET}/cli/manifest.json")));

    let store = store::open(&url(&endpoint, "cli")).unwrap();
    let m = Manifest::read(store.as_ref(), "manifest.json").await.unwrap();
    assert_eq!(m.targets[0].artifacts.len(), 3, "{:?}", m.targets[0].failures);
    for a in &m.targets[0].artifacts {
        let bytes = store.get_bytes(&a.object.path).await.unwrap();
        assert_eq!(bytes.len() as u64, a.object.bytes);
        assert_eq!(sha256_hex(&bytes), a.object.sha256);
        assert!(a.object.uri.starts_with(&format!("s3://{BUCKET}/cli/goapp/")), "{}", a.object.uri);
    }
}

/// Object storage down for a while: the upload is spooled locally and retried, and lands once
/// the server is back — nothing lost, and the object says it took retries.
#[tokio::test]
async fn an_outage_is_ridden_out_from_the_spool() {
    let Some((moto, endpoint)) = s3().await else {
        return;
    };
    let port = moto.port;
    let spool = tempfile::tempdir().unwrap();
    let opts = store::OperatorStorage {
        quota: None,
        spool_dir: Some(spool.path().to_path_buf()),
        retry_window: std::time::Duration::from_secs(60),
    };
    let (store, _) = store::open_for_operator(&url(&endpoint, "outage"), &opts).unwrap();
    drop(moto); // the server goes away (killed by PID)

    // Small enough to be spooled at once even on a loaded machine: the first upload attempt
    // surely meets the stopped server.
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 241) as u8).collect();
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let upload = tokio::spawn({
        let store = store.clone();
        async move { store.put_stream("shop/req/pod-a/trace.out", futures::stream::iter(chunks).boxed()).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(!upload.is_finished(), "still retrying while the server is down");
    // Back on the same port (moto keeps nothing across a restart: the bucket is made again).
    let _moto = start_moto_on(port).expect("moto_server again");
    let resp = reqwest::Client::new().put(format!("{endpoint}/{BUCKET}")).send().await.unwrap();
    assert!(resp.status().is_success());

    let obj = upload.await.unwrap().expect("stored once the server is back");
    assert_eq!(obj.bytes, data.len() as u64);
    assert_eq!(obj.sha256, sha256_hex(&data));
    let note = obj.note.expect("a note about the retries");
    assert!(note.starts_with("stored after ") && note.contains("attempts"), "{note}");
    assert_eq!(store.get_bytes("shop/req/pod-a/trace.out").await.unwrap(), Bytes::from(data));
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0, "the spool file is gone");
}
