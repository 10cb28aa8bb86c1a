//! Byte streams to a target's HTTP server: the [`Connector`] trait and its plain-TCP form.

use super::CollectError;
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Anything that reads and writes bytes: a TCP socket, a port-forward stream.
pub trait AsyncReadWrite: AsyncRead + AsyncWrite {}
impl<T: AsyncRead + AsyncWrite + ?Sized> AsyncReadWrite for T {}

/// One connection to the target's HTTP server.
pub type BoxedIo = Box<dyn AsyncReadWrite + Send + Unpin + 'static>;

/// Opens a fresh byte stream to the target's HTTP server for each request (plain TCP, or a
/// Kubernetes port-forward stream).
///
/// `connect` is called once per HTTP request, and up to four requests of one target run at the
/// same time (cpu, trace and two snapshots). A port-forward implementation returns the
/// `DuplexStream` from `Portforwarder::take_stream(port)` boxed as [`BoxedIo`]; the HTTP
/// client drops the stream when the response is done (or its deadline passed), after which
/// the forwarder's `join()` completes. Map a refused forward to
/// [`CollectError::ConnectionRefused`] only when the pod port itself refused; API-server or
/// RBAC failures are [`CollectError::Connect`].
pub trait Connector: Send + Sync {
    /// Opens a new connection. Map "connection refused" to [`CollectError::ConnectionRefused`]
    /// and other failures to [`CollectError::Connect`].
    fn connect(&self) -> BoxFuture<'_, Result<BoxedIo, CollectError>>;
    /// For messages: `127.0.0.1:6060`, `port-forward to pod port 6060`.
    fn describe(&self) -> String;
    /// The HTTP `Host` header to send. Go's pprof ignores it; proxies may not.
    fn authority(&self) -> String {
        "localhost".to_owned()
    }
}

/// How long opening a TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects over plain TCP to `host:port` (`godiag collect`, and the operator's PodIP access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConnector {
    host: String,
    port: u16,
}

impl TcpConnector {
    /// `host` is a DNS name or an IP address (IPv6 without brackets).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpConnector { host: host.into(), port }
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl From<std::net::SocketAddr> for TcpConnector {
    fn from(addr: std::net::SocketAddr) -> Self {
        TcpConnector::new(addr.ip().to_string(), addr.port())
    }
}

impl Connector for TcpConnector {
    fn connect(&self) -> BoxFuture<'_, Result<BoxedIo, CollectError>> {
        Box::pin(async move {
            let target = self.host_port();
            let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
            match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(stream)) => {
                    // Best effort: pprof requests are tiny; answers are streamed.
                    let _ = stream.set_nodelay(true);
                    Ok(Box::new(stream) as BoxedIo)
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    Err(CollectError::ConnectionRefused { target })
                }
                Ok(Err(e)) => Err(CollectError::Connect { target, message: e.to_string() }),
                Err(_) => {
                    Err(CollectError::Connect { target, message: format!("timed out after {CONNECT_TIMEOUT:?}") })
                }
            }
        })
    }

    fn describe(&self) -> String {
        self.host_port()
    }

    fn authority(&self) -> String {
        self.host_port()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_ipv4_and_ipv6() {
        assert_eq!(TcpConnector::new("127.0.0.1", 6060).describe(), "127.0.0.1:6060");
        let v6: std::net::SocketAddr = "[::1]:6060".parse().unwrap();
        assert_eq!(TcpConnector::from(v6).authority(), "[::1]:6060");
    }

    #[tokio::test]
    async fn refused_port_says_no_pprof() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = match TcpConnector::new("127.0.0.1", port).connect().await {
            Err(e) => e,
            Ok(_) => panic!("connected to a closed port"),
        };
        assert_eq!(err.reason(), "NoPprofEndpoint");
        assert!(err.to_string().contains("does not serve net/http/pprof at that port"), "{err}");
    }
}
