//! Collections running in this process and their results, per request (by UID). Lost on restart
//! on purpose: the status records which targets were collecting, and `plan` decides what a
//! restart means for them.

use super::diagnoser::TargetResult;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct RequestTasks {
    running: BTreeSet<String>,
    finished: BTreeMap<String, TargetResult>,
    /// Collections that ended and are being analysed: what they stored.
    collected: BTreeMap<String, TargetResult>,
    /// Cancelled when the request is deleted: its collections stop (port-forwards close,
    /// uploads abort) instead of running out their windows for nobody.
    cancel: CancellationToken,
}

#[derive(Default)]
pub struct RunningTasks {
    inner: Mutex<HashMap<String, RequestTasks>>,
}

impl RunningTasks {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, RequestTasks>) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Pods being collected and results not yet written to status.
    pub fn snapshot(&self, uid: &str) -> (BTreeSet<String>, BTreeMap<String, TargetResult>) {
        self.with(|m| m.get(uid).map(|j| (j.running.clone(), j.finished.clone())).unwrap_or_default())
    }

    /// What the collections being analysed stored.
    pub fn collected(&self, uid: &str) -> BTreeMap<String, TargetResult> {
        self.with(|m| m.get(uid).map(|j| j.collected.clone()).unwrap_or_default())
    }

    /// A collection ended; its analysis starts.
    pub fn set_collected(&self, uid: &str, pod: &str, result: TargetResult) {
        self.with(|m| {
            if let Some(j) = m.get_mut(uid)
                && j.running.contains(pod)
            {
                j.collected.insert(pod.to_string(), result);
            }
        });
    }

    /// Cancels the request's collections (it is being deleted, held by a finalizer); they stay
    /// recorded until they finish. Returns the pods still running and the results not yet in
    /// the status.
    pub fn cancel(&self, uid: &str) -> (BTreeSet<String>, BTreeMap<String, TargetResult>) {
        self.with(|m| match m.get(uid) {
            Some(j) => {
                j.cancel.cancel();
                (j.running.clone(), j.finished.clone())
            }
            None => Default::default(),
        })
    }

    /// Records a collection as running; the token is cancelled if the request is deleted.
    pub fn start(&self, uid: &str, pod: &str) -> CancellationToken {
        self.with(|m| {
            let j = m.entry(uid.to_string()).or_default();
            j.running.insert(pod.to_string());
            j.cancel.clone()
        })
    }

    /// Cancels and forgets every request with collections running whose UID `exists` no longer
    /// knows (the request was deleted); returns how many collections were cancelled.
    pub fn cancel_deleted(&self, exists: impl Fn(&str) -> bool) -> usize {
        self.with(|m| {
            let gone: Vec<String> = m.keys().filter(|uid| !exists(uid)).cloned().collect();
            gone.iter()
                .filter_map(|uid| m.remove(uid))
                .map(|j| {
                    j.cancel.cancel();
                    j.running.len()
                })
                .sum()
        })
    }

    pub fn finish(&self, uid: &str, pod: &str, result: TargetResult) {
        self.with(|m| {
            let j = m.entry(uid.to_string()).or_default();
            j.running.remove(pod);
            j.collected.remove(pod);
            j.finished.insert(pod.to_string(), result);
        });
    }

    /// Drops results that are now recorded in the status.
    pub fn recorded(&self, uid: &str, pods: impl IntoIterator<Item = String>) {
        self.with(|m| {
            if let Some(j) = m.get_mut(uid) {
                for p in pods {
                    j.finished.remove(&p);
                }
            }
        });
    }

    /// Forgets a request that reached a terminal phase.
    pub fn forget(&self, uid: &str) {
        self.with(|m| m.remove(uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleting_a_request_cancels_its_collections_only() {
        let tasks = RunningTasks::default();
        let a1 = tasks.start("uid-a", "p1");
        let a2 = tasks.start("uid-a", "p2");
        let b = tasks.start("uid-b", "p1");
        assert_eq!(tasks.cancel_deleted(|uid| uid == "uid-b"), 2);
        assert!(a1.is_cancelled() && a2.is_cancelled());
        assert!(!b.is_cancelled(), "the other request runs on");
        assert!(tasks.snapshot("uid-a").0.is_empty(), "the deleted request is forgotten");
        assert_eq!(tasks.cancel_deleted(|_| true), 0);
    }
}
