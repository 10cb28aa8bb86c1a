//! The command line: one clap struct. Every setting can also come from a `GODIAG_*` environment
//! variable, which is how the Helm chart and the kustomize manifests configure the operator.

use crate::api::ProfileKind;
use crate::collect::ByteCaps;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "godiag", version, about = "Diagnose Go programs on demand: pprof, goroutine dumps, execution traces")]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "GODIAG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or `godiag=debug,kube=info`.
    #[arg(long, env = "GODIAG_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator: watch DiagnosisRequests in the cluster named by KUBECONFIG or the in-cluster config.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crdgen,
    /// Collect profiles from a Go program's pprof server at a plain URL, without Kubernetes.
    Collect(CollectArgs),
    /// Analyse a pprof profile, goroutine dump or execution trace (kind detected from content).
    Analyze(AnalyzeArgs),
    /// Render a request's report.html from its stored artifacts (a request directory, or its
    /// storage URL such as s3://bucket/prefix/NAMESPACE/REQUEST).
    Report(ReportArgs),
    /// Talk to a headless Delve you started yourself (`dlv attach PID --headless --listen=127.0.0.1:PORT`).
    #[command(subcommand)]
    Delve(DelveCommand),
    /// Internal: the operator's analysis child process (one artifact on stdin, JSON on stdout).
    #[command(hide = true)]
    AnalyzeWorker(AnalyzeWorkerArgs),
}

/// How the operator's analysis child process is bounded.
#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// Address-space cap of the analysis process, in bytes; an artifact that needs more is
    /// stored but not analysed ("analysis skipped: needs more than N MiB").
    #[arg(long, env = "GODIAG_ANALYSIS_MAX_MEMORY", default_value_t = 256 << 20)]
    pub analysis_max_memory: u64,
    /// Longest analysis of one artifact (wall clock, and the same number of CPU seconds).
    #[arg(long, env = "GODIAG_ANALYSIS_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub analysis_timeout: Duration,
    /// Artifacts analysed at the same time, across all requests. With the default memory cap,
    /// keep this × 256 MiB plus ~64 MiB for the operator within the container's memory limit.
    #[arg(long, env = "GODIAG_ANALYSIS_CONCURRENCY", default_value_t = 1)]
    pub analysis_concurrency: usize,
}

#[derive(Args, Debug, Clone)]
pub struct AnalyzeWorkerArgs {
    /// What the artifact on stdin is.
    #[arg(long)]
    pub kind: godiag_analyze::ArtifactKind,
    /// Address-space cap (RLIMIT_AS), in bytes.
    #[arg(long)]
    pub max_memory: u64,
    /// CPU-time cap (RLIMIT_CPU), in seconds.
    #[arg(long)]
    pub max_cpu_seconds: u64,
    #[command(flatten)]
    pub resources: ResourceArgs,
}

/// The profiled container's requests and limits, as Kubernetes quantities: findings compare
/// what the program used with them (cores against the CPU limit, the heap against the memory
/// limit).
#[derive(Args, Debug, Clone, Default)]
pub struct ResourceArgs {
    /// The container's CPU limit, e.g. `500m` or `2`.
    #[arg(long, value_parser = parse_cpu)]
    pub cpu_limit: Option<f64>,
    /// The container's CPU request.
    #[arg(long, value_parser = parse_cpu)]
    pub cpu_request: Option<f64>,
    /// The container's memory limit, e.g. `512Mi`.
    #[arg(long, value_parser = parse_memory)]
    pub memory_limit: Option<u64>,
    /// The container's memory request.
    #[arg(long, value_parser = parse_memory)]
    pub memory_request: Option<u64>,
    /// How often the container restarted (its restartCount): joins a crash's finding.
    #[arg(long)]
    pub restarts: Option<u32>,
}

impl ResourceArgs {
    pub fn resources(&self) -> godiag_analyze::Resources {
        godiag_analyze::Resources {
            cpu_request_cores: self.cpu_request,
            cpu_limit_cores: self.cpu_limit,
            memory_request_bytes: self.memory_request,
            memory_limit_bytes: self.memory_limit,
            restarts: self.restarts,
        }
    }

    /// The same figures as arguments, for the analysis worker's command line.
    pub fn to_args(r: &godiag_analyze::Resources) -> Vec<String> {
        let mut v = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(x) = value {
                v.push(format!("--{flag}={x}"));
            }
        };
        push("cpu-limit", r.cpu_limit_cores.map(|c| c.to_string()));
        push("cpu-request", r.cpu_request_cores.map(|c| c.to_string()));
        push("memory-limit", r.memory_limit_bytes.map(|b| b.to_string()));
        push("memory-request", r.memory_request_bytes.map(|b| b.to_string()));
        push("restarts", r.restarts.map(|n| n.to_string()));
        v
    }
}

fn parse_cpu(s: &str) -> Result<f64, String> {
    crate::controller::resources::quantity(s)
}

fn parse_memory(s: &str) -> Result<u64, String> {
    crate::controller::resources::quantity(s).map(|b| b.round() as u64)
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Where artifacts are stored: file:///path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix
    /// or memory:// (tests). S3/GCS/Azure credentials come from the environment the way each cloud's SDK reads them.
    #[arg(long, env = "GODIAG_STORAGE_URL", default_value = "file:///var/lib/godiag")]
    pub storage_url: String,
    /// Most bytes a file:// store may hold (what is already there counts); an artifact that
    /// would pass it fails with StorageQuotaExceeded and nothing of it is stored. Unset: no quota.
    #[arg(long, env = "GODIAG_STORAGE_QUOTA_BYTES")]
    pub storage_quota_bytes: Option<u64>,
    /// With object storage (s3://, gs://, az://): where each artifact is spooled before upload,
    /// so that an outage is ridden out by retrying from the spool, not by losing the window.
    #[arg(long, env = "GODIAG_SPOOL_DIR", default_value = "/var/lib/godiag/spool")]
    pub spool_dir: PathBuf,
    /// How long an upload to object storage is retried (backoff up to 10s) before the artifact
    /// fails with StorageWriteFailed.
    #[arg(long, env = "GODIAG_STORAGE_RETRY", value_parser = parse_duration, default_value = "5m")]
    pub storage_retry: Duration,
    /// How many pods godiag collects from at the same time, across all requests. Each costs one
    /// open port-forward (a WebSocket through the API server to the kubelet) and the buffers of
    /// its streams in flight (the CPU profile, the trace and two snapshots, each streamed in
    /// chunks, never held whole). The pods of a request start their windows together; the
    /// default lets three requests of the maximum 20 pods run at once.
    #[arg(long, env = "GODIAG_MAX_CONCURRENT_TARGETS", default_value_t = 64)]
    pub max_concurrent_targets: usize,
    /// Address of the HTTP server for /healthz, /readyz and /metrics.
    #[arg(long, env = "GODIAG_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Only watch this namespace (default: all namespaces).
    #[arg(long, env = "GODIAG_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    #[command(flatten)]
    pub caps: ByteCapArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Which ports a request may make godiag connect to: Declared (only the port the pod declares
    /// for pprof, by the godiag.dev/pprof-port annotation or a container port named pprof) or
    /// Any (the port the request names; only where everyone who may create a request may also
    /// port-forward to the pods).
    #[arg(long, env = "GODIAG_PORT_POLICY", value_enum, default_value_t = PortPolicyArg::Declared)]
    pub port_policy: PortPolicyArg,
    #[command(flatten)]
    pub leader: LeaderArgs,
    #[command(flatten)]
    pub delve: DelveArgs,
    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// The Alertmanager receiver (DiagnosisTriggers): its own listener, not the metrics port.
#[derive(Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Address the receiver listens on (path /alerts), e.g. 0.0.0.0:8443. Unset: no receiver.
    #[arg(long, env = "GODIAG_WEBHOOK_ADDR")]
    pub webhook_addr: Option<SocketAddr>,
    /// File holding the bearer token Alertmanager must send (the Secret godiag-webhook-token,
    /// key token, mounted); read at every delivery, so a rotated Secret applies without a restart.
    #[arg(long, env = "GODIAG_WEBHOOK_TOKEN_FILE", default_value = "/etc/godiag/webhook/token")]
    pub webhook_token_file: PathBuf,
    /// Serve HTTPS with this certificate chain (PEM); needs --webhook-tls-key.
    #[arg(long, env = "GODIAG_WEBHOOK_TLS_CERT", requires = "webhook_tls_key")]
    pub webhook_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --webhook-tls-cert.
    #[arg(long, env = "GODIAG_WEBHOOK_TLS_KEY", requires = "webhook_tls_cert")]
    pub webhook_tls_key: Option<PathBuf>,
    /// Accept only clients with a certificate signed by this CA (PEM); needs TLS.
    #[arg(long, env = "GODIAG_WEBHOOK_CLIENT_CA", requires = "webhook_tls_cert")]
    pub webhook_client_ca: Option<PathBuf>,
    /// Largest delivery body, in bytes; a larger one is refused with 413 after reading at most this.
    #[arg(long, env = "GODIAG_WEBHOOK_MAX_BODY", default_value_t = crate::webhook::server::DEFAULT_MAX_BODY)]
    pub webhook_max_body: usize,
}

impl WebhookArgs {
    /// The listener's configuration, if the receiver is enabled.
    pub fn listen(&self) -> Option<crate::webhook::ListenConfig> {
        let addr = self.webhook_addr?;
        let tls = match (&self.webhook_tls_cert, &self.webhook_tls_key) {
            (Some(cert), Some(key)) => Some(crate::webhook::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.webhook_client_ca.clone(),
            }),
            _ => None,
        };
        Some(crate::webhook::ListenConfig {
            addr,
            token: crate::webhook::auth::TokenFile { path: self.webhook_token_file.clone() },
            tls,
            max_body: self.webhook_max_body,
        })
    }
}

/// Leader election: of all replicas, only the holder of a Lease runs the controller; the others
/// serve /healthz, /readyz and /metrics and take over when the Lease is not renewed.
#[derive(Args, Debug, Clone)]
pub struct LeaderArgs {
    /// Elect a leader by Lease (off: this process always runs the controller; never run two so).
    #[arg(long, env = "GODIAG_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the coordination.k8s.io Lease.
    #[arg(long, env = "GODIAG_LEASE_NAME", default_value = "godiag-leader")]
    pub lease_name: String,
    /// Namespace of the Lease: the operator's own (the downward API sets POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "godiag-system")]
    pub lease_namespace: String,
    /// How long a leader's Lease lasts without renewal: the longest a takeover waits after the
    /// leader dies without releasing it.
    #[arg(long, env = "GODIAG_LEASE_DURATION", value_parser = parse_duration, default_value = "15s")]
    pub lease_duration: Duration,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "PascalCase")]
pub enum PortPolicyArg {
    Declared,
    Any,
}

impl From<PortPolicyArg> for crate::controller::pod_check::PortPolicy {
    fn from(p: PortPolicyArg) -> Self {
        match p {
            PortPolicyArg::Declared => Self::Declared,
            PortPolicyArg::Any => Self::Any,
        }
    }
}

/// The largest artifact godiag stores; a body beyond it is cut off while it streams and the
/// artifact fails with ArtifactTooLarge.
#[derive(Args, Debug, Clone)]
pub struct ByteCapArgs {
    /// Largest pprof profile or goroutine dump stored, in bytes.
    #[arg(long, env = "GODIAG_MAX_PROFILE_BYTES", default_value_t = ByteCaps::DEFAULT_PROFILE)]
    pub max_profile_bytes: u64,
    /// Largest execution trace stored, in bytes.
    #[arg(long, env = "GODIAG_MAX_TRACE_BYTES", default_value_t = ByteCaps::DEFAULT_TRACE)]
    pub max_trace_bytes: u64,
}

impl ByteCapArgs {
    pub fn caps(&self) -> ByteCaps {
        ByteCaps { profile: self.max_profile_bytes, trace: self.max_trace_bytes }
    }
}

#[derive(Args, Debug, Clone)]
pub struct CollectArgs {
    /// Base URL of each Go program's HTTP server, e.g. http://127.0.0.1:6060. Several programs
    /// are collected in one window: their CPU profiles and traces start together.
    #[arg(required = true, num_args = 1..)]
    pub urls: Vec<String>,
    /// Comma-separated kinds: cpu, heap, allocs, goroutine, block, mutex, threadcreate, trace.
    #[arg(long, value_delimiter = ',', default_values_t = [ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Goroutine, ProfileKind::Trace])]
    pub profiles: Vec<ProfileKind>,
    /// Path of the pprof handlers on the server.
    #[arg(long, default_value = "/debug/pprof")]
    pub path: String,
    /// CPU profile window (e.g. 10s, 1m).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Execution trace window; defaults to the smaller of --duration and 5s.
    #[arg(long, value_parser = parse_duration)]
    pub trace_duration: Option<Duration>,
    /// Where to write artifacts, as a storage URL (file://./out, s3://bucket/prefix, …).
    #[arg(long, default_value = "file://./out")]
    pub out: String,
    /// Name of the directory for the target under --out (default: host_port of the URL); only
    /// with a single URL.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub caps: ByteCapArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The request's directory (holding manifest.json), as a path or a storage URL
    /// (file://, s3://, gs://, az://).
    pub source: String,
    /// Write the page here instead of storing it as report.html in SOURCE. Its links to the
    /// artifacts are relative to SOURCE, so keep the file there to follow them.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// The file to analyse: pprof (gzip or raw protobuf), goroutine text dump or execution trace.
    pub file: PathBuf,
    /// Compare FILE with this file of the same kind: a healthy sibling's profile from the same
    /// moment, or an older profile of the same program. Repeat for several siblings. Every
    /// function is compared as a share of its own file's total (CPU also in cores), so a busier
    /// sibling is not a regression; the same comparison as a request's `spec.baseline`.
    #[arg(long)]
    pub base: Vec<PathBuf>,
    /// Sample type to report (default: the one `go tool pprof` picks).
    #[arg(long)]
    pub sample_type: Option<String>,
    /// How many functions to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Keep only stacks with a frame matching this regular expression (like pprof -focus).
    #[arg(long)]
    pub focus: Option<String>,
    /// Drop stacks with a frame matching this regular expression (like pprof -ignore).
    #[arg(long)]
    pub ignore: Option<String>,
    /// Also write a flame graph SVG here (pprof profiles only).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    #[command(flatten)]
    pub resources: ResourceArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum DelveCommand {
    /// Read every goroutine with its stack from the stopped program, detach (the program runs
    /// on), store the snapshot and print the summary the operator writes into status. Start dlv
    /// without --continue: godiag never halts a program.
    Snapshot(DelveSnapshotArgs),
    /// Set tracepoints, let the program run, and record each hit (the captured values, the
    /// goroutine, a stack) until the window, a hit limit or the stop budget ends it; then clear
    /// them and detach. Start dlv without --continue. Each hit stops the whole program.
    Trace(DelveTraceArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DelveTraceArgs {
    /// Address of the headless dlv, e.g. 127.0.0.1:2345.
    pub addr: String,
    /// Where to trace: a function (`main.handle`) or a line (`server.go:42`); repeat for several
    /// tracepoints (tp1, tp2, …).
    #[arg(long = "at", required = true)]
    pub at: Vec<String>,
    /// A Go expression to read at each hit (e.g. `r.URL.Path`); repeatable, for every tracepoint.
    #[arg(long)]
    pub capture: Vec<String>,
    /// Record only hits where this Go expression is true (for every tracepoint).
    #[arg(long = "if")]
    pub condition: Option<String>,
    /// Also read the function's arguments at each hit.
    #[arg(long)]
    pub arguments: bool,
    /// Frames of the hit goroutine's stack to read.
    #[arg(long, default_value_t = 10)]
    pub stack_depth: i64,
    /// How long the program runs with the tracepoints set (at most 60s).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub window: Duration,
    /// Hits recorded in all (at most 1000).
    #[arg(long, default_value_t = 100)]
    pub max_hits: usize,
    /// Hits recorded per tracepoint; it is cleared when they are reached.
    #[arg(long)]
    pub hits_per_tracepoint: Option<usize>,
    /// The total time the program may spend stopped at hits (at most 5s).
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    pub stop_budget: Duration,
    /// Where to write the artifacts, as a storage URL (file://./out, s3://bucket/prefix, …).
    #[arg(long, default_value = "file://./out")]
    pub out: String,
    /// Name of the directory for this trace under --out (default: delve_host_port).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DelveSnapshotArgs {
    /// Address of the headless dlv, e.g. 127.0.0.1:2345.
    pub addr: String,
    /// Where to write the artifacts, as a storage URL (file://./out, s3://bucket/prefix, …).
    #[arg(long, default_value = "file://./out")]
    pub out: String,
    /// Name of the directory for this snapshot under --out (default: delve_host_port).
    #[arg(long)]
    pub name: Option<String>,
    /// Also read locals and arguments (bounded like the request's loadLimits defaults).
    #[arg(long)]
    pub locals: bool,
    /// Longest time the program may stay stopped while godiag reads it.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub max_pause: Duration,
    /// Goroutines read at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_goroutines: usize,
    /// Frames read per goroutine.
    #[arg(long, default_value_t = 50)]
    pub stack_depth: i64,
}

/// How the operator runs Delve snapshots.
#[derive(Args, Debug, Clone)]
pub struct DelveArgs {
    /// The debugger image when a request names none: a static dlv at /dlv and godiag's wrapper at
    /// /godiag-dlv-wrapper (e2e/images/build.sh builds it).
    #[arg(long, env = "GODIAG_DELVE_IMAGE", default_value = crate::controller::cluster_diagnoser::DEFAULT_DELVE_IMAGE)]
    pub delve_image: String,
    /// How long the debugger container may take to start and dlv to attach (image pull, loading
    /// the program's debug info) before the pod fails with DelveTimedOut.
    #[arg(long, env = "GODIAG_DELVE_ATTACH_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub delve_attach_timeout: Duration,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Parses `10s`, `1m30s`, `500ms`, `2m` (the same syntax the CRD accepts).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::api::duration::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_container_figures_reach_the_worker_unchanged() {
        let r = godiag_analyze::Resources {
            cpu_request_cores: Some(0.25),
            cpu_limit_cores: Some(1.5),
            memory_request_bytes: Some(256 << 20),
            memory_limit_bytes: Some(512 << 20),
            restarts: Some(6),
        };
        let mut argv = vec!["godiag".to_string(), "analyze-worker".into(), "--kind=cpu".into()];
        argv.extend(["--max-memory=1".to_string(), "--max-cpu-seconds=1".into()]);
        argv.extend(ResourceArgs::to_args(&r));
        let Command::AnalyzeWorker(w) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
        assert_eq!(w.resources.resources(), r);
        let Command::Analyze(a) =
            Cli::try_parse_from(["godiag", "analyze", "f", "--cpu-limit=500m", "--memory-limit=1Gi"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!(a.resources.resources().cpu_limit_cores, Some(0.5));
        assert_eq!(a.resources.resources().memory_limit_bytes, Some(1 << 30));
        assert!(Cli::try_parse_from(["godiag", "analyze", "f", "--memory-limit=lots"]).is_err());
    }

    #[test]
    fn collect_parses_profiles_and_duration() {
        let cli = Cli::try_parse_from([
            "godiag",
            "collect",
            "http://127.0.0.1:6060",
            "--profiles",
            "cpu,heap,trace",
            "--duration",
            "10s",
        ])
        .unwrap();
        let Command::Collect(c) = cli.command else { panic!("not collect") };
        assert_eq!(c.profiles, vec![ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Trace]);
        assert_eq!(c.duration, Duration::from_secs(10));
    }

    #[test]
    fn collect_rejects_unknown_profile_kind() {
        let err = Cli::try_parse_from(["godiag", "collect", "http://x", "--profiles", "cpu,gc"]).unwrap_err();
        assert!(err.to_string().contains("unknown profile kind \"gc\""), "{err}");
    }
}
