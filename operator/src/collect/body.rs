//! Stream helpers for response bodies: deadlines, peeking at the first bytes, reading a
//! bounded error body.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::time::Instant;

type Body = BoxStream<'static, std::io::Result<Bytes>>;

/// Ends `body` with an `io::ErrorKind::TimedOut` error if it is not finished by `deadline`.
pub(crate) fn with_deadline(body: Body, deadline: Instant) -> Body {
    stream::unfold(Some(body), move |state| async move {
        let mut body = state?;
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(item)) => Some((item, Some(body))),
            Ok(None) => None,
            Err(_) => Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline exceeded")), None)),
        }
    })
    .boxed()
}

/// Reads until at least `n` bytes (or the end) and returns them with a stream that yields the
/// whole body again, those bytes included.
pub(crate) async fn peek(mut body: Body, n: usize) -> std::io::Result<(Bytes, Body)> {
    let mut head = BytesMut::new();
    while head.len() < n {
        match body.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => break,
        }
    }
    let head = head.freeze();
    let replay = stream::iter([Ok(head.clone())]).chain(body).boxed();
    Ok((head, replay))
}

/// Reads at most `limit` bytes of a (small, error) body, lossily as text. A body that breaks
/// off is returned as far as it came.
pub(crate) async fn read_limited(mut body: Body, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk[..chunk.len().min(limit - buf.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn body(parts: &[&'static [u8]]) -> Body {
        stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()).boxed()
    }

    async fn all(b: Body) -> Vec<u8> {
        let chunks: Vec<std::io::Result<Bytes>> = b.collect().await;
        chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect()
    }

    #[tokio::test]
    async fn peek_replays_everything() {
        let (head, rest) = peek(body(&[b"go", b" 1.", b"26 trace", b"tail"]), 5).await.unwrap();
        assert_eq!(&head[..], b"go 1.");
        assert_eq!(all(rest).await, b"go 1.26 tracetail");
        let (head, rest) = peek(body(&[b"ab"]), 16).await.unwrap();
        assert_eq!(&head[..], b"ab");
        assert_eq!(all(rest).await, b"ab");
    }

    #[tokio::test]
    async fn read_limited_stops_at_limit() {
        assert_eq!(read_limited(body(&[b"abc", b"def"]), 4).await, "abcd");
    }

    #[tokio::test]
    async fn deadline_turns_a_stall_into_timed_out() {
        let stalled = stream::iter([Ok(Bytes::from_static(b"x"))]).chain(stream::pending()).boxed();
        let mut b = with_deadline(stalled, Instant::now() + Duration::from_millis(50));
        assert_eq!(&b.next().await.unwrap().unwrap()[..], b"x");
        let err = b.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(b.next().await.is_none());
    }
}
