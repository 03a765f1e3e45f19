//! Notices when the script's file changes on disk (editors, `git checkout`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

/// How often the file is checked. Polling a single file is cheap and works on
/// every filesystem, including the network and container mounts where
/// inotify stays silent.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn fingerprint(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Calls `changed` after each change to `path` until `stopped`, or until
/// `changed` answers `false`.
pub(super) async fn watch_file<F>(
    path: PathBuf,
    stopped: CancellationToken,
    mut changed: impl FnMut() -> F,
) where
    F: Future<Output = bool>,
{
    let mut last_seen = fingerprint(&path);
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped.cancelled() => return,
            _ = interval.tick() => {}
        }
        let current = fingerprint(&path);
        if current.is_none() || current == last_seen {
            // A missing file is usually an editor's save-by-rename in progress.
            continue;
        }
        last_seen = current;
        if !changed().await {
            return;
        }
    }
}
