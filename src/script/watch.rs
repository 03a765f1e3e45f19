//! Notices when any file of the script changes on disk (editors,
//! `git checkout`): the entry and every project module it imports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// How often the files are checked. Polling a few files is cheap and works
/// on every filesystem, including the network and container mounts where
/// inotify stays silent.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

type Fingerprint = Option<(SystemTime, u64)>;

fn fingerprint(path: &std::path::Path) -> Fingerprint {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The files to watch; the lane replaces them after each load.
pub(super) type WatchedFiles = Arc<Mutex<Vec<PathBuf>>>;

/// Calls `changed` after each change to any of `files` until `stopped`, or
/// until `changed` answers `false`.
pub(super) async fn watch_files<F>(
    files: WatchedFiles,
    stopped: CancellationToken,
    mut changed: impl FnMut() -> F,
) where
    F: Future<Output = bool>,
{
    let snapshot = |files: &WatchedFiles| -> Vec<(PathBuf, Fingerprint)> {
        files
            .lock()
            .iter()
            .map(|path| (path.clone(), fingerprint(path)))
            .collect()
    };
    let mut last_seen = snapshot(&files);
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped.cancelled() => return,
            _ = interval.tick() => {}
        }
        let current = snapshot(&files);
        let is_same_set = current.len() == last_seen.len()
            && current
                .iter()
                .zip(&last_seen)
                .all(|(now, then)| now.0 == then.0);
        if !is_same_set {
            // A load changed what the script is made of: watch the new set.
            last_seen = current;
            continue;
        }
        let is_changed = current
            .iter()
            .zip(&last_seen)
            // A missing file is usually an editor's save-by-rename in progress.
            .any(|(now, then)| now.1.is_some() && now.1 != then.1);
        if !is_changed {
            continue;
        }
        if !changed().await {
            return;
        }
        // The reload may have changed the set; start from what it is now.
        last_seen = snapshot(&files);
    }
}
