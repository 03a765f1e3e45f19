//! The script editor's buffer and what the engine last said about the
//! script: the load failure, the latest runtime error, the last reload.

use chrono::{DateTime, Utc};

use crate::core::events::{Event, ScriptFailure};

/// The script editor's buffer and status.
#[derive(Default)]
pub struct ScriptEditor {
    /// Buffer.
    pub text: String,
    /// What is on disk (to know whether the buffer is dirty).
    pub saved_text: String,
    /// The latest failure to load, if the script is broken.
    pub failure: Option<ScriptFailure>,
    /// The latest error a handler threw while running.
    pub runtime_error: Option<ScriptFailure>,
    /// When the last successful (re)load happened.
    pub loaded_at: Option<DateTime<Utc>>,
    /// A path typed by the user (fallback when no file dialog is available).
    pub path_input: String,
    /// Another module of the project, shown read-only: its path and text.
    pub viewed_module: Option<(std::path::PathBuf, String)>,
    /// A line to show in a module still being read.
    pub pending_reveal: Option<(std::path::PathBuf, u32)>,
}

impl ScriptEditor {
    /// Whether the buffer differs from the file.
    pub fn is_dirty(&self) -> bool {
        self.text != self.saved_text
    }

    /// Applies an engine event: script errors and reloads. Returns whether
    /// the file should be read again: a reload under a clean buffer comes
    /// from an edit elsewhere, and the editor shows what now runs.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::ScriptError { failure, .. } => {
                self.runtime_error = Some(failure.clone());
                false
            }
            Event::ScriptReloaded { at, .. } => {
                self.failure = None;
                self.runtime_error = None;
                self.loaded_at = Some(*at);
                !self.is_dirty()
            }
            Event::ScriptReloadFailed { failure, .. } => {
                self.failure = Some(failure.clone());
                false
            }
            _ => false,
        }
    }
}
