//! Bus events as `tracing` lines on stderr (what `sockscope serve` prints).
//!
//! Per-message lines are sampled ([`SampledLog`]): a few per second and
//! direction are shown, the rest are counted in one summary line a second.
//! Without that, a busy server spent most of its time writing its log (226 MB
//! of lines for 800,000 echoes). Only this log is sampled; the window, the
//! recorder and `--record` subscribe to the bus themselves and get every event.

use std::time::{Duration, Instant};

use super::events::{
    Event, HoldDecision, KvChange, LogLevel, Payload, close_summary, handler_error_summary,
    reload_failed_summary,
};

/// Per-message lines shown per second in each direction before the rest of
/// that second's messages are only counted.
pub const MESSAGE_LINES_PER_SECOND: u32 = 50;

/// How long one sampling window lasts; its summary says "in the last second".
const SAMPLE_WINDOW: Duration = Duration::from_secs(1);

/// Characters of a message shown in a log line.
const PREVIEW_CHARS: usize = 80;

fn size_and_preview(payload: &Payload) -> String {
    format!(
        "{} {} B: {}",
        payload.kind(),
        payload.len_bytes(),
        payload.preview(PREVIEW_CHARS)
    )
}

/// Logs one event at a level that matches its seriousness.
pub fn log_event(event: &Event) {
    const TARGET: &str = "sockscope";
    match event {
        Event::Listening { local_addr } => {
            tracing::info!(target: TARGET, "listening on ws://{local_addr}")
        }
        Event::ConnectionOpened {
            connection_id,
            remote_addr,
            path,
            query,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, %remote_addr, "connect accepted: {path} query={query:?}")
        }
        Event::ConnectionDenied {
            connection_id,
            remote_addr,
            path,
            query,
            status,
            reason,
            ..
        } => tracing::warn!(
            target: TARGET, %connection_id, %remote_addr,
            "connect denied with {status}: {path} query={query:?}: {reason}"
        ),
        Event::ConnectionClosed {
            connection_id,
            code,
            reason,
            by,
            ..
        } => {
            let summary = close_summary(*code, reason, *by);
            tracing::info!(target: TARGET, %connection_id, "disconnect: {summary}");
        }
        Event::FrameIn {
            connection_id,
            payload,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, "message in, {}", size_and_preview(payload))
        }
        Event::FrameOut {
            connection_id,
            payload,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, "message out, {}", size_and_preview(payload))
        }
        Event::KvChanged {
            store, key, change, ..
        } => match change {
            KvChange::Set(value) => {
                let preview = Payload::Text(value.as_ref().into()).preview(PREVIEW_CHARS);
                tracing::info!(target: TARGET, "kv set {store}/{key} = {preview}");
            }
            KvChange::Deleted => tracing::info!(target: TARGET, "kv delete {store}/{key}"),
        },
        Event::Log {
            connection_id,
            level,
            message,
            location,
            ..
        } => {
            let connection = connection_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let located;
            let message = match location {
                // On the first line, as a script error's location is.
                Some(location) => {
                    located = match message.split_once('\n') {
                        Some((first, rest)) => format!("{first} (at {location})\n{rest}"),
                        None => format!("{message} (at {location})"),
                    };
                    &located
                }
                None => message,
            };
            match level {
                LogLevel::Debug => {
                    tracing::debug!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Info => {
                    tracing::info!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Warn => {
                    tracing::warn!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Error => {
                    tracing::error!(target: "sockscope::console", connection, "{message}")
                }
            }
        }
        Event::ScriptError {
            connection_id,
            handler,
            failure,
            ..
        } => {
            let connection = connection_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned());
            tracing::error!(target: TARGET, connection, "{}", handler_error_summary(*handler, failure));
        }
        Event::ScriptReloaded { path, .. } => {
            tracing::info!(target: TARGET, "script reloaded: {path}")
        }
        Event::ScriptReloadFailed { path, failure, .. } => {
            tracing::error!(target: TARGET, "{}", reload_failed_summary(path, failure));
        }
        Event::ApprovalPending { pending } => tracing::info!(
            target: TARGET, connection_id = %pending.connection_id,
            "waiting for approval {}: {} query={:?}", pending.stage.label(), pending.path, pending.query
        ),
        Event::ApprovalResolved {
            pending,
            resolution,
            ..
        } => tracing::info!(
            target: TARGET, connection_id = %pending.connection_id,
            "approval: {resolution}"
        ),
        Event::FrameHeld { held } => tracing::info!(
            target: TARGET, connection_id = %held.connection_id,
            "breakpoint holds message {} #{}: {}", held.direction.label(), held.hold_id,
            held.payload.preview(PREVIEW_CHARS)
        ),
        Event::FrameReleased {
            hold_id,
            connection_id,
            decision,
            is_timeout,
            ..
        } => tracing::info!(
            target: TARGET, %connection_id,
            "held message #{hold_id}: {}{}",
            hold_summary(decision),
            if *is_timeout { " (timed out)" } else { "" }
        ),
        // `serve` says "server stopped" itself, after the last disconnect handler ran.
        Event::Stopped { .. } => tracing::debug!(target: TARGET, "engine stopped"),
    }
}

/// What became of a held frame, in the words every face uses.
pub fn hold_summary(decision: &HoldDecision) -> &'static str {
    match decision {
        HoldDecision::Forward => "forwarded",
        HoldDecision::Edited(_) => "forwarded edited",
        HoldDecision::Drop => "dropped",
    }
}

/// Messages whose lines one window did not show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HiddenMessages {
    pub in_count: u64,
    pub out_count: u64,
}

impl std::fmt::Display for HiddenMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "… {} more messages in the last second (in {}, out {})",
            thousands(self.in_count + self.out_count),
            thousands(self.in_count),
            thousands(self.out_count)
        )
    }
}

/// `41237` as `41,237`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The traffic log with per-message lines sampled per direction. Lifecycle
/// events, kv changes, `console.*`, warnings and errors are always logged.
pub struct SampledLog {
    lines_per_second: u32,
    window_started_at: Instant,
    shown: [u32; 2],
    hidden: HiddenMessages,
}

impl SampledLog {
    pub fn new(lines_per_second: u32, now: Instant) -> Self {
        Self {
            lines_per_second,
            window_started_at: now,
            shown: [0; 2],
            hidden: HiddenMessages::default(),
        }
    }

    /// Logs `event`, unless it is a message past its direction's budget for
    /// this second; returns whether a line was written. `now` is read only
    /// once a budget is spent (the timer that calls [`SampledLog::roll`]
    /// starts new windows while traffic is light).
    pub fn log(&mut self, event: &Event, now: impl FnOnce() -> Instant) -> bool {
        let direction = match event {
            Event::FrameIn { .. } => 0,
            Event::FrameOut { .. } => 1,
            _ => {
                log_event(event);
                return true;
            }
        };
        if self.shown[direction] >= self.lines_per_second {
            self.roll(now());
        }
        if self.shown[direction] < self.lines_per_second {
            self.shown[direction] += 1;
            log_event(event);
            return true;
        }
        if direction == 0 {
            self.hidden.in_count += 1;
        } else {
            self.hidden.out_count += 1;
        }
        false
    }

    /// Counts messages whose lines were left out before they reached the
    /// log (the bus samples frames when only this log watches them).
    pub fn add_hidden(&mut self, hidden: HiddenMessages) {
        self.hidden.in_count += hidden.in_count;
        self.hidden.out_count += hidden.out_count;
    }

    /// Ends the window if a second has passed since it began, logging its
    /// summary if it hid anything (call it on a timer too, so the last
    /// busy second is summed up when traffic stops).
    pub fn roll(&mut self, now: Instant) -> Option<HiddenMessages> {
        if now.saturating_duration_since(self.window_started_at) < SAMPLE_WINDOW {
            return None;
        }
        self.window_started_at = now;
        self.shown = [0; 2];
        self.flush()
    }

    /// Logs and clears the summary of what was hidden so far (at the end).
    pub fn flush(&mut self) -> Option<HiddenMessages> {
        let hidden = std::mem::take(&mut self.hidden);
        if hidden == HiddenMessages::default() {
            return None;
        }
        tracing::info!(target: "sockscope", "{hidden}");
        Some(hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::ClosedBy;

    fn frame(is_in: bool) -> Event {
        let payload = Payload::Text("hi".into());
        let connection_id = uuid::Uuid::nil();
        let at = chrono::Utc::now();
        if is_in {
            Event::FrameIn {
                connection_id,
                payload,
                at,
            }
        } else {
            Event::FrameOut {
                connection_id,
                payload,
                at,
            }
        }
    }

    #[test]
    fn messages_past_the_budget_are_counted_per_direction() {
        let start = Instant::now();
        let mut log = SampledLog::new(50, start);
        let shown_in = (0..20_618)
            .filter(|_| log.log(&frame(true), || start))
            .count();
        let shown_out = (0..20_669)
            .filter(|_| log.log(&frame(false), || start))
            .count();
        assert_eq!((shown_in, shown_out), (50, 50));
        assert_eq!(log.roll(start + Duration::from_millis(999)), None);
        let summary = log.roll(start + SAMPLE_WINDOW).expect("a summary");
        assert_eq!(
            summary.to_string(),
            "… 41,187 more messages in the last second (in 20,568, out 20,619)"
        );
        // The next second has a fresh budget.
        assert!(log.log(&frame(true), || start + SAMPLE_WINDOW));
        assert_eq!(log.roll(start + SAMPLE_WINDOW * 2), None, "nothing hidden");
    }

    #[test]
    fn lifecycle_and_problems_are_never_sampled() {
        let start = Instant::now();
        let mut log = SampledLog::new(1, start);
        for _ in 0..10 {
            log.log(&frame(true), || start);
        }
        let closed = Event::ConnectionClosed {
            connection_id: uuid::Uuid::nil(),
            code: Some(1000),
            reason: String::new(),
            by: ClosedBy::Client,
            traffic: Default::default(),
            at: chrono::Utc::now(),
        };
        let warning = Event::Log {
            connection_id: None,
            level: LogLevel::Warn,
            message: "careful".to_owned(),
            location: None,
            at: chrono::Utc::now(),
        };
        for _ in 0..100 {
            assert!(log.log(&closed, || start));
            assert!(log.log(&warning, || start));
        }
        assert_eq!(
            log.flush(),
            Some(HiddenMessages {
                in_count: 9,
                out_count: 0
            })
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
