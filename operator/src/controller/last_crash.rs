//! `spec.lastCrash`: the Go crash that ended the previous container, read from its log through
//! the API server (`pods/log` with `previous=true`). The log is untrusted like every byte of a
//! target: it is read up to a byte cap and a deadline, and only the crash output (from the
//! runtime's `panic:`/`fatal error:`/signal line on) is stored.

use crate::collect::{CollectError, CollectedArtifact, KindFailure};
use crate::store::{ArtifactStore, layout};
use bytes::Bytes;
use futures::AsyncReadExt;
use godiag_analyze::ArtifactKind;
use godiag_analyze::goroutine::crash;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use kube::Api;
use kube::api::LogParams;
use std::time::Duration;

/// Most bytes of the previous log read (the end of it: a crash is what a container prints last).
pub const MAX_LOG_BYTES: usize = 16 << 20;
/// Lines from the end of the log the API server is asked for (a dump of tens of thousands of
/// goroutines fits).
const TAIL_LINES: i64 = 400_000;
/// Longest wait for the log.
const LOG_TIMEOUT: Duration = Duration::from_secs(30);

/// How the previous container ended, as its status says: `exit code 2`, `OOMKilled, exit code 137`.
pub fn ended(t: Option<&ContainerStateTerminated>) -> String {
    match t {
        Some(t) => match t.reason.as_deref().filter(|r| !r.is_empty() && *r != "Error") {
            Some(r) => format!("{r}, exit code {}", t.exit_code),
            None => format!("exit code {}", t.exit_code),
        },
        None => "its end is not recorded".to_string(),
    }
}

/// The previous container's state, or the failure when it never restarted.
fn previous(pod: &Pod, pod_name: &str, container: &str) -> Result<Option<ContainerStateTerminated>, CollectError> {
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|v| v.iter().find(|c| c.name == container));
    let restarts = status.map_or(0, |c| c.restart_count);
    if restarts == 0 {
        return Err(CollectError::NoPreviousContainer { pod: pod_name.to_string(), container: container.to_string() });
    }
    Ok(status.and_then(|c| c.last_state.as_ref()).and_then(|s| s.terminated.clone()))
}

/// Reads, checks and stores the last crash of `container`.
pub async fn collect(
    pods: &Api<Pod>,
    pod: &Pod,
    pod_name: &str,
    container: &str,
    store: &dyn ArtifactStore,
    dir: &str,
) -> Result<CollectedArtifact, KindFailure> {
    let fail = |error| KindFailure { kind: ArtifactKind::Crash, error };
    let terminated = previous(pod, pod_name, container).map_err(fail)?;
    let unavailable = |message: String| {
        fail(CollectError::LogUnavailable { pod: pod_name.to_string(), container: container.to_string(), message })
    };
    let params = LogParams {
        container: Some(container.to_string()),
        previous: true,
        tail_lines: Some(TAIL_LINES),
        limit_bytes: Some(MAX_LOG_BYTES as i64),
        ..LogParams::default()
    };
    let read = async {
        let stream = pods.log_stream(pod_name, &params).await.map_err(|e| e.to_string())?;
        let mut log = Vec::new();
        stream.take(MAX_LOG_BYTES as u64).read_to_end(&mut log).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(log)
    };
    let log = match tokio::time::timeout(LOG_TIMEOUT, read).await {
        Ok(Ok(log)) => log,
        Ok(Err(e)) => return Err(unavailable(e)),
        Err(_) => return Err(unavailable(format!("no answer within {LOG_TIMEOUT:?}"))),
    };
    let text = String::from_utf8_lossy(&log);
    let Some(start) = crash::find_start(&text) else {
        return Err(fail(CollectError::NoGoCrashInLog {
            pod: pod_name.to_string(),
            container: container.to_string(),
            ended: ended(terminated.as_ref()),
            bytes: log.len(),
        }));
    };
    let crash_text = Bytes::from(text[start..].as_bytes().to_vec());
    let path = layout::artifact_path(dir, ArtifactKind::Crash);
    let object = store.put_bytes(&path, crash_text).await.map_err(|e| fail(CollectError::Store(e)))?;
    let note = Some(format!("previous container ended: {}", ended(terminated.as_ref())));
    Ok(CollectedArtifact { kind: ArtifactKind::Crash, object, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(restarts: i32, terminated: Option<serde_json::Value>) -> Pod {
        let mut c =
            serde_json::json!({"name": "app", "restartCount": restarts, "ready": false, "image": "i", "imageID": ""});
        if let Some(t) = terminated {
            c["lastState"] = serde_json::json!({ "terminated": t });
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"containerStatuses": [c]}
        }))
        .unwrap()
    }

    #[test]
    fn a_container_that_never_restarted_has_no_previous_log() {
        let e = previous(&pod(0, None), "p", "app").unwrap_err();
        assert_eq!(e.reason(), "NoPreviousContainer");
        assert!(e.to_string().contains("container app of pod p has not restarted"), "{e}");
        let t = previous(&pod(3, Some(serde_json::json!({"exitCode": 137, "reason": "OOMKilled"}))), "p", "app");
        assert_eq!(ended(t.unwrap().as_ref()), "OOMKilled, exit code 137");
        let t = previous(&pod(1, Some(serde_json::json!({"exitCode": 2, "reason": "Error"}))), "p", "app");
        assert_eq!(ended(t.unwrap().as_ref()), "exit code 2");
    }
}
