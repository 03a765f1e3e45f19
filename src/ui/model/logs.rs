//! The Log panel: console output and script errors, bounded, with a count of
//! errors not yet seen (the tab's badge).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::engine::events::{ConnectionId, LogLevel, ScriptLocation};

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
