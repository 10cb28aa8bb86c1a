//! `godiag collect URL`: the collection pipeline against a plain URL, without Kubernetes.

use crate::cli::CollectArgs;
use crate::collect::{CollectError, CollectPlan, TargetOutcome, TcpConnector, collect_target};
use crate::store::{self, Manifest, layout};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// Default execution trace window when `--trace-duration` is absent: min(`--duration`, 5s).
const DEFAULT_TRACE: Duration = Duration::from_secs(5);

/// Where `godiag collect` connects, from its URL argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when the URL has none).
    pub port: u16,
    /// The URL's path, when it has one other than `/`: used as the pprof path.
    pub path: Option<String>,
}

impl HttpTarget {
    /// Default directory name under `--out`: `host_port`.
    pub fn default_name(&self) -> String {
        layout::segment(&format!("{}_{}", self.host, self.port))
    }
}

/// Parses the target URL: `http://host:port[/path]`. https is refused with a clear message.
pub fn parse_target(raw: &str) -> Result<HttpTarget, CollectError> {
    let invalid = |message: &str| CollectError::InvalidTarget { url: raw.to_owned(), message: message.to_owned() };
    let url = url::Url::parse(raw).map_err(|e| invalid(&format!("{e}; expected http://host:port")))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "https is not supported: net/http/pprof is normally served on a plain-HTTP debug port; give its http:// address",
            ));
        }
        other => {
            return Err(invalid(&format!("unsupported scheme {other:?}; expected http://host:port")));
        }
    }
    let host = url.host_str().ok_or_else(|| invalid("missing host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let path = match url.path().trim_end_matches('/') {
        "" => None,
        p => Some(p.to_owned()),
    };
    Ok(HttpTarget { host, port, path })
}

/// Builds the plan from the CLI arguments and the parsed URL.
pub fn plan_from_args(args: &CollectArgs, target: &HttpTarget) -> CollectPlan {
    let trace = args.trace_duration.unwrap_or_else(|| args.duration.min(DEFAULT_TRACE));
    let path = target.path.as_deref().unwrap_or(&args.path);
    CollectPlan { caps: args.caps.caps(), ..CollectPlan::new(args.profiles.clone(), path, args.duration, trace) }
}

/// One program `godiag collect` was given: where, what, and under which name.
struct LocalTarget {
    name: String,
    source: String,
    conn: TcpConnector,
    plan: CollectPlan,
}

/// The targets of a `godiag collect` command line, each under a distinct directory name.
fn targets_from_args(args: &CollectArgs) -> Result<Vec<LocalTarget>, CollectError> {
    if args.name.is_some() && args.urls.len() > 1 {
        return Err(CollectError::InvalidTarget {
            url: args.urls.join(" "),
            message: "--name names one target; with several URLs each is named host_port".into(),
        });
    }
    let mut targets: Vec<LocalTarget> = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        let target = parse_target(url)?;
        let plan = plan_from_args(args, &target);
        let name = args.name.as_deref().map(layout::segment).unwrap_or_else(|| target.default_name());
        if targets.iter().any(|t| t.name == name) {
            return Err(CollectError::InvalidTarget {
                url: url.clone(),
                message: format!("given twice (both would be stored under {name}/)"),
            });
        }
        let conn = TcpConnector::new(target.host.clone(), target.port);
        let source = describe_url(&conn, &plan.path);
        targets.push(LocalTarget { name, source, conn, plan });
    }
    Ok(targets)
}

/// Runs `godiag collect`: collects every URL in one window, writes `<out>/<name>/…` and
/// `<out>/manifest.json`, prints a table per target. Exit code 0 when every target stored at
/// least one artifact, 1 otherwise.
pub async fn run_collect(args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let targets = targets_from_args(args)?;
    let out = store::open(&args.out)?;
    let gate = if targets.len() > 1 {
        crate::collect::WindowGate::new(targets.iter().map(|t| t.name.clone()))
    } else {
        crate::collect::WindowGate::none()
    };
    for t in &targets {
        println!("collecting {} from {}…", describe_kinds(&t.plan), t.source);
    }
    let started = jiff::Timestamp::now();
    let clock = std::time::Instant::now();
    let outcomes = futures::future::join_all(
        targets.iter().map(|t| collect_target(&t.conn, &t.plan, out.as_ref(), &t.name, &gate, &t.name, None)),
    )
    .await;
    let elapsed = clock.elapsed();

    let mut manifest = Manifest::new(None, None, started);
    manifest.targets = targets.iter().zip(&outcomes).map(|(t, o)| o.to_manifest(&t.name, &t.source)).collect();
    manifest.finished = jiff::Timestamp::now();
    let written = manifest.write(out.as_ref(), layout::MANIFEST_FILE).await?;

    for (t, outcome) in targets.iter().zip(&outcomes) {
        if targets.len() > 1 {
            println!("\n== {} ({})", t.name, t.source);
        }
        print!("{}", render_table(outcome));
    }
    let stored: usize = outcomes.iter().map(|o| o.artifacts.len()).sum();
    let failed: usize = outcomes.iter().map(|o| o.failures.len()).sum();
    println!(
        "{stored} of {} artifacts stored in {:.1}s{}; manifest: {}",
        stored + failed,
        elapsed.as_secs_f64(),
        window_spread(&outcomes).map(|s| format!(" (windows started within {s})")).unwrap_or_default(),
        written.uri
    );
    Ok(if outcomes.iter().all(|o| !o.artifacts.is_empty()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// How far apart the targets' windows started, when there are several.
fn window_spread(outcomes: &[TargetOutcome]) -> Option<String> {
    let starts: Vec<jiff::Timestamp> = outcomes.iter().filter_map(|o| o.window_start).collect();
    let (first, last) = (starts.iter().min()?, starts.iter().max()?);
    if starts.len() < 2 {
        return None;
    }
    let ms = last.duration_since(*first).as_secs_f64() * 1e3;
    Some(format!("{ms:.0} ms"))
}

/// `http://host:port/path`, for messages.
fn describe_url(conn: &TcpConnector, path: &str) -> String {
    use crate::collect::Connector;
    format!("http://{}{}", conn.describe(), path)
}

/// `cpu (10s),heap,trace (5s)`.
fn describe_kinds(plan: &CollectPlan) -> String {
    let kinds: Vec<String> = plan
        .kinds
        .iter()
        .map(|k| match k {
            crate::api::ProfileKind::Cpu => format!("cpu ({:?})", plan.cpu_duration),
            crate::api::ProfileKind::Trace => format!("trace ({:?})", plan.trace_duration),
            other => other.as_str().to_owned(),
        })
        .collect();
    kinds.join(",")
}

/// A readable table of the outcome: artifacts (kind, format, bytes, sha256 prefix, note), then
/// failures (kind, format, reason, message).
pub fn render_table(outcome: &TargetOutcome) -> String {
    let mut s = String::new();
    if !outcome.artifacts.is_empty() {
        let _ = writeln!(s, "{:<13} {:<13} {:>11}  {:<12}  {:<40}  NOTE", "KIND", "FORMAT", "BYTES", "SHA256", "PATH");
        for a in &outcome.artifacts {
            let sha = a.object.sha256.get(..12).unwrap_or(&a.object.sha256);
            let _ = writeln!(
                s,
                "{:<13} {:<13} {:>11}  {:<12}  {:<40}  {}",
                a.kind.as_str(),
                a.kind.format().as_str(),
                a.object.bytes,
                sha,
                a.object.path,
                a.note.as_deref().unwrap_or("")
            );
        }
    }
    if !outcome.unavailable.is_empty() {
        let _ = writeln!(s, "\n{}", crate::collect::unavailable_note(&outcome.unavailable));
    }
    if !outcome.failures.is_empty() {
        let _ = writeln!(s, "\nFAILED");
        for f in &outcome.failures {
            let format = f.kind.format();
            let _ = writeln!(s, "{:<13} {:<13} {:<28} {}", f.kind.as_str(), format.as_str(), f.error.reason(), f.error);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{CollectedArtifact, KindFailure};
    use crate::store::StoredObject;
    use godiag_analyze::ArtifactKind;

    #[test]
    fn parses_http_targets() {
        assert_eq!(
            parse_target("http://127.0.0.1:6060").unwrap(),
            HttpTarget { host: "127.0.0.1".into(), port: 6060, path: None }
        );
        let t = parse_target("http://[::1]:7070/internal/pprof/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_deref()), ("::1", 7070, Some("/internal/pprof")));
        assert_eq!(t.default_name(), "__1_7070");
        assert_eq!(parse_target("http://svc").unwrap().port, 80);
    }

    #[test]
    fn https_is_refused_clearly() {
        let e = parse_target("https://127.0.0.1:6060").unwrap_err();
        assert_eq!(e.reason(), "InvalidTarget");
        assert!(e.to_string().contains("https is not supported"), "{e}");
        assert!(parse_target("127.0.0.1:6060").is_err());
    }

    #[test]
    fn trace_defaults_to_min_of_duration_and_5s() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["godiag", "collect", "http://127.0.0.1:6060"];
            argv.extend_from_slice(extra);
            let crate::cli::Command::Collect(a) = crate::cli::Cli::try_parse_from(argv).unwrap().command else {
                panic!("not collect")
            };
            plan_from_args(&a, &parse_target(&a.urls[0]).unwrap())
        };
        assert_eq!(parse(&["--duration", "2s"]).trace_duration, Duration::from_secs(2));
        assert_eq!(parse(&["--duration", "30s"]).trace_duration, Duration::from_secs(5));
        assert_eq!(parse(&["--duration", "30s", "--trace-duration", "7s"]).trace_duration, Duration::from_secs(7));
        assert_eq!(parse(&[]).path, "/debug/pprof");
    }

    #[test]
    fn several_urls_are_several_targets_with_distinct_names() {
        use clap::Parser;
        let parse = |argv: &[&str]| {
            let crate::cli::Command::Collect(a) = crate::cli::Cli::try_parse_from(argv).unwrap().command else {
                panic!("not collect")
            };
            targets_from_args(&a)
        };
        let t = parse(&["godiag", "collect", "http://127.0.0.1:6060", "http://127.0.0.1:6061/internal"]).unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["127.0.0.1_6060", "127.0.0.1_6061"]);
        assert_eq!(t[1].plan.path, "/internal", "each URL keeps its own pprof path");
        let e = parse(&["godiag", "collect", "http://127.0.0.1:6060", "http://127.0.0.1:6060/x"]).err().unwrap();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = parse(&["godiag", "collect", "--name", "a", "http://h:1", "http://h:2"]).err().unwrap();
        assert!(e.to_string().contains("--name names one target"), "{e}");
        assert!(crate::cli::Cli::try_parse_from(["godiag", "collect"]).is_err(), "a URL is required");
    }

    #[test]
    fn table_lists_artifacts_and_failures() {
        let outcome = TargetOutcome {
            window_start: None,
            artifacts: vec![CollectedArtifact {
                kind: ArtifactKind::Block,
                object: StoredObject {
                    path: "x/block.pb.gz".into(),
                    uri: "file:///o/x/block.pb.gz".into(),
                    bytes: 97,
                    sha256: "0123456789abcdef".repeat(4),
                    note: None,
                },
                note: Some("empty: rate".into()),
            }],
            failures: vec![KindFailure {
                kind: ArtifactKind::Cpu,
                error: CollectError::ConnectionRefused { target: "127.0.0.1:1".into() },
            }],
            unavailable: vec![],
        };
        let t = render_table(&outcome);
        assert!(t.contains("block         pprof                  97  0123456789ab"), "{t}");
        assert!(t.contains("empty: rate"), "{t}");
        assert!(t.contains("cpu           pprof         NoPprofEndpoint"), "{t}");
    }
}
