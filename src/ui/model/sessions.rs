//! The Sessions panel's data: the session files in the sessions folder with
//! their summaries, replay results, the recording, and safe names for new
//! files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::session::format::SessionEvent;
use crate::session::runner::ReplayResult;
use crate::session::{RecordingHandle, ReplayProgress, Session, read_session};

/// Where a replay sends its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayTarget {
    /// A fresh embedded server with the session's script (what CI does).
    FreshServer,
    /// This window's running server.
    ThisServer,
    /// Any websocket server.
    Url(String),
}

/// The window's session state.
pub struct SessionsState {
    /// The folder recordings go to and the list shows.
    pub folder: PathBuf,
    /// Files shown, with summaries.
    pub listing: Vec<SessionSummary>,
    /// Files opened from other folders.
    pub extra_files: Vec<PathBuf>,
    /// Last replay result per file.
    pub results: HashMap<PathBuf, ReplayResult>,
    /// Counts finished replays, so views derived from a result know when
    /// it was replaced.
    pub results_generation: u64,
    /// The replay under way and how far it got.
    pub progress: Arc<Mutex<Option<(PathBuf, ReplayProgress)>>>,
    /// Whether replays are running.
    pub is_replaying: bool,
    /// The recording under way.
    pub recording: Option<RecordingHandle>,
}

impl Default for SessionsState {
    fn default() -> Self {
        Self {
            folder: PathBuf::from("sessions"),
            listing: Vec::new(),
            extra_files: Vec::new(),
            results: HashMap::new(),
            results_generation: 0,
            progress: Arc::new(Mutex::new(None)),
            is_replaying: false,
            recording: None,
        }
    }
}

/// What the list shows about one file.
#[derive(Clone, Debug)]
pub struct SessionSummary {
    /// The file.
    pub path: PathBuf,
    /// Connections in it.
    pub connections: usize,
    /// `send` and `recv` lines.
    pub messages: usize,
    /// Time of the last event.
    pub duration_ms: u64,
    /// Problems reading it (a torn last line), or why it is unreadable.
    pub problem: Option<String>,
    /// The session itself, when readable.
    pub session: Option<Session>,
}

impl SessionSummary {
    /// Reads `path` and summarises it; an unreadable file is listed with
    /// the reason instead of being left out.
    pub fn read(path: &Path) -> Self {
        match read_session(path) {
            Ok(session) => Self {
                path: path.to_path_buf(),
                connections: session.connection_labels().len(),
                messages: session.message_count(),
                duration_ms: session.lines.last().map_or(0, |line| line.t),
                problem: (!session.warnings.is_empty()).then(|| session.warnings.join("; ")),
                session: Some(session),
            },
            Err(error) => Self {
                path: path.to_path_buf(),
                connections: 0,
                messages: 0,
                duration_ms: 0,
                problem: Some(error.to_string()),
                session: None,
            },
        }
    }

    /// File name for display.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Every `.jsonl` file directly in `folder`, plus `extra` files opened from
/// elsewhere, sorted by name. A missing folder is an empty list.
pub fn list_sessions(folder: &Path, extra: &[PathBuf]) -> Vec<SessionSummary> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|extension| extension == "jsonl")
                })
                .collect()
        })
        .unwrap_or_default();
    for path in extra {
        if !paths.contains(path) {
            paths.push(path.clone());
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| SessionSummary::read(path))
        .collect()
}

/// A file name for a session inside the sessions folder: no folders, no
/// `..`, no hidden files, `.jsonl` added when missing. Anything that could
/// write outside the folder is refused with the reason.
pub fn safe_session_file_name(input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.contains(['/', '\\']) || name.contains("..") {
        return Err(format!(
            "'{name}' must be a plain file name, without folders or '..'"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("'{name}' would be a hidden file"));
    }
    if name.chars().any(char::is_control) || name.contains(':') {
        return Err(format!(
            "'{name}' contains characters a file name cannot have"
        ));
    }
    Ok(if name.ends_with(".jsonl") {
        name.to_owned()
    } else {
        format!("{name}.jsonl")
    })
}

/// A fresh recording's file name from the local time.
pub fn recording_file_name(now: chrono::DateTime<chrono::Local>) -> String {
    format!("session-{}.jsonl", now.format("%Y%m%d-%H%M%S"))
}

/// The `connect` line of a recorded client that connected to `url`.
pub fn connect_event(url: &str) -> SessionEvent {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    SessionEvent::Connect {
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        query: crate::core::query::parse_query(query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_cannot_leave_the_folder() {
        assert_eq!(
            safe_session_file_name(" chat run "),
            Ok("chat run.jsonl".to_owned())
        );
        assert_eq!(safe_session_file_name("a.jsonl"), Ok("a.jsonl".to_owned()));
        for bad in ["", "../x", "a/b", "a\\b", "..", ".hidden", "x\ny", "c:evil"] {
            assert!(
                safe_session_file_name(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn listing_reports_unreadable_files_instead_of_hiding_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("broken.jsonl"), "not json\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        let listed = list_sessions(dir.path(), &[]);
        assert_eq!(listed.len(), 1);
        assert!(
            listed[0]
                .problem
                .as_deref()
                .is_some_and(|problem| problem.contains("line 1")),
            "{listed:?}"
        );
        assert!(list_sessions(&dir.path().join("missing"), &[]).is_empty());
    }

    #[test]
    fn connect_event_parses_path_and_query() {
        assert_eq!(
            connect_event("ws://example.test:8080/room/1?name=ann&tag=a"),
            SessionEvent::Connect {
                path: "/room/1".to_owned(),
                query: crate::core::query::parse_query("name=ann&tag=a"),
            }
        );
        assert_eq!(
            connect_event("ws://127.0.0.1:4001"),
            SessionEvent::Connect {
                path: "/".to_owned(),
                query: Default::default()
            }
        );
    }
}
