//! Sessions: record what clients and server exchanged, replay it against a
//! server, and say where the replay first differs.
//!
//! - [`format`]: the version-1 JSON Lines file format (reader and writer).
//! - [`recorder`]: records an engine's traffic into a session file.
//! - [`replay`]: replays a session and compares, using [`compare`] and [`diff`].
//! - [`junit`], [`har`], [`artillery`]: interchange with CI and other tools.

pub mod artillery;
pub mod compare;
pub mod diff;
pub mod format;
pub mod har;
pub mod ids;
pub mod junit;
mod plan;
pub mod recorder;
pub mod replay;
pub mod runner;

pub use format::{Header, Session, SessionError, read_session};
pub use recorder::{Recorder, RecordingHandle, RecordingStatus};
pub use replay::{ReplayOptions, ReplayProgress, ReplayReport, Timing, replay_session};
use std::path::{Component, Path, PathBuf};

/// How a session header refers to its script: relative to the folder of the
/// session file (`../assets/examples/chat.js`), or absolute when the two
/// share no folder. Both files must exist.
pub fn script_reference(session_path: &Path, script_path: &Path) -> String {
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let script = canonical(script_path);
    let Some(base) = session_path.parent().map(|parent| {
        canonical(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    }) else {
        return script.display().to_string();
    };
    let base_parts: Vec<Component<'_>> = base.components().collect();
    let script_parts: Vec<Component<'_>> = script.components().collect();
    let common = base_parts
        .iter()
        .zip(&script_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common <= 1 {
        return script.display().to_string();
    }
    let mut relative = PathBuf::new();
    for _ in common..base_parts.len() {
        relative.push("..");
    }
    for part in &script_parts[common..] {
        relative.push(part.as_os_str());
    }
    relative.display().to_string().replace('\\', "/")
}
