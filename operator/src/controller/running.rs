//! Collections running in this process and their results, per request (by UID). Lost on restart
//! on purpose: the status records which targets were collecting, and `plan` decides what a
//! restart means for them.

use super::diagnoser::TargetResult;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct RequestTasks {
    running: BTreeSet<String>,
    finished: BTreeMap<String, TargetResult>,
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

    pub fn start(&self, uid: &str, pod: &str) {
        self.with(|m| m.entry(uid.to_string()).or_default().running.insert(pod.to_string()));
    }

    pub fn finish(&self, uid: &str, pod: &str, result: TargetResult) {
        self.with(|m| {
            let j = m.entry(uid.to_string()).or_default();
            j.running.remove(pod);
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
