//! Real processes for integration tests: the Go fixture program and an S3-compatible server,
//! each started on a free loopback port and killed by PID on drop. Plus a minimal pprof decode.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
/// A free loopback port, never the same twice in one test binary: tests run in parallel, and
/// the kernel may hand a just-released port to the next `bind(0)`, so two servers could be
/// started on one port (one fails to bind, and the test that owns the other kills it early).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut used = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30s");
}

/// A child process killed (by its PID) and reaped on drop.
pub struct Proc {
    child: Child,
    pub port: u16,
}

impl Proc {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds e2e/fixtures/goapp once per test binary; `None` (with the reason printed) without `go`.
pub fn goapp_binary() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if Command::new("go").arg("version").output().is_err() {
            eprintln!("SKIP: `go` is not installed; the goapp fixture cannot be built");
            return None;
        }
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/fixtures");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goapp");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("./goapp")
            .current_dir(&fixtures)
            .status()
            .expect("run go build");
        assert!(status.success(), "go build of e2e/fixtures/goapp failed");
        Some(out)
    })
    .as_deref()
}

/// Starts goapp on a free loopback port with extra flags.
pub fn start_goapp(flags: &[&str]) -> Option<Proc> {
    let bin = goapp_binary()?;
    let port = free_port();
    let mut child = Command::new(bin)
        .arg("-listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-workers", "1"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start goapp");
    wait_for_port(port, &mut child, "goapp");
    Some(Proc { child, port })
}

/// Starts `moto_server` (pip install 'moto[server]') on a free loopback port and waits until it
/// answers HTTP (an open port alone is not enough: under load a probe can connect to itself);
/// `None` (with the reason printed) when it is not installed. Its output goes to a log file
/// that a failure names.
pub fn start_moto() -> Option<Proc> {
    start_moto_on(free_port())
}

/// moto_server on a given port (to start it again where a stopped one listened).
pub fn start_moto_on(port: u16) -> Option<Proc> {
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{port}.log"));
    let out = std::fs::File::create(&log).expect("moto log file");
    let spawned = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(out.try_clone().expect("moto log file"))
        .stderr(out)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIP: moto_server is not installed ({e}); install it with: pip install 'moto[server]'");
            return None;
        }
    };
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("moto_server exited ({status}); its log {}:\n{}", log.display(), read_log(&log));
        }
        if answers_http(port) {
            return Some(Proc { child, port });
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto_server did not answer on 127.0.0.1:{port} within 60s; its log {}:\n{}",
            log.display(),
            read_log(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"))
}

/// True when something on the port answers a plain HTTP request with an HTTP status line.
fn answers_http(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut s, &mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// Runs the real `godiag` binary.
pub fn godiag(args: &[&str]) -> Output {
    godiag_with_env(args, &[])
}

/// Runs the real `godiag` binary with extra environment variables.
pub fn godiag_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_godiag"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run godiag");
    eprintln!(
        "$ godiag {}\n--- stdout\n{}--- stderr\n{}--- {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status
    );
    out
}

/// A profile as godiag's analysis decodes it.
pub use godiag_analyze::pprof::Profile;

/// The analysis crate's decoder on a gzip pprof body; panics with a clear message on anything else.
pub fn decode_pprof(bytes: &[u8]) -> Profile {
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "pprof body is not gzip");
    godiag_analyze::pprof::decode::decode(bytes).expect("profile.proto decode")
}

/// sha256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
