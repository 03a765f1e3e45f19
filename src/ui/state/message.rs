//! Results of background work ([`UiMessage`]) and the one place that
//! applies them to the state.

use std::path::PathBuf;

use super::ingest::Ingest;
use super::project::OpenedPath;
use super::{AppState, ServerStatus};
use crate::engine::EngineHandle;
use crate::engine::command::Command;
use crate::session::RecordingStatus;
use crate::session::runner::ReplayResult;
use crate::ui::model::sessions::SessionSummary;

/// Results of background work, delivered to the UI thread.
pub enum UiMessage {
    /// The engine started (or failed to).
    EngineStarted(Result<EngineHandle, String>),
    /// The engine finished shutting down.
    EngineStopped,
    /// A command finished.
    CommandDone {
        /// What the user asked for, in words.
        what: String,
        /// Outcome.
        result: Result<(), String>,
    },
    /// The kv store names were read.
    KvStores(Result<Vec<String>, String>),
    /// A store's entries were read.
    KvEntries {
        /// The store.
        store: String,
        /// Its entries.
        result: Result<Vec<(String, String)>, String>,
    },
    /// The script file was read from disk.
    ScriptRead(Result<String, String>),
    /// The script file was written.
    ScriptSaved(Result<(), String>),
    /// A native file dialog picked a script (or failed).
    ScriptPicked(Result<Option<PathBuf>, String>),
    /// A native folder dialog picked a project folder (or failed).
    ProjectFolderPicked(Result<Option<PathBuf>, String>),
    /// A typed or picked path was read: a script, or a project folder.
    PathRead {
        path: PathBuf,
        /// What it holds, or why it cannot be opened, in one line.
        result: Result<OpenedPath, String>,
    },
    /// Another module of the project was read, to be shown in the Script panel.
    ModuleRead {
        path: PathBuf,
        result: Result<String, String>,
    },
    /// The session files were read.
    SessionsListed(Result<Vec<SessionSummary>, String>),
    /// One replay finished.
    ReplayFinished {
        /// The session file.
        path: PathBuf,
        /// Its outcome.
        result: ReplayResult,
    },
    /// The queued replays are all done.
    ReplaysDone,
    /// A recording was finished.
    RecordingStopped {
        /// The file.
        path: PathBuf,
        /// What it holds, and any write failure.
        status: RecordingStatus,
    },
    /// A session file was written (or not), with a notice for the user.
    SessionFileWritten(Result<String, String>),
    /// A native file dialog picked a session file to open (or failed).
    SessionPicked(Result<Option<PathBuf>, String>),
    /// A native file dialog picked where to save a session (or failed).
    SessionSaveTarget {
        /// The session being saved.
        from: PathBuf,
        /// The chosen file.
        picked: Result<Option<PathBuf>, String>,
    },
    /// A native file dialog picked a HAR file to import (or failed).
    HarPicked(Result<Option<PathBuf>, String>),
}

impl AppState {
    /// Applies one result of background work.
    pub fn apply_message(&mut self, message: UiMessage, ingest: &mut Ingest) {
        match message {
            UiMessage::EngineStarted(Ok(engine)) => {
                ingest.attach(&engine, &self.runtime, std::sync::Arc::clone(&self.repaint));
                self.script.failure = engine.script_failure();
                self.notify(format!("listening on {}", engine.url()), false);
                self.timeline.push_lifecycle(
                    chrono::Utc::now(),
                    None,
                    format!("server listening on {}", engine.url()),
                );
                self.services.summaries = engine.services();
                self.sockets = engine.sockets().to_vec();
                self.engine = Some(engine);
                self.status = ServerStatus::Running;
                self.rates.reset();
                self.refresh_kv();
            }
            UiMessage::EngineStarted(Err(error)) => {
                self.notify(format!("server did not start: {error}"), true);
                self.status = ServerStatus::Failed(error);
            }
            UiMessage::EngineStopped => {
                ingest.detach();
                self.services.summaries.clear();
                self.sockets.clear();
                self.status = ServerStatus::Stopped;
                self.timeline
                    .push_lifecycle(chrono::Utc::now(), None, "server stopped".to_owned());
            }
            UiMessage::CommandDone { what, result } => match result {
                Ok(()) => self.notify(format!("{what}: done"), false),
                Err(error) => self.notify(format!("{what} failed: {error}"), true),
            },
            UiMessage::KvStores(Ok(stores)) => {
                self.kv.set_stores(stores);
                if let Some(store) = self.kv.selected_store().map(str::to_owned) {
                    self.load_kv_store(store);
                }
            }
            UiMessage::KvStores(Err(error))
            | UiMessage::KvEntries {
                result: Err(error), ..
            } => {
                self.kv.load_error = Some(error);
            }
            UiMessage::KvEntries {
                store,
                result: Ok(entries),
            } => {
                self.kv.load_error = None;
                self.kv.set_entries(&store, entries);
            }
            UiMessage::ScriptRead(Ok(text)) => {
                if !self.script.is_dirty() {
                    self.script.text = text.clone();
                }
                self.script.saved_text = text;
            }
            UiMessage::ScriptRead(Err(error)) | UiMessage::ScriptSaved(Err(error)) => {
                self.notify(error, true)
            }
            UiMessage::ScriptSaved(Ok(())) => {
                self.script.saved_text = self.script.text.clone();
                // A watched file is reloaded by the watcher (within a
                // quarter second); reloading here as well ran it twice.
                if !self.launch_config.script.watch {
                    self.command("reload script", Command::ReloadScript { source: None });
                }
            }
            UiMessage::ScriptPicked(Ok(Some(path))) => self.open_script(path),
            UiMessage::ScriptPicked(Ok(None)) => {}
            UiMessage::ProjectFolderPicked(Ok(Some(dir))) => self.open_path(dir),
            UiMessage::ProjectFolderPicked(Ok(None)) => {}
            UiMessage::ProjectFolderPicked(Err(error)) => self.notify(
                format!(
                    "no folder dialog available ({error}); type the project folder into the Script panel's path field and press Open path"
                ),
                true,
            ),
            UiMessage::PathRead { path, result } => match result {
                Ok(OpenedPath::Script) => self.open_script(path),
                Ok(OpenedPath::Project(project)) => self.run_project(path, project),
                Err(error) => self.notify(error, true),
            },
            UiMessage::ModuleRead { path, result } => {
                let reveal = self
                    .script
                    .pending_reveal
                    .take_if(|(pending, _)| *pending == path)
                    .map(|(_, line)| line);
                match result {
                    Ok(text) => {
                        self.script.viewed_module = Some((path, text));
                        self.reveal_script_line = reveal.or(self.reveal_script_line);
                    }
                    Err(error) => self.notify(error, true),
                }
            }
            UiMessage::SessionsListed(Ok(listing)) => self.sessions.listing = listing,
            UiMessage::SessionsListed(Err(error)) => {
                self.notify(format!("cannot list the sessions: {error}"), true)
            }
            UiMessage::ReplayFinished { path, result } => {
                let verdict = result.verdict();
                self.notify(
                    format!("replay {}: {}", verdict.label(), path.display()),
                    !verdict.is_pass(),
                );
                self.sessions.results.insert(path, result);
                self.sessions.results_generation += 1;
            }
            UiMessage::ReplaysDone => self.sessions.is_replaying = false,
            UiMessage::RecordingStopped { path, status } => {
                match status.failure {
                    Some(failure) => self.notify(
                        format!("recording {} failed: {failure}", path.display()),
                        true,
                    ),
                    None => self.notify(
                        format!(
                            "recorded {}: {} connections, {} messages",
                            path.display(),
                            status.connections,
                            status.messages
                        ),
                        false,
                    ),
                }
                self.list_sessions();
            }
            UiMessage::SessionFileWritten(result) => {
                match result {
                    Ok(text) => self.notify(text, false),
                    Err(error) => self.notify(error, true),
                }
                self.list_sessions();
            }
            UiMessage::SessionPicked(Ok(Some(path))) => {
                if !self.sessions.extra_files.contains(&path) {
                    self.sessions.extra_files.push(path);
                }
                self.list_sessions();
            }
            UiMessage::SessionSaveTarget {
                from,
                picked: Ok(Some(to)),
            } => self.write_session_copy(&from, to, false),
            UiMessage::HarPicked(Ok(Some(path))) => self.import_har(path),
            UiMessage::SessionPicked(Ok(None))
            | UiMessage::SessionSaveTarget {
                picked: Ok(None), ..
            }
            | UiMessage::HarPicked(Ok(None)) => {}
            UiMessage::ScriptPicked(Err(error))
            | UiMessage::SessionPicked(Err(error))
            | UiMessage::SessionSaveTarget {
                picked: Err(error), ..
            }
            | UiMessage::HarPicked(Err(error)) => self.notify(
                format!("no file dialog available ({error}); type the path instead"),
                true,
            ),
        }
    }
}
