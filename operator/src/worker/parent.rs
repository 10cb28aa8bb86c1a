//! The operator's side: start `godiag analyze-worker` for one stored artifact, stream the
//! artifact into it, read its report line, stream its SVG into the store, and turn every way it
//! can end into an analysis or an [`AnalysisFailure`].

use super::child::MAX_INPUT_BYTES;
use super::failure::AnalysisFailure;
use super::protocol::{MAX_REPORT_BYTES, WorkerReport};
use crate::store::{ArtifactStore, StoredObject};
use futures::StreamExt;
use godiag_analyze::flame::MAX_SVG_BYTES;
use godiag_analyze::{Analysis, ArtifactKind};
use nix::sys::signal::Signal;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::Semaphore;

/// Most stderr kept from a crashed worker, for the note.
const MAX_STDERR: u64 = 4096;

/// Bounds of one analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Address-space cap of the worker, in bytes.
    pub max_memory: u64,
    /// Wall-clock deadline; also the worker's CPU-time cap.
    pub timeout: Duration,
}

/// What the worker produced for one artifact.
#[derive(Debug)]
pub struct WorkerOutput {
    pub analysis: Analysis,
    /// The stored flame graph, for kinds that have one and when it could be drawn.
    pub svg: Option<StoredObject>,
    /// Why there is no flame graph, for a kind that has one.
    pub flame_note: Option<String>,
    /// What a comparison with the pod's siblings needs.
    pub digest: Option<godiag_analyze::compare::Digest>,
    pub peak_rss_bytes: u64,
}

/// Runs analysis workers: the program (this binary), their limits, and how many at a time.
#[derive(Clone)]
pub struct AnalysisWorker {
    program: PathBuf,
    limits: WorkerLimits,
    gate: Arc<Semaphore>,
}

impl AnalysisWorker {
    pub fn new(program: PathBuf, limits: WorkerLimits, concurrency: usize) -> Self {
        AnalysisWorker { program, limits, gate: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    pub fn limits(&self) -> WorkerLimits {
        self.limits
    }

    /// Analyses the stored artifact at `path`; the SVG, if any, is stored at `svg_path`.
    pub async fn analyse(
        &self,
        store: &dyn ArtifactStore,
        kind: ArtifactKind,
        path: &str,
        svg_path: &str,
        resources: &godiag_analyze::Resources,
    ) -> Result<WorkerOutput, AnalysisFailure> {
        let _permit = self.gate.acquire().await;
        let unavailable = |message: String| AnalysisFailure::Unavailable { kind: kind.to_string(), message };
        let mut child = Command::new(&self.program)
            .args(["analyze-worker", "--kind", kind.as_str()])
            .arg("--max-memory")
            .arg(self.limits.max_memory.to_string())
            .arg("--max-cpu-seconds")
            .arg(self.limits.timeout.as_secs().max(1).to_string())
            .args(crate::cli::ResourceArgs::to_args(resources))
            // The worker needs no credentials: storage keys in the operator's environment stay there.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable(format!("cannot start the analysis worker {}: {e}", self.program.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(unavailable("the analysis worker has no pipes".into()));
        };
        let work = async {
            let fed = feed(store, path, stdin);
            let read = read_report(store, stdout, svg_path);
            let err = read_bounded(stderr, MAX_STDERR);
            let (fed, read, err) = tokio::join!(fed, read, err);
            let status = child.wait().await;
            (fed, read, err, status)
        };
        let Ok((fed, read, stderr, status)) = tokio::time::timeout(self.limits.timeout, work).await else {
            // `kill_on_drop` ends the worker when `child` goes out of scope below.
            return Err(AnalysisFailure::TimedOut { kind: kind.to_string(), timeout: self.limits.timeout });
        };
        let status = status.map_err(|e| unavailable(format!("waiting for the analysis worker: {e}")))?;
        let limit_mib = self.limits.max_memory >> 20;
        if !status.success() {
            let signal = status.signal().and_then(|n| Signal::try_from(n).ok());
            // An allocation past RLIMIT_AS aborts with this message (SIGABRT); the kernel's OOM
            // killer sends SIGKILL (the deadline's own kill never gets here).
            if stderr.contains("memory allocation of") || matches!(signal, Some(Signal::SIGABRT | Signal::SIGKILL)) {
                return Err(AnalysisFailure::OutOfMemory { kind: kind.to_string(), limit_mib });
            }
            if signal == Some(Signal::SIGXCPU) {
                return Err(AnalysisFailure::TimedOut { kind: kind.to_string(), timeout: self.limits.timeout });
            }
            let detail = stderr.lines().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
            return Err(AnalysisFailure::Crashed {
                kind: kind.to_string(),
                status: status.to_string(),
                detail: detail.unwrap_or_default(),
            });
        }
        fed.map_err(unavailable)?;
        let (report, svg) = read.map_err(unavailable)?;
        match (report.analysis, report.error) {
            (Some(analysis), _) => Ok(WorkerOutput {
                analysis,
                svg,
                flame_note: report.flame_note,
                digest: report.digest,
                peak_rss_bytes: report.peak_rss_bytes,
            }),
            (None, Some(e)) if e.reason == "OutOfMemory" => {
                Err(AnalysisFailure::OutOfMemory { kind: kind.to_string(), limit_mib })
            }
            (None, Some(e)) => {
                Err(AnalysisFailure::Refused { kind: kind.to_string(), reason: e.reason, message: e.message })
            }
            (None, None) => Err(unavailable("the analysis worker answered neither an analysis nor an error".into())),
        }
    }
}

/// Streams the stored artifact into the worker's stdin, then closes it.
async fn feed(store: &dyn ArtifactStore, path: &str, mut stdin: tokio::process::ChildStdin) -> Result<(), String> {
    let mut chunks = store.get_stream(path).await.map_err(|e| e.to_string())?;
    let mut sent = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        sent += chunk.len() as u64;
        if sent > MAX_INPUT_BYTES {
            return Err(format!("the artifact is larger than the {} MiB analysed", MAX_INPUT_BYTES >> 20));
        }
        if stdin.write_all(&chunk).await.is_err() {
            // The worker stopped reading (it died or refused the input): its exit status says why.
            return Ok(());
        }
    }
    stdin.shutdown().await.ok();
    Ok(())
}

/// Reads the report line, then stores the SVG that follows it (exactly `svg_bytes`, at most
/// [`MAX_SVG_BYTES`]) without holding it in memory.
async fn read_report(
    store: &dyn ArtifactStore,
    stdout: tokio::process::ChildStdout,
    svg_path: &str,
) -> Result<(WorkerReport, Option<StoredObject>), String> {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_REPORT_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading the analysis worker: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_REPORT_BYTES {
            format!("the analysis is larger than {} MiB", MAX_REPORT_BYTES >> 20)
        } else {
            "the analysis worker ended without an answer".into()
        });
    }
    let report: WorkerReport =
        serde_json::from_slice(&line).map_err(|e| format!("the analysis worker's answer is not valid: {e}"))?;
    if report.svg_bytes == 0 {
        return Ok((report, None));
    }
    if report.svg_bytes > MAX_SVG_BYTES as u64 {
        return Err(format!("the flame graph is larger than {} MiB", MAX_SVG_BYTES >> 20));
    }
    let body = tokio_util::io::ReaderStream::new(reader.take(report.svg_bytes)).boxed();
    let svg = store.put_stream(svg_path, body).await.map_err(|e| e.to_string())?;
    if svg.bytes != report.svg_bytes {
        return Err(format!("the flame graph was cut short ({} of {} bytes)", svg.bytes, report.svg_bytes));
    }
    Ok((report, Some(svg)))
}

async fn read_bounded(r: impl AsyncRead + Unpin, max: u64) -> String {
    let mut buf = Vec::new();
    let mut r = r.take(max);
    let _ = r.read_to_end(&mut buf).await;
    // Drain the rest so a chatty worker never blocks on a full pipe.
    let mut rest = r.into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}
