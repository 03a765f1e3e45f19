//! The Messages timeline: every frame and lifecycle event, bounded in memory,
//! with a filter index that is updated incrementally as events arrive.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::core::events::{ConnectionId, Event, Payload, close_summary, handler_error_summary};
use crate::core::query::path_and_query;

/// Which way a timeline row went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Client → server.
    In,
    /// Server → client.
    Out,
    /// A lifecycle event (connect, deny, close, …).
    Lifecycle,
}

/// What a row holds.
#[derive(Clone, Debug)]
pub enum EntryBody {
    /// A data frame.
    Frame(Payload),
    /// A lifecycle event, described in words.
    Lifecycle(Arc<str>),
    /// The UI fell behind the engine and lost this many events here.
    Missed(u64),
}

/// One timeline row.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    /// Position in the whole history (never reused).
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The connection, if any.
    pub connection_id: Option<ConnectionId>,
    /// Direction.
    pub direction: Direction,
    /// Content.
    pub body: EntryBody,
}

impl TimelineEntry {
    /// Payload size in bytes (0 for lifecycle rows).
    pub fn size_bytes(&self) -> usize {
        match &self.body {
            EntryBody::Frame(payload) => payload.len_bytes(),
            _ => 0,
        }
    }

    /// Short kind label for the table.
    pub fn kind_label(&self) -> &'static str {
        match &self.body {
            EntryBody::Frame(payload) => payload.kind(),
            EntryBody::Lifecycle(_) => "event",
            EntryBody::Missed(_) => "missed",
        }
    }

    /// One-line preview of at most `max_chars` characters.
    pub fn preview(&self, max_chars: usize) -> String {
        match &self.body {
            EntryBody::Frame(payload) => payload.preview(max_chars),
            EntryBody::Lifecycle(description) => description.to_string(),
            EntryBody::Missed(count) => {
                format!("{count} events missed: the display fell behind the server")
            }
        }
    }

    fn searchable_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.body {
            EntryBody::Frame(Payload::Text(text)) => std::borrow::Cow::Borrowed(text.as_str()),
            EntryBody::Frame(Payload::Binary(bytes)) => String::from_utf8_lossy(bytes),
            EntryBody::Lifecycle(description) => std::borrow::Cow::Borrowed(description),
            EntryBody::Missed(_) => std::borrow::Cow::Borrowed(""),
        }
    }
}

/// Which directions to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DirectionFilter {
    /// Everything.
    #[default]
    All,
    /// Client → server frames only.
    In,
    /// Server → client frames only.
    Out,
    /// Frames in both directions, no lifecycle rows.
    Frames,
    /// Lifecycle rows only.
    Lifecycle,
}

/// What the timeline shows.
#[derive(Clone, Debug, Default)]
pub struct TimelineFilter {
    /// Only this connection.
    pub connection_id: Option<ConnectionId>,
    /// Only these directions.
    pub direction: DirectionFilter,
    /// Text the row must contain (or match, as a regex).
    pub text: String,
    /// Treat `text` as a regular expression.
    pub is_regex: bool,
}

/// A filter ready to apply: the regex compiled once.
struct CompiledFilter {
    filter: TimelineFilter,
    regex: Option<Regex>,
    lowercase_text: String,
}

impl CompiledFilter {
    fn new(filter: TimelineFilter) -> Result<Self, regex::Error> {
        let regex = if filter.is_regex && !filter.text.is_empty() {
            Some(Regex::new(&filter.text)?)
        } else {
            None
        };
        Ok(Self {
            lowercase_text: filter.text.to_lowercase(),
            filter,
            regex,
        })
    }

    fn matches(&self, entry: &TimelineEntry) -> bool {
        if matches!(entry.body, EntryBody::Missed(_)) {
            // Losing events is always worth seeing.
            return true;
        }
        if let Some(connection_id) = self.filter.connection_id
            && entry.connection_id != Some(connection_id)
        {
            return false;
        }
        let direction_matches = match self.filter.direction {
            DirectionFilter::All => true,
            DirectionFilter::In => entry.direction == Direction::In,
            DirectionFilter::Out => entry.direction == Direction::Out,
            DirectionFilter::Frames => entry.direction != Direction::Lifecycle,
            DirectionFilter::Lifecycle => entry.direction == Direction::Lifecycle,
        };
        if !direction_matches {
            return false;
        }
        if self.filter.text.is_empty() {
            return true;
        }
        let text = entry.searchable_text();
        match &self.regex {
            Some(regex) => regex.is_match(&text),
            None => text.to_lowercase().contains(&self.lowercase_text),
        }
    }
}

/// Memory bounds of the history.
#[derive(Clone, Copy, Debug)]
pub struct TimelineLimits {
    /// Rows kept.
    pub max_entries: usize,
    /// Payload bytes kept (frames share memory with the engine's events).
    pub max_payload_bytes: usize,
}

impl Default for TimelineLimits {
    fn default() -> Self {
        Self {
            max_entries: 1_000_000,
            max_payload_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The bounded history plus the rows that pass the filter.
pub struct Timeline {
    entries: VecDeque<TimelineEntry>,
    next_seq: u64,
    dropped: u64,
    payload_bytes: usize,
    limits: TimelineLimits,
    filter: CompiledFilter,
    /// Sequence numbers of matching rows, ascending.
    visible: VecDeque<u64>,
    /// Sequence numbers of each connection's rows, ascending.
    by_connection: HashMap<ConnectionId, VecDeque<u64>>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new(limits: TimelineLimits) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            dropped: 0,
            payload_bytes: 0,
            limits,
            filter: CompiledFilter {
                filter: TimelineFilter::default(),
                regex: None,
                lowercase_text: String::new(),
            },
            visible: VecDeque::new(),
            by_connection: HashMap::new(),
        }
    }

    /// Applies an engine event: frames, and lifecycle rows in words.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::ConnectionOpened {
                connection_id,
                remote_addr,
                path,
                query,
                at,
            } => self.push_lifecycle(
                *at,
                Some(*connection_id),
                format!(
                    "connected {} from {remote_addr}",
                    path_and_query(path, query)
                ),
            ),
            Event::ConnectionDenied {
                connection_id,
                status,
                reason,
                at,
                ..
            } => self.push_lifecycle(
                *at,
                Some(*connection_id),
                format!("denied with HTTP {status}: {reason}"),
            ),
            Event::ConnectionClosed {
                connection_id,
                code,
                reason,
                by,
                at,
                ..
            } => self.push_lifecycle(*at, Some(*connection_id), close_summary(*code, reason, *by)),
            Event::FrameIn {
                connection_id,
                payload,
                at,
            } => self.push(
                *at,
                Some(*connection_id),
                Direction::In,
                EntryBody::Frame(payload.clone()),
            ),
            Event::FrameOut {
                connection_id,
                payload,
                at,
            } => self.push(
                *at,
                Some(*connection_id),
                Direction::Out,
                EntryBody::Frame(payload.clone()),
            ),
            Event::ApprovalPending { pending } => self.push_lifecycle(
                pending.since,
                Some(pending.connection_id),
                format!(
                    "waiting for approval {}: {}",
                    pending.stage.label(),
                    pending.path
                ),
            ),
            Event::ApprovalResolved {
                pending,
                resolution,
                at,
            } => self.push_lifecycle(
                *at,
                Some(pending.connection_id),
                format!("approval: {resolution}"),
            ),
            // A failing handler belongs beside the message that ran it;
            // its first line only (a stack would fill the table).
            Event::ScriptError {
                connection_id,
                handler,
                failure,
                at,
            } => {
                let summary = handler_error_summary(*handler, failure);
                let first_line = summary.lines().next().unwrap_or_default();
                self.push_lifecycle(*at, *connection_id, first_line.to_owned());
            }
            Event::FrameHeld { held } => self.push_lifecycle(
                held.since,
                Some(held.connection_id),
                format!(
                    "breakpoint holds message {} #{}",
                    held.direction.label(),
                    held.hold_id
                ),
            ),
            Event::FrameReleased {
                hold_id,
                connection_id,
                decision,
                is_timeout,
                at,
            } => {
                let timed_out = if *is_timeout { " (timed out)" } else { "" };
                let text = format!(
                    "held message #{hold_id} {}{timed_out}",
                    crate::core::logging::hold_summary(decision)
                );
                self.push_lifecycle(*at, Some(*connection_id), text);
            }
            _ => {}
        }
    }

    /// Appends a lifecycle row.
    pub fn push_lifecycle(
        &mut self,
        at: DateTime<Utc>,
        connection_id: Option<ConnectionId>,
        text: String,
    ) {
        self.push(
            at,
            connection_id,
            Direction::Lifecycle,
            EntryBody::Lifecycle(text.into()),
        );
    }

    /// Appends a row, dropping the oldest beyond the limits.
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        connection_id: Option<ConnectionId>,
        direction: Direction,
        body: EntryBody,
    ) {
        let entry = TimelineEntry {
            seq: self.next_seq,
            at,
            connection_id,
            direction,
            body,
        };
        self.next_seq += 1;
        self.payload_bytes += entry.size_bytes();
        if self.filter.matches(&entry) {
            self.visible.push_back(entry.seq);
        }
        if let Some(connection_id) = entry.connection_id {
            self.by_connection
                .entry(connection_id)
                .or_default()
                .push_back(entry.seq);
        }
        self.entries.push_back(entry);
        while self.entries.len() > self.limits.max_entries
            || (self.payload_bytes > self.limits.max_payload_bytes && self.entries.len() > 1)
        {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.payload_bytes -= oldest.size_bytes();
            self.dropped += 1;
            if self.visible.front() == Some(&oldest.seq) {
                self.visible.pop_front();
            }
            if let Some(connection_id) = oldest.connection_id
                && let Some(history) = self.by_connection.get_mut(&connection_id)
            {
                history.pop_front();
                if history.is_empty() {
                    self.by_connection.remove(&connection_id);
                }
            }
        }
    }

    /// Replaces the filter; a bad regex is refused and the old filter stays.
    pub fn set_filter(&mut self, filter: TimelineFilter) -> Result<(), regex::Error> {
        let compiled = CompiledFilter::new(filter)?;
        self.visible = self
            .entries
            .iter()
            .filter(|entry| compiled.matches(entry))
            .map(|entry| entry.seq)
            .collect();
        self.filter = compiled;
        Ok(())
    }

    /// The filter in force.
    pub fn filter(&self) -> &TimelineFilter {
        &self.filter.filter
    }

    /// Rows passing the filter.
    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The `index`-th row passing the filter.
    pub fn visible(&self, index: usize) -> Option<&TimelineEntry> {
        let seq = *self.visible.get(index)?;
        self.by_seq(seq)
    }

    /// A row by its sequence number, if still kept.
    pub fn by_seq(&self, seq: u64) -> Option<&TimelineEntry> {
        let first = self.entries.front()?.seq;
        let offset = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(offset)
    }

    /// Number of kept rows of one connection.
    pub fn connection_len(&self, connection_id: &ConnectionId) -> usize {
        self.by_connection
            .get(connection_id)
            .map_or(0, VecDeque::len)
    }

    /// The `index`-th kept row of one connection.
    pub fn connection_entry(
        &self,
        connection_id: &ConnectionId,
        index: usize,
    ) -> Option<&TimelineEntry> {
        let seq = *self.by_connection.get(connection_id)?.get(index)?;
        self.by_seq(seq)
    }

    /// Forgets the history index of connections no longer listed.
    pub fn forget_connections(&mut self, keep: impl Fn(&ConnectionId) -> bool) {
        self.by_connection
            .retain(|connection_id, _| keep(connection_id));
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded (or everything was cleared).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Older rows dropped to stay within the limits.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Payload bytes held.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Forgets every row (the dropped count too).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.visible.clear();
        self.by_connection.clear();
        self.dropped = 0;
        self.payload_bytes = 0;
    }
}

#[cfg(test)]
mod tests;
