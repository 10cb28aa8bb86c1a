//! One window for all the pods of a request. Each pod gets ready at its own pace (its pod
//! checks, its port-forward); the CPU profiles and traces of a request start together once all
//! of them are ready, so that their figures describe the same moment and can be compared. A pod
//! that fails before it is ready, or a straggler, never holds the others for longer than
//! [`MAX_WAIT`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a ready pod waits for the request's other pods before its window starts anyway.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

struct Shared {
    /// Pods not yet ready (nor gone).
    waiting: Mutex<HashSet<String>>,
    all_ready: watch::Sender<bool>,
}

/// The start line shared by the pods of one request collected together; `WindowGate::none()`
/// for a pod collected on its own.
#[derive(Clone, Default)]
pub struct WindowGate(Option<Arc<Shared>>);

impl std::fmt::Debug for WindowGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("WindowGate(none)"),
            Some(s) => write!(f, "WindowGate(waiting for {})", s.waiting.lock().map_or(0, |w| w.len())),
        }
    }
}

/// Gates are compared as tasks are: by what they ask for, not by who waits.
impl PartialEq for WindowGate {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl WindowGate {
    /// No one to wait for.
    pub fn none() -> Self {
        WindowGate(None)
    }

    /// A gate for these pods.
    pub fn new<I: IntoIterator<Item = String>>(pods: I) -> Self {
        let waiting: HashSet<String> = pods.into_iter().collect();
        let (all_ready, _) = watch::channel(waiting.len() <= 1);
        WindowGate(Some(Arc::new(Shared { waiting: Mutex::new(waiting), all_ready })))
    }

    /// True when both are the same start line (not merely equal, as tasks compare them).
    pub fn same_as(&self, other: &WindowGate) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// `pod` no longer holds the others: it is ready, or it failed and will not start a window.
    pub fn release(&self, pod: &str) {
        let Some(s) = &self.0 else { return };
        let empty = match s.waiting.lock() {
            Ok(mut w) => {
                w.remove(pod);
                w.is_empty()
            }
            Err(_) => true,
        };
        if empty {
            s.all_ready.send_replace(true);
        }
    }

    /// `pod` is ready: returns when every pod of the gate is (or at most after `max_wait`).
    pub async fn ready(&self, pod: &str, max_wait: Duration) {
        let Some(s) = &self.0 else { return };
        let mut rx = s.all_ready.subscribe();
        self.release(pod);
        let _ = tokio::time::timeout(max_wait, rx.wait_for(|all| *all)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pods_start_together_and_a_failed_one_holds_no_one() {
        let gate = WindowGate::new(["a", "b", "c"].map(String::from));
        let start = tokio::time::Instant::now();
        let a = tokio::spawn({
            let g = gate.clone();
            async move {
                g.ready("a", MAX_WAIT).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        gate.release("c"); // failed before it was ready
        tokio::time::sleep(Duration::from_millis(200)).await;
        gate.ready("b", MAX_WAIT).await;
        assert_eq!(a.await.unwrap(), Duration::from_millis(500), "a started with b, the last ready");
    }

    #[tokio::test(start_paused = true)]
    async fn a_straggler_holds_the_others_at_most_max_wait() {
        let gate = WindowGate::new(["a", "slow"].map(String::from));
        let start = tokio::time::Instant::now();
        gate.ready("a", MAX_WAIT).await;
        assert_eq!(start.elapsed(), MAX_WAIT);
        WindowGate::none().ready("x", MAX_WAIT).await;
        assert_eq!(start.elapsed(), MAX_WAIT, "alone: no wait");
    }
}
