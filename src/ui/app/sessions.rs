//! Sessions in the window: recording the embedded server (and built-in
//! clients talking to other servers), listing files, replaying them with
//! live progress, and file operations. Everything slow runs in the
//! background and reports through [`UiMessage`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::state::{AppState, UiMessage};
use crate::engine::events::ClosedBy;
use crate::session::format::{Frame, IgnoreRule, SessionEvent};
use crate::session::runner::start_engine_for;
use crate::session::{
    Header, Recorder, RecordingHandle, ReplayOptions, ReplayProgress, Timing, replay_session,
    script_reference,
};
use crate::ui::model::sessions::{
    ReplayResult, SessionSummary, connect_event, list_sessions, recording_file_name,
};
use crate::ui::test_client::{ClientActivity, ClientState};

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
            progress: Arc::new(Mutex::new(None)),
            is_replaying: false,
            recording: None,
        }
    }
}

impl AppState {
    /// Re-reads the session files (in the background).
    pub fn list_sessions(&mut self) {
        let folder = self.sessions.folder.clone();
        let extra = self.sessions.extra_files.clone();
        self.spawn(async move {
            let listing = tokio::task::spawn_blocking(move || list_sessions(&folder, &extra))
                .await
                .unwrap_or_default();
            UiMessage::SessionsListed(listing)
        });
    }

    /// Starts recording every connection of the running server into a new
    /// file in the sessions folder.
    pub fn start_recording(&mut self) {
        let Some(engine) = self.engine.clone() else {
            self.notify("start the server before recording", true);
            return;
        };
        if let Err(error) = std::fs::create_dir_all(&self.sessions.folder) {
            self.notify(
                format!("cannot create {}: {error}", self.sessions.folder.display()),
                true,
            );
            return;
        }
        let path = self
            .sessions
            .folder
            .join(recording_file_name(chrono::Local::now()));
        let mut header = Header::new("recorded");
        header.script = Some(script_reference(&path, &self.engine_config.script_path));
        // The recorder spawns its forwarding task on the runtime.
        let _runtime = self.runtime.enter();
        match Recorder::start(&engine, &path, header) {
            Ok(handle) => {
                self.notify(format!("recording to {}", path.display()), false);
                self.sessions.recording = Some(handle);
            }
            Err(error) => self.notify(format!("cannot record: {error}"), true),
        }
    }

    /// Finishes the recording (in the background).
    pub fn stop_recording(&mut self) {
        if let Some(handle) = self.sessions.recording.take() {
            let path = handle.path().to_path_buf();
            self.spawn(async move {
                let status = handle.stop().await;
                UiMessage::RecordingStopped { path, status }
            });
        }
    }

    /// Adds what built-in clients did to the recording, for clients talking
    /// to other servers (the embedded server's side is recorded already).
    pub fn record_client_activity(
        &mut self,
        label: &str,
        url: &str,
        close_requested: bool,
        activity: &[(chrono::DateTime<chrono::Utc>, ClientActivity)],
    ) {
        let Some(recording) = &self.sessions.recording else {
            return;
        };
        let server = self.engine.as_ref().map(|engine| engine.url());
        if server
            .as_deref()
            .is_some_and(|server| url.starts_with(server))
        {
            return;
        }
        let key = format!("client:{label}");
        for (at, activity) in activity {
            let events: Vec<SessionEvent> = match activity {
                ClientActivity::Opened => {
                    vec![connect_event(url), SessionEvent::Accepted { id: None }]
                }
                ClientActivity::Refused(status) => vec![
                    connect_event(url),
                    SessionEvent::Rejected { status: *status },
                ],
                ClientActivity::Sent(payload) => vec![SessionEvent::Send(Frame::from(payload))],
                ClientActivity::Received(payload) => vec![SessionEvent::Recv(Frame::from(payload))],
                ClientActivity::Ended(ClientState::Closed { code, .. }) => {
                    vec![SessionEvent::Close {
                        code: *code,
                        by: if close_requested {
                            ClosedBy::Client
                        } else {
                            ClosedBy::Server
                        },
                    }]
                }
                ClientActivity::Ended(_) => Vec::new(),
            };
            for event in events {
                recording.record_external(&key, event, *at);
            }
        }
    }

    /// Replays `paths` one after another against `target`.
    pub fn replay(
        &mut self,
        paths: Vec<PathBuf>,
        target: ReplayTarget,
        timing: Timing,
        speed: f64,
    ) {
        if paths.is_empty() || self.sessions.is_replaying {
            return;
        }
        let this_server = self.engine.as_ref().map(|engine| engine.url());
        if target == ReplayTarget::ThisServer && this_server.is_none() {
            self.notify(
                "the server is not running: start it or replay against a fresh server",
                true,
            );
            return;
        }
        self.sessions.is_replaying = true;
        let progress = Arc::clone(&self.sessions.progress);
        let repaint = Arc::clone(&self.repaint);
        let messages = self.message_sender();
        self.spawn(async move {
            for path in paths {
                let result = replay_one(
                    &path,
                    &target,
                    this_server.as_deref(),
                    timing,
                    speed,
                    &progress,
                    &repaint,
                )
                .await;
                let _ = messages.send(UiMessage::ReplayFinished { path, result });
                repaint();
            }
            *progress.lock() = None;
            UiMessage::ReplaysDone
        });
    }

    /// Writes `rules` into the header of the session at `path`.
    pub fn save_ignore_rules(&mut self, path: PathBuf, rules: Vec<IgnoreRule>) {
        let Some(session) = self.session_at(&path) else {
            return;
        };
        let mut session = session.clone();
        session.header.ignore = rules;
        self.spawn(async move {
            let result = tokio::task::spawn_blocking(move || session.save(&path).map(|()| path))
                .await
                .map_err(|error| error.to_string())
                .and_then(|saved| saved.map_err(|error| error.to_string()));
            UiMessage::SessionFileWritten(
                result.map(|path| format!("ignore rules saved in {}", path.display())),
            )
        });
    }

    /// Writes the session at `from` to `to` (save as, rename, import).
    pub fn write_session_copy(&mut self, from: &Path, to: PathBuf, remove_original: bool) {
        let Some(session) = self.session_at(from).cloned() else {
            return;
        };
        let from = from.to_path_buf();
        self.spawn(async move {
            let result = tokio::task::spawn_blocking(move || {
                session.save(&to).map_err(|error| error.to_string())?;
                if remove_original && from != to {
                    std::fs::remove_file(&from)
                        .map_err(|error| format!("cannot remove {}: {error}", from.display()))?;
                }
                Ok(format!("wrote {}", to.display()))
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|written| written);
            UiMessage::SessionFileWritten(result)
        });
    }

    /// Imports a browser HAR file into the sessions folder.
    pub fn import_har(&mut self, har: PathBuf) {
        let folder = self.sessions.folder.clone();
        self.spawn(async move {
            let result = tokio::task::spawn_blocking(move || {
                let text = std::fs::read_to_string(&har)
                    .map_err(|error| format!("cannot read {}: {error}", har.display()))?;
                let session = crate::session::har::import_har(&text)
                    .map_err(|error| format!("cannot import {}: {error}", har.display()))?;
                std::fs::create_dir_all(&folder)
                    .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
                let stem = har.file_stem().map_or("imported".into(), |stem| {
                    stem.to_string_lossy().into_owned()
                });
                let target = folder.join(format!("{stem}.jsonl"));
                session.save(&target).map_err(|error| error.to_string())?;
                Ok(format!(
                    "imported {} into {}",
                    har.display(),
                    target.display()
                ))
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|imported| imported);
            UiMessage::SessionFileWritten(result)
        });
    }

    /// The parsed session listed at `path`.
    pub fn session_at(&self, path: &Path) -> Option<&crate::session::Session> {
        self.sessions
            .listing
            .iter()
            .find(|summary| summary.path == path)
            .and_then(|summary| summary.session.as_ref())
    }
}

async fn replay_one(
    path: &Path,
    target: &ReplayTarget,
    this_server: Option<&str>,
    timing: Timing,
    speed: f64,
    progress: &Arc<Mutex<Option<(PathBuf, ReplayProgress)>>>,
    repaint: &Arc<dyn Fn() + Send + Sync>,
) -> ReplayResult {
    let session = match tokio::task::spawn_blocking({
        let path = path.to_path_buf();
        move || crate::session::read_session(&path)
    })
    .await
    {
        Ok(Ok(session)) => session,
        Ok(Err(error)) => return ReplayResult::Error(error.to_string()),
        Err(error) => return ReplayResult::Error(error.to_string()),
    };
    let fresh = match target {
        ReplayTarget::FreshServer => match start_engine_for(&session, None).await {
            Ok(engine) => Some(engine),
            Err(error) => return ReplayResult::Error(error),
        },
        _ => None,
    };
    let url = match (target, &fresh) {
        (ReplayTarget::Url(url), _) => url.clone(),
        (ReplayTarget::ThisServer, _) => this_server.unwrap_or_default().to_owned(),
        (ReplayTarget::FreshServer, Some(engine)) => engine.url(),
        (ReplayTarget::FreshServer, None) => return ReplayResult::Error("no server".to_owned()),
    };
    let options = ReplayOptions {
        timing,
        speed,
        ..ReplayOptions::new(url)
    };
    let shown_path = path.to_path_buf();
    let result = replay_session(&session, &options, |step: ReplayProgress| {
        *progress.lock() = Some((shown_path.clone(), step));
        repaint();
    })
    .await;
    if let Some(engine) = fresh {
        engine.shutdown().await;
    }
    match result {
        Ok(report) => ReplayResult::Report(Box::new(report)),
        Err(error) => ReplayResult::Error(error.to_string()),
    }
}
