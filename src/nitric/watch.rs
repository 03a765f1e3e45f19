//! `--watch` for the real lane: restarts the services when a source file
//! under their folders changes. Polled, like the script watcher, so it works
//! on every filesystem; the walk skips dependency and build folders.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Quiet time after a change before the restart, so an editor's or a
/// `git checkout`'s burst of writes restarts once.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Most files looked at per poll: a folder that big is not a service.
const MAX_FILES: usize = 20_000;

const SKIPPED_FOLDERS: [&str; 8] = [
    "node_modules",
    ".git",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".nitric",
    ".sockscope",
];

const SOURCE_EXTENSIONS: [&str; 13] = [
    "js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx", "py", "go", "dart", "json", "env",
];

/// The newest modification time and the number of source files under
/// `roots`: a change to either is a change to the sources.
fn fingerprint(roots: &[PathBuf]) -> (Option<SystemTime>, usize) {
    let mut newest = None;
    let mut count = 0;
    let mut folders: Vec<PathBuf> = roots.to_vec();
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let name = entry.file_name();
                if !SKIPPED_FOLDERS.iter().any(|skipped| name == *skipped) {
                    folders.push(path);
                }
            } else if is_source(&path) {
                count += 1;
                if count > MAX_FILES {
                    return (newest, count);
                }
                let modified = entry.metadata().ok().and_then(|meta| meta.modified().ok());
                newest = newest.max(modified);
            }
        }
    }
    (newest, count)
}

fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    name == ".env"
        || path
            .extension()
            .is_some_and(|ext| SOURCE_EXTENSIONS.iter().any(|known| ext == *known))
}

/// Calls `changed` once after each settled change under `roots`, until
/// `stopped` or until `changed` answers `false`.
pub(super) async fn watch_sources<F>(
    roots: Vec<PathBuf>,
    stopped: CancellationToken,
    mut changed: impl FnMut() -> F,
) where
    F: Future<Output = bool>,
{
    let scan = |roots: Vec<PathBuf>| async move {
        tokio::task::spawn_blocking(move || fingerprint(&roots))
            .await
            .unwrap_or((None, 0))
    };
    let mut last_seen = scan(roots.clone()).await;
    loop {
        tokio::select! {
            () = stopped.cancelled() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let current = scan(roots.clone()).await;
        if current == last_seen {
            continue;
        }
        // Wait until the writes settle.
        let mut settled = current;
        loop {
            tokio::time::sleep(DEBOUNCE).await;
            let again = scan(roots.clone()).await;
            if again == settled {
                break;
            }
            settled = again;
        }
        last_seen = settled;
        if !changed().await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_count_and_dependency_folders_do_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("node_modules/x")).expect("dirs");
        std::fs::write(dir.path().join("node_modules/x/index.js"), "").expect("write");
        std::fs::write(dir.path().join("chat.ts"), "").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "").expect("write");
        let (_, count) = fingerprint(&[dir.path().to_path_buf()]);
        assert_eq!(count, 1);
        std::fs::write(dir.path().join("other.py"), "").expect("write");
        assert_eq!(fingerprint(&[dir.path().to_path_buf()]).1, 2);
    }
}
