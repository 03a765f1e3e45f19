//! The session file format (version 1): serde types, a reader whose errors
//! name file, line and problem, and a line-by-line writer.
//!
//! ```text
//! {"format":"sockscope.session","version":1,"created":"2026-11-27T23:00:00Z","source":"recorded"}
//! {"t":0,"conn":"c1","ev":"connect","path":"/","query":{"token":["abc"]}}
//! {"t":2,"conn":"c1","ev":"accepted","id":"6f1c…"}
//! {"t":15,"conn":"c1","ev":"send","text":"hello"}
//! {"t":16,"conn":"c1","ev":"recv","text":"{\"echo\":\"hello\"}"}
//! {"t":31,"conn":"c1","ev":"close","code":1000,"by":"client"}
//! ```

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::core::events::{ClosedBy, Payload};
use crate::core::query::Query;

/// The `format` value of every session header.
pub const FORMAT_NAME: &str = "sockscope.session";

/// The version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// First line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for files this build writes.
    pub version: u32,
    /// When the session was made, RFC 3339.
    pub created: String,
    /// Where it came from: `recorded`, `har`, or something a tool chose.
    pub source: String,
    /// Handler script the session was recorded against, relative to the
    /// session file's folder. Replay uses it when no script is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Differences replay does not count as mismatches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
    /// Labels of connections that were already open when the recording
    /// started: their `connect` and `accepted` lines are at `t` 0, written
    /// from what the server knew of them, and what they did before is not
    /// in the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_at_start: Vec<String>,
    /// The server a proxy recording was made in front of (`source:
    /// "proxy"`); `replay --url` can replay against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Header {
    /// A version-1 header created now.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            source: source.into(),
            script: None,
            ignore: Vec::new(),
            open_at_start: Vec::new(),
            target: None,
        }
    }
}

/// One ignore rule as stored in the header.
///
/// - `"$..timestamp"` (a string): a JSON path; matching values are removed
///   from both the expected and the actual message before comparing.
/// - `{"regex": "\\d{4}-\\d\\d-\\d\\dT[^\"]*"}`: every match in a text
///   message is replaced by `<ignored>` on both sides before comparing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IgnoreRule {
    /// A JSON path (`$`, `.name`, `..name`, `[n]`, `[*]`).
    Path(String),
    /// A regular expression (Rust `regex` syntax) applied to text messages.
    Regex {
        /// The pattern.
        regex: String,
    },
}

/// The body of a `send` or `recv`: text, or binary stored as base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrameRepr", into = "FrameRepr")]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Frame {
    /// `"text"` or `"binary"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Text(_) => "text",
            Frame::Binary(_) => "binary",
        }
    }

    /// The frame as a user reads it: text as is, binary as `base64:…`.
    pub fn display(&self) -> String {
        match self {
            Frame::Text(text) => text.clone(),
            Frame::Binary(bytes) => format!("binary base64:{}", BASE64.encode(bytes)),
        }
    }
}

impl From<&Payload> for Frame {
    fn from(payload: &Payload) -> Self {
        match payload {
            Payload::Text(text) => Frame::Text(text.as_str().to_owned()),
            Payload::Binary(bytes) => Frame::Binary(bytes.to_vec()),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    binary: Option<String>,
}

impl TryFrom<FrameRepr> for Frame {
    type Error = String;

    fn try_from(repr: FrameRepr) -> Result<Self, Self::Error> {
        match (repr.text, repr.binary) {
            (Some(text), None) => Ok(Frame::Text(text)),
            (None, Some(binary)) => BASE64
                .decode(binary.as_bytes())
                .map(Frame::Binary)
                .map_err(|error| format!("\"binary\" is not base64: {error}")),
            (Some(_), Some(_)) => Err("a frame has either \"text\" or \"binary\", not both".into()),
            (None, None) => Err("a frame needs \"text\" or \"binary\"".into()),
        }
    }
}

impl From<Frame> for FrameRepr {
    fn from(frame: Frame) -> Self {
        match frame {
            Frame::Text(text) => FrameRepr {
                text: Some(text),
                binary: None,
            },
            Frame::Binary(bytes) => FrameRepr {
                text: None,
                binary: Some(BASE64.encode(bytes)),
            },
        }
    }
}

/// What happened, from the client's point of view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "lowercase")]
pub enum SessionEvent {
    /// The client asked to connect.
    Connect {
        /// Request path, e.g. `/`.
        path: String,
        /// Query string, Nitric's shape.
        #[serde(default)]
        query: Query,
    },
    /// The server upgraded the connection.
    Accepted {
        /// The server's connection id, when known. Replay maps it to the new
        /// id wherever it appears in later messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The server refused the upgrade with this HTTP status.
    Rejected {
        /// E.g. 401.
        status: u16,
    },
    /// Client → server.
    Send(Frame),
    /// Server → client.
    Recv(Frame),
    /// The connection ended.
    Close {
        /// Close code, if a close frame was exchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        by: ClosedBy,
    },
}

/// One event line: when, which connection, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLine {
    /// Milliseconds since the session start.
    pub t: u64,
    /// Connection label local to the file (`c1`, `c2`, …).
    pub conn: String,
    /// The event.
    #[serde(flatten)]
    pub event: SessionEvent,
}

/// A whole session file, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Where it was read from (for messages and relative script paths).
    pub path: Option<PathBuf>,
    /// The header.
    pub header: Header,
    /// Event lines in file order.
    pub lines: Vec<SessionLine>,
    /// Problems that did not stop the read (a torn last line).
    pub warnings: Vec<String>,
}

impl Session {
    /// A session with no events yet.
    pub fn new(header: Header) -> Self {
        Self {
            path: None,
            header,
            lines: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The file name for messages (`<memory>` when not read from a file).
    pub fn name(&self) -> String {
        self.path
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_else(|| "<memory>".to_owned())
    }

    /// The header's script resolved against the session file's folder.
    pub fn script_path(&self) -> Option<PathBuf> {
        let script = self.header.script.as_ref()?;
        let base = self
            .path
            .as_ref()
            .and_then(|path| path.parent())
            .unwrap_or_else(|| Path::new("."));
        Some(base.join(script))
    }

    /// Connection labels in order of first appearance.
    pub fn connection_labels(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.lines
            .iter()
            .filter(|line| seen.insert(line.conn.as_str()))
            .map(|line| line.conn.clone())
            .collect()
    }

    /// Number of `send` and `recv` lines.
    pub fn message_count(&self) -> usize {
        self.lines
            .iter()
            .filter(|line| matches!(line.event, SessionEvent::Send(_) | SessionEvent::Recv(_)))
            .count()
    }

    /// Writes the whole session to `path` (header first).
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let io_error = |reason| SessionError::Io {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::create(path).map_err(io_error)?;
        let mut writer =
            SessionWriter::new(std::io::BufWriter::new(file), &self.header).map_err(io_error)?;
        for line in &self.lines {
            writer.write_line(line).map_err(io_error)?;
        }
        Ok(())
    }
}

/// Why a session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The file could not be opened, read or written. The message already
    /// holds the reason, so it is not also chained as a source (that would
    /// print it twice in `{:#}` reports).
    #[error("{}: {reason}", path.display())]
    Io {
        path: PathBuf,
        reason: std::io::Error,
    },
    /// A line is not what the format allows.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file (or `<memory>`).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Reads and checks a session file.
pub fn read_session(path: &Path) -> Result<Session, SessionError> {
    let text = std::fs::read_to_string(path).map_err(|reason| SessionError::Io {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut session = parse_session(&text, &path.display().to_string())?;
    session.path = Some(path.to_path_buf());
    Ok(session)
}

/// Parses session text; `file` names it in errors.
///
/// A bad last line (a torn write) becomes a warning; a bad line anywhere
/// else is an error.
pub fn parse_session(text: &str, file: &str) -> Result<Session, SessionError> {
    let line_error = |line: usize, problem: String| SessionError::Line {
        file: file.to_owned(),
        line,
        problem,
    };
    let numbered: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    let Some(&(header_line, header_text)) = numbered.first() else {
        return Err(line_error(
            1,
            "empty file: expected a session header".into(),
        ));
    };
    let header = parse_header(header_text).map_err(|problem| line_error(header_line, problem))?;

    let mut session = Session::new(header);
    let mut open_labels = HashSet::new();
    let last_index = numbered.len() - 1;
    for (position, &(line_number, line_text)) in numbered.iter().enumerate().skip(1) {
        let parsed = serde_json::from_str::<SessionLine>(line_text)
            .map_err(|error| format!("bad event: {error}"))
            .and_then(|line| check_order(&line, &mut open_labels).map(|()| line));
        match parsed {
            Ok(line) => session.lines.push(line),
            Err(problem) if position == last_index => session.warnings.push(format!(
                "{file}:{line_number}: torn last line ignored ({problem})"
            )),
            Err(problem) => return Err(line_error(line_number, problem)),
        }
    }
    Ok(session)
}

fn parse_header(text: &str) -> Result<Header, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("header is not JSON: {error}"))?;
    let format = value.get("format").and_then(|format| format.as_str());
    if format != Some(FORMAT_NAME) {
        return Err(format!(
            "not a sockscope session: the header's \"format\" is {}, expected \"{FORMAT_NAME}\"",
            value
                .get("format")
                .map(|format| format.to_string())
                .unwrap_or_else(|| "missing".to_owned())
        ));
    }
    match value.get("version").and_then(|version| version.as_u64()) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(format!(
                "unsupported session version {version} (this sockscope reads version {FORMAT_VERSION})"
            ));
        }
        None => return Err("the header has no numeric \"version\"".into()),
    }
    serde_json::from_value(value).map_err(|error| format!("bad header: {error}"))
}

/// Every connection starts with `connect`, and only once.
fn check_order(line: &SessionLine, open: &mut HashSet<String>) -> Result<(), String> {
    let is_connect = matches!(line.event, SessionEvent::Connect { .. });
    let is_known = open.contains(&line.conn);
    match (is_connect, is_known) {
        (true, true) => Err(format!("second \"connect\" for {}", line.conn)),
        (true, false) => {
            open.insert(line.conn.clone());
            Ok(())
        }
        (false, true) => Ok(()),
        (false, false) => Err(format!("event for {} before its \"connect\"", line.conn)),
    }
}

/// Writes a session line by line, flushing after each line so a crash loses
/// at most the line being written.
pub struct SessionWriter<W: Write> {
    out: W,
}

impl<W: Write> SessionWriter<W> {
    /// Writes and flushes the header.
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        let mut writer = Self { out };
        writer.write_json(header)?;
        Ok(writer)
    }

    /// Writes and flushes one event line.
    pub fn write_line(&mut self, line: &SessionLine) -> std::io::Result<()> {
        self.write_json(line)
    }

    fn write_json(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.out.write_all(&bytes)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests;
