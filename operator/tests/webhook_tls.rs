//! The receiver over real TLS: certificates made by the openssl CLI, the receiver's own rustls
//! configuration and listener, a reqwest client. With a client CA configured, a client without
//! a certificate (or with one from another CA) is refused in the handshake; the right one gets
//! through to the token check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use godiag::metrics::Metrics;
use godiag::webhook::auth::TokenFile;
use godiag::webhook::outcome::Reply;
use godiag::webhook::payload::Payload;
use godiag::webhook::receiver::Unavailable;
use godiag::webhook::server::{Deliveries, WebhookState, router};
use godiag::webhook::tls::{TlsFiles, server_config};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

struct Nothing;
impl Deliveries for Nothing {
    fn deliver<'a>(&'a self, _: &'a Payload) -> futures::future::BoxFuture<'a, Result<Reply, Unavailable>> {
        Box::pin(async { Ok(Reply { alerts: vec![] }) })
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA `name`-ca, and a certificate `name` it signed (for localhost/127.0.0.1 when a server).
fn ca_and_cert(dir: &Path, name: &str, server: bool) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    let ext = if server {
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    } else {
        "extendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// The receiver with `tls` on a free loopback port, its token in `dir/token`; its /alerts URL.
fn start(dir: &Path, tls: Arc<rustls::ServerConfig>) -> (String, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let state = WebhookState {
        deliveries: Arc::new(Nothing),
        token: TokenFile { path: dir.join("token") },
        max_body: 1 << 20,
        metrics: Arc::new(Metrics::default()),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://localhost:{}/alerts", listener.local_addr().unwrap().port());
    (url, tokio::spawn(godiag::webhook::serve(listener, router(state), Some(tls))))
}

fn client(dir: &Path, identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("server-ca.crt")).unwrap()).unwrap();
    let mut b = reqwest::Client::builder().add_root_certificate(ca);
    if let Some(name) = identity {
        let mut pem = std::fs::read(dir.join(format!("{name}.crt"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
async fn https_with_client_certificates() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ca_and_cert(d, "server", true);
    ca_and_cert(d, "alertmanager", false);
    ca_and_cert(d, "stranger", false);
    std::fs::write(d.join("token"), "s3cret").unwrap();
    let tls = server_config(&TlsFiles {
        cert: d.join("server.crt"),
        key: d.join("server.key"),
        client_ca: Some(d.join("alertmanager-ca.crt")),
    })
    .expect("the receiver's TLS configuration");
    let (url, server) = start(d, tls);
    let body = r#"{"version":"4","alerts":[]}"#;
    let post = |c: reqwest::Client| {
        let url = url.clone();
        async move {
            c.post(&url)
                .header("authorization", "Bearer s3cret")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        }
    };
    let ok = post(client(d, Some("alertmanager"))).await.expect("the right client certificate is accepted");
    assert_eq!(ok.status(), 200);
    assert!(post(client(d, None)).await.is_err(), "no client certificate: refused in the handshake");
    assert!(post(client(d, Some("stranger"))).await.is_err(), "a certificate of another CA: refused");
    server.abort();

    // Without a client CA, any TLS client gets to the token check.
    let tls =
        server_config(&TlsFiles { cert: d.join("server.crt"), key: d.join("server.key"), client_ca: None }).unwrap();
    let (url, server) = start(d, tls);
    let r = client(d, None).post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    server.abort();
}

#[test]
fn unreadable_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    let e = server_config(&TlsFiles { cert: dir.path().join("empty.crt"), key: dir.path().join("k"), client_ca: None })
        .unwrap_err();
    assert!(e.to_string().contains("empty.crt") && e.to_string().contains("no PEM certificate"), "{e}");
    let e =
        server_config(&TlsFiles { cert: dir.path().join("missing.crt"), key: dir.path().join("k"), client_ca: None })
            .unwrap_err();
    assert!(e.to_string().starts_with("cannot read certificates from"), "{e}");
}
