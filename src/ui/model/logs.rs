//! The Log panel: console output and script errors, bounded, with a count of
//! errors not yet seen (the tab's badge).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::core::events::{ConnectionId, Event, LogLevel, ScriptLocation, reload_failed_summary};

/// Lines kept.
const MAX_LINES: usize = 50_000;

/// One log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Level (script errors are `Error`).
    pub level: LogLevel,
    /// Connection whose handler logged, if any.
    pub connection_id: Option<ConnectionId>,
    /// The text.
    pub message: String,
    /// Script location, for errors.
    pub location: Option<ScriptLocation>,
}

/// The bounded log.
#[derive(Default)]
pub struct Logs {
    lines: VecDeque<LogLine>,
    unseen_errors: usize,
    dropped: u64,
}

impl Logs {
    /// Applies an engine event: console output, script errors and reloads.
    pub fn on_event(&mut self, event: &Event) {
        let line = match event {
            Event::Log {
                connection_id,
                level,
                message,
                location,
                at,
            } => LogLine {
                at: *at,
                level: *level,
                connection_id: *connection_id,
                message: message.clone(),
                location: location.clone(),
            },
            Event::ScriptError {
                connection_id,
                handler,
                failure,
                at,
            } => {
                let handler = handler.map_or("script", |handler| handler.as_str());
                LogLine {
                    at: *at,
                    level: LogLevel::Error,
                    connection_id: *connection_id,
                    message: format!("{handler} handler: {}", failure.message),
                    location: failure.location.clone(),
                }
            }
            Event::ScriptReloaded { path, at } => LogLine {
                at: *at,
                level: LogLevel::Info,
                connection_id: None,
                message: format!("script reloaded: {path}"),
                location: None,
            },
            Event::ScriptReloadFailed { path, failure, at } => LogLine {
                at: *at,
                level: LogLevel::Error,
                connection_id: None,
                // The summary names the location already.
                message: reload_failed_summary(path, failure),
                location: None,
            },
            Event::ApprovalResolved {
                pending,
                resolution,
                at,
            } => LogLine {
                at: *at,
                level: LogLevel::Info,
                connection_id: Some(pending.connection_id),
                message: format!("approval: {resolution}"),
                location: None,
            },
            _ => return,
        };
        self.push(line);
    }

    /// Appends a line; errors raise the unseen count.
    pub fn push(&mut self, line: LogLine) {
        if line.level == LogLevel::Error {
            self.unseen_errors += 1;
        }
        self.lines.push_back(line);
        if self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// Lines at or above `min_level`, optionally of one connection.
    pub fn filtered(
        &self,
        min_level: LogLevel,
        connection_id: Option<ConnectionId>,
    ) -> Vec<&LogLine> {
        self.lines
            .iter()
            .filter(|line| line.level >= min_level)
            .filter(|line| connection_id.is_none() || line.connection_id == connection_id)
            .collect()
    }

    /// Errors logged since the user last looked at the log.
    pub fn unseen_errors(&self) -> usize {
        self.unseen_errors
    }

    /// The user looked at the log.
    pub fn mark_seen(&mut self) {
        self.unseen_errors = 0;
    }

    /// Older lines dropped to stay bounded.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.unseen_errors = 0;
        self.dropped = 0;
    }
}
