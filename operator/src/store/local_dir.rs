//! Housekeeping of a `file://` store's directory: the staging files an interrupted upload
//! leaves behind, and an operator-wide quota on the bytes it holds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Deepest directory walked: the layout is `namespace/request/pod/file`.
const MAX_DEPTH: usize = 6;

/// True for the staging files `object_store` writes before renaming into place
/// (`<name>#<n>`); no name in godiag's layout contains `#`.
fn is_staging(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().contains('#'))
}

/// Calls `f(path, metadata)` for every regular file under `root` (symlinks are not followed).
fn walk(root: &Path, depth: usize, f: &mut impl FnMut(&Path, &std::fs::Metadata)) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, f);
        } else if meta.is_file() {
            f(&path, &meta);
        }
    }
}

/// Deletes the staging files under `root` (an operator killed mid-upload leaves them for
/// good); returns how many files and bytes it removed. Run once at start-up, before any upload.
pub fn remove_staging_files(root: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    walk(root, 0, &mut |path, meta| {
        if is_staging(path) && std::fs::remove_file(path).is_ok() {
            files += 1;
            bytes += meta.len();
        }
    });
    (files, bytes)
}

/// Bytes in the artifacts under `root` (staging files of uploads in flight are left out: the
/// quota counts those as reservations).
pub fn disk_usage(root: &Path) -> u64 {
    let mut total = 0u64;
    walk(root, 0, &mut |path, meta| {
        if !is_staging(path) {
            total = total.saturating_add(meta.len());
        }
    });
    total
}

/// The most bytes a `file://` store may hold. Uploads reserve their bytes as they stream; one
/// that would pass the quota is aborted (nothing stored) and fails with `StorageQuotaExceeded`.
#[derive(Debug)]
pub struct Quota {
    pub limit: u64,
    root: PathBuf,
    usage: Mutex<Usage>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// What the directory holds: measured, plus uploads completed since.
    stored: u64,
    /// Bytes reserved by uploads still streaming.
    in_flight: u64,
}

impl Quota {
    /// A quota over what `root` already holds.
    pub fn new(root: PathBuf, limit: u64) -> Self {
        let stored = disk_usage(&root);
        Quota { limit, root, usage: Mutex::new(Usage { stored, in_flight: 0 }) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Usage) -> R) -> R {
        let mut g = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Bytes stored plus bytes in flight.
    pub fn used(&self) -> u64 {
        self.with(|u| u.stored.saturating_add(u.in_flight))
    }

    fn try_add(&self, n: u64) -> bool {
        self.with(|u| {
            let fits = u.stored.saturating_add(u.in_flight).saturating_add(n) <= self.limit;
            if fits {
                u.in_flight += n;
            }
            fits
        })
    }

    /// Reserves `n` more bytes for an upload in flight. When the quota seems full, the
    /// directory is measured again (someone may have deleted old artifacts) before refusing.
    pub fn reserve(&self, n: u64) -> bool {
        if self.try_add(n) {
            return true;
        }
        let stored = disk_usage(&self.root);
        self.with(|u| u.stored = stored);
        self.try_add(n)
    }

    /// An upload of `n` reserved bytes completed: they are stored now.
    pub fn commit(&self, n: u64) {
        self.with(|u| {
            u.in_flight = u.in_flight.saturating_sub(n);
            u.stored = u.stored.saturating_add(n);
        });
    }

    /// Gives back bytes reserved for an upload that did not complete.
    pub fn release(&self, n: u64) {
        self.with(|u| u.in_flight = u.in_flight.saturating_sub(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_files_are_removed_and_artifacts_kept() {
        let dir = tempfile::tempdir().unwrap();
        let pod = dir.path().join("shop/req/pod-a");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(pod.join("cpu.pb.gz"), b"kept").unwrap();
        std::fs::write(pod.join("trace.out#3"), vec![0u8; 1000]).unwrap();
        std::fs::write(pod.join("heap.pb.gz#12"), vec![0u8; 24]).unwrap();
        assert_eq!(remove_staging_files(dir.path()), (2, 1024));
        assert!(pod.join("cpu.pb.gz").exists());
        assert_eq!(disk_usage(dir.path()), 4);
    }

    #[test]
    fn quota_reserves_refuses_and_remeasures() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old"), vec![0u8; 600]).unwrap();
        let q = Quota::new(dir.path().to_path_buf(), 1000);
        assert_eq!(q.used(), 600);
        assert!(q.reserve(300));
        // The re-measure replaces what is stored, not what is in flight.
        std::fs::write(dir.path().join("new#1"), vec![0u8; 300]).unwrap();
        assert!(!q.reserve(200), "600 stored + 300 in flight + 200 > 1000");
        q.commit(300);
        assert_eq!(q.used(), 900);
        std::fs::remove_file(dir.path().join("new#1")).unwrap();
        std::fs::remove_file(dir.path().join("old")).unwrap();
        assert!(q.reserve(1000), "space freed outside godiag is seen");
    }
}
