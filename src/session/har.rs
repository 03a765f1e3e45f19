//! Imports the websocket traffic of a browser HAR file (Chrome and Firefox
//! export frames in `entries[]._webSocketMessages`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::format::{Frame, Header, Session, SessionEvent, SessionLine};
use crate::core::query::parse_query;

/// Why a HAR file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    /// JSON, but not the HAR shape.
    #[error("not a HAR file: {0}")]
    Shape(&'static str),
    /// A HAR without websocket entries.
    #[error("no websocket connections in it (entries with _webSocketMessages)")]
    NoWebsockets,
    /// A frame that cannot be read.
    #[error("entry {entry}, message {message}: {problem}")]
    Message {
        /// 0-based entry index.
        entry: usize,
        /// 0-based message index.
        message: usize,
        /// What is wrong.
        problem: String,
    },
}

// By hand, not `#[from]`: that would also mark the error as the source,
// and a chain printed with `{:#}` would then say it twice.
impl From<serde_json::Error> for HarError {
    fn from(error: serde_json::Error) -> Self {
        HarError::Json(error)
    }
}

/// Converts HAR text into a session: one connection per websocket entry,
/// `send`/`receive` frames as `send`/`recv`, times relative to the earliest
/// entry. HAR has no close information, so connections have no `close`.
pub fn import_har(text: &str) -> Result<Session, HarError> {
    let har: Value = serde_json::from_str(text)?;
    let entries = har
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or(HarError::Shape("no log.entries array"))?;

    struct Raw {
        start_ms: f64,
        lines: Vec<(f64, SessionEvent)>,
    }
    let mut connections = Vec::new();
    for (entry_index, entry) in entries.iter().enumerate() {
        let Some(messages) = entry.get("_webSocketMessages").and_then(Value::as_array) else {
            continue;
        };
        let url = entry
            .pointer("/request/url")
            .and_then(Value::as_str)
            .unwrap_or("/");
        let (path, query) = split_url(url);
        let start_ms = entry
            .get("startedDateTime")
            .and_then(Value::as_str)
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.timestamp_millis() as f64);
        let status = entry
            .pointer("/response/status")
            .and_then(Value::as_u64)
            .and_then(|status| u16::try_from(status).ok())
            .unwrap_or(0);
        let mut lines = Vec::new();
        for (message_index, message) in messages.iter().enumerate() {
            let problem = |problem: &str| HarError::Message {
                entry: entry_index,
                message: message_index,
                problem: problem.to_owned(),
            };
            let time_ms = message
                .get("time")
                .and_then(Value::as_f64)
                .ok_or_else(|| problem("no numeric \"time\""))?
                * 1000.0;
            let data = message.get("data").and_then(Value::as_str).unwrap_or("");
            let frame =
                match message.get("opcode").and_then(Value::as_u64) {
                    Some(1) => Frame::Text(data.to_owned()),
                    Some(2) => Frame::Binary(BASE64.decode(data).map_err(|error| {
                        problem(&format!("binary data is not base64: {error}"))
                    })?),
                    // Control frames (close, ping, pong) carry no message.
                    _ => continue,
                };
            let event = match message.get("type").and_then(Value::as_str) {
                Some("send") => SessionEvent::Send(frame),
                Some("receive") => SessionEvent::Recv(frame),
                _ => return Err(problem("\"type\" is neither \"send\" nor \"receive\"")),
            };
            lines.push((time_ms, event));
        }
        let first_message_ms = lines.iter().map(|(t, _)| *t).fold(f64::INFINITY, f64::min);
        let start_ms = start_ms.unwrap_or(first_message_ms).min(first_message_ms);
        let start_ms = if start_ms.is_finite() { start_ms } else { 0.0 };
        let outcome = match status {
            0 | 101 => SessionEvent::Accepted { id: None },
            status => SessionEvent::Rejected { status },
        };
        let mut all = vec![
            (start_ms, SessionEvent::Connect { path, query }),
            (start_ms, outcome),
        ];
        all.extend(lines);
        connections.push(Raw {
            start_ms,
            lines: all,
        });
    }
    if connections.is_empty() {
        return Err(HarError::NoWebsockets);
    }
    let session_start = connections
        .iter()
        .map(|raw| raw.start_ms)
        .fold(f64::INFINITY, f64::min);
    let mut lines: Vec<SessionLine> = Vec::new();
    for (index, raw) in connections.into_iter().enumerate() {
        let label = format!("c{}", index + 1);
        for (time_ms, event) in raw.lines {
            let t = (time_ms.max(raw.start_ms) - session_start).max(0.0).round() as u64;
            lines.push(SessionLine {
                t,
                conn: label.clone(),
                event,
            });
        }
    }
    // Stable: a connection's connect stays before its own later lines.
    lines.sort_by_key(|line| line.t);
    let mut session = Session::new(Header::new("har"));
    session.lines = lines;
    Ok(session)
}

/// `ws://host:port/path?x=1` → (`/path`, `{x: [1]}`).
fn split_url(url: &str) -> (String, crate::core::query::Query) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..]);
    let path_and_query = path_and_query.split('#').next().unwrap_or("/");
    match path_and_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), parse_query(query)),
        None => (path_and_query.to_owned(), Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_path_and_query() {
        let (path, query) = split_url("wss://example.com:8443/chat/room?name=ann&x=1#frag");
        assert_eq!(path, "/chat/room");
        assert_eq!(query["name"], vec!["ann"]);
        assert_eq!(split_url("ws://host").0, "/");
    }

    #[test]
    fn shape_errors_are_named() {
        assert!(matches!(import_har("{}"), Err(HarError::Shape(_))));
        assert!(matches!(
            import_har(r#"{"log":{"entries":[]}}"#),
            Err(HarError::NoWebsockets)
        ));
        assert!(matches!(import_har("{"), Err(HarError::Json(_))));
    }
}
