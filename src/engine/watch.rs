//! Reloads the script when its file changes on disk (editors, `git checkout`).

use std::time::{Duration, SystemTime};

use super::EngineHandle;
use super::command::Command;

/// How often the file is checked. Polling a single file is cheap and works on
/// every filesystem, including the network and container mounts where
/// inotify stays silent.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn fingerprint(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

pub(crate) async fn watch_script(engine: EngineHandle) {
    let path = engine.config().script_path.clone();
    let mut last_seen = fingerprint(&path);
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !engine.is_stopped() {
        interval.tick().await;
        let current = fingerprint(&path);
        if current.is_none() || current == last_seen {
            // A missing file is usually an editor's save-by-rename in progress.
            continue;
        }
        last_seen = current;
        // Errors are published on the bus as ScriptReloadFailed.
        let _ = engine.execute(Command::ReloadScript { source: None }).await;
    }
}
