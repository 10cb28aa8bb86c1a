//! A [`Connector`] through the API server's pod port-forward (`pods/portforward`), the default
//! access: it needs no pod-network reachability and reaches servers bound to 127.0.0.1 inside the
//! pod, because the container runtime dials the port from within the pod's network namespace.

use super::{BoxedIo, CollectError, Connector};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use std::time::Duration;

/// How long opening the port-forward (a WebSocket through the API server) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// The runtime dials the pod port as soon as the stream opens and reports a failed dial on the
/// error channel at once; this long we wait for such a report before using the stream.
const DIAL_REPORT_WAIT: Duration = Duration::from_millis(300);

pub struct PortForwardConnector {
    pods: Api<Pod>,
    pod: String,
    port: u16,
}

impl PortForwardConnector {
    pub fn new(pods: Api<Pod>, pod: impl Into<String>, port: u16) -> Self {
        PortForwardConnector { pods, pod: pod.into(), port }
    }
}

impl Connector for PortForwardConnector {
    fn connect(&self) -> BoxFuture<'_, Result<BoxedIo, CollectError>> {
        Box::pin(async move {
            let target = self.describe();
            let mut pf = match tokio::time::timeout(OPEN_TIMEOUT, self.pods.portforward(&self.pod, &[self.port])).await
            {
                Ok(Ok(pf)) => pf,
                Ok(Err(e)) => {
                    return Err(CollectError::Connect { target, message: format!("port-forward refused: {e}") });
                }
                Err(_) => {
                    return Err(CollectError::Connect {
                        target,
                        message: format!("port-forward not open after {OPEN_TIMEOUT:?}"),
                    });
                }
            };
            let stream = pf.take_stream(self.port).ok_or_else(|| CollectError::Connect {
                target: target.clone(),
                message: "port-forward opened without a data stream".into(),
            })?;
            let dial_report = match pf.take_error(self.port) {
                Some(err) => tokio::time::timeout(DIAL_REPORT_WAIT, err).await.ok().flatten(),
                None => None,
            };
            if let Some(msg) = dial_report {
                return Err(if msg.contains("connection refused") {
                    CollectError::ConnectionRefused { target }
                } else {
                    CollectError::Connect { target, message: msg }
                });
            }
            // The forwarding task lives until the stream is dropped; the Portforwarder handle is not
            // needed for that.
            drop(pf);
            Ok(Box::new(stream) as BoxedIo)
        })
    }

    fn describe(&self) -> String {
        format!("port-forward to pod {} port {}", self.pod, self.port)
    }
}
