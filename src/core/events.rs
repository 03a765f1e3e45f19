//! Everything the engine reports, as typed events on the bus.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use super::query::Query;

/// Server-assigned connection id (UUIDv4, created before the connect chain).
pub type ConnectionId = Uuid;

/// The body of one websocket data frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A text frame (always valid UTF-8).
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Payload {
    /// Payload size in bytes, as on the wire (before framing).
    pub fn len_bytes(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    /// The bytes as on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Text(text) => text.as_bytes(),
            Payload::Binary(bytes) => bytes,
        }
    }

    /// `"text"` or `"binary"`, for logs and tables.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Text(_) => "text",
            Payload::Binary(_) => "binary",
        }
    }

    /// A one-line preview of at most `max_chars` characters: text as is
    /// (newlines escaped), binary as hex.
    pub fn preview(&self, max_chars: usize) -> String {
        match self {
            Payload::Text(text) => {
                let mut preview = String::with_capacity(text.len().min(max_chars + 8));
                for c in text.chars().take(max_chars) {
                    push_escaped(&mut preview, c);
                }
                if text.chars().nth(max_chars).is_some() {
                    preview.push('…');
                }
                preview
            }
            Payload::Binary(bytes) => {
                let shown = bytes.len().min(max_chars / 3);
                let mut preview: Vec<String> =
                    bytes[..shown].iter().map(|b| format!("{b:02x}")).collect();
                if bytes.len() > shown {
                    preview.push("…".to_owned());
                }
                preview.join(" ")
            }
        }
    }
}

/// Escapes control characters so a preview stays on one line.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.extend(c.escape_unicode()),
        c => out.push(c),
    }
}

/// A connection's data frames and payload bytes each way, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    /// Data frames received from the client.
    pub frames_in: u64,
    /// Payload bytes received from the client.
    pub bytes_in: u64,
    /// Data frames sent to the client.
    pub frames_out: u64,
    /// Payload bytes sent to the client.
    pub bytes_out: u64,
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    /// The client sent a close frame or dropped the socket.
    Client,
    /// The handler script called `socket.close(id)`.
    Script,
    /// A user action in the UI or a command.
    User,
    /// The server enforced a limit or protocol rule, or is shutting down.
    Server,
}

impl ClosedBy {
    /// Who, in words: `client`, `script`, `you`, `server`.
    pub fn label(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Script => "script",
            ClosedBy::User => "you",
            ClosedBy::Server => "server",
        }
    }
}

/// How a connection ended, in the words every face uses (log, window,
/// replay): `closed 1000 by client: bye`, `closed without a close frame by
/// client: connection dropped`.
pub fn close_summary(code: Option<u16>, reason: &str, by: ClosedBy) -> String {
    let code = code.map_or_else(
        || "without a close frame".to_owned(),
        |code| code.to_string(),
    );
    let by = by.label();
    if reason.is_empty() {
        format!("closed {code} by {by}")
    } else {
        format!("closed {code} by {by}: {reason}")
    }
}

/// A reload that was refused, in the words every face uses.
pub fn reload_failed_summary(path: &str, failure: &ScriptFailure) -> String {
    format!("{path} not reloaded, old handlers keep running: {failure}")
}

/// A handler's failure, in the words every face uses (log, Messages, a
/// replay's report): `message handler error: TypeError: … (at handler.js:5)`.
pub fn handler_error_summary(handler: Option<HandlerKind>, failure: &ScriptFailure) -> String {
    let handler = handler.map_or("script", HandlerKind::as_str);
    format!("{handler} handler error: {failure}")
}

/// Which handler chain an error or log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlerKind {
    /// `on('connect')`, runs before the HTTP upgrade.
    Connect,
    /// `on('message')`.
    Message,
    /// `on('disconnect')`.
    Disconnect,
}

impl HandlerKind {
    /// The event name as scripts spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerKind::Connect => "connect",
            HandlerKind::Message => "message",
            HandlerKind::Disconnect => "disconnect",
        }
    }
}

/// Console level of a script log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `console.debug`.
    Debug,
    /// `console.log` / `console.info`.
    Info,
    /// `console.warn` and engine warnings about scripts.
    Warn,
    /// `console.error`.
    Error,
}

/// Where in a script something happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptLocation {
    /// Script file name as the engine loaded it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, when QuickJS reported one.
    pub column: Option<u32>,
}

impl std::fmt::Display for ScriptLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(column) => write!(f, "{}:{}:{}", self.file, self.line, column),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// A script failure: a throw, a timeout, a parse error, an unhandled rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptFailure {
    /// Human-readable message, e.g. `TypeError: x is undefined`.
    pub message: String,
    /// Where it happened, if known.
    pub location: Option<ScriptLocation>,
    /// The JS stack, if any.
    pub stack: Option<String>,
}

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A message with an excerpt under it keeps the location on its
        // first line, beside what went wrong.
        match (&self.location, self.message.split_once('\n')) {
            (Some(location), Some((first, rest))) => {
                write!(f, "{first} (at {location})\n{rest}")
            }
            (Some(location), None) => write!(f, "{} (at {location})", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

/// What happened to a kv key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvChange {
    /// The key now holds this JSON value (serialised).
    Set(Arc<str>),
    /// The key was deleted.
    Deleted,
}

/// The user's verdict on a held connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Let it in: run its connect handler (held before it), or upgrade it
    /// (held after the handler accepted).
    Accept,
    /// Refuse with 401 and this reason.
    Deny(String),
}

/// When "Hold new connections" stops a connection: before its connect
/// handler runs, or after the handler accepted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStage {
    /// The handler has not run: a denied client leaves no trace in the
    /// handlers (no "joined", no kv write) and is owed no disconnect.
    #[default]
    BeforeConnectHandler,
    /// The handler accepted (and may have told others or written kv): a
    /// denied client is owed the disconnect chain.
    AfterConnectHandler,
}

impl ApprovalStage {
    /// `before the connect handler` / `after the connect handler`.
    pub fn label(self) -> &'static str {
        match self {
            ApprovalStage::BeforeConnectHandler => "before the connect handler",
            ApprovalStage::AfterConnectHandler => "after the connect handler",
        }
    }
}

/// A held connection, for display.
#[derive(Clone, Debug)]
pub struct PendingApproval {
    pub connection_id: ConnectionId,
    pub remote_addr: SocketAddr,
    pub path: String,
    pub query: Query,
    /// Whether its connect handler has run (and accepted) yet.
    pub stage: ApprovalStage,
    /// When it started waiting.
    pub since: DateTime<Utc>,
    /// When it is denied undecided.
    pub deadline: DateTime<Utc>,
}

/// How a held connection's wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// Let in.
    Accepted,
    /// Refused with 401 and this reason.
    Denied(String),
    /// The client closed its TCP connection while it waited.
    ClientLeft,
}

/// Who (or what) ended a held connection's wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalDecider {
    /// Accept or Deny on this connection (the window or a command).
    User,
    /// "Accept all".
    AcceptAll,
    /// "Hold new connections" was turned off (or the server stopped).
    HoldingOff,
    /// Nobody decided within the approval timeout.
    Timeout,
    /// The client itself, by leaving.
    Client,
}

impl ApprovalDecider {
    /// Who, in words: `you`, `Accept all`, `holding off`, `timeout`, `client`.
    pub fn label(self) -> &'static str {
        match self {
            ApprovalDecider::User => "you",
            ApprovalDecider::AcceptAll => "Accept all",
            ApprovalDecider::HoldingOff => "holding off",
            ApprovalDecider::Timeout => "timeout",
            ApprovalDecider::Client => "client",
        }
    }
}

/// A held connection's end: what and who. Its `Display` is the one wording
/// the log, the Messages timeline and the Intercept history use:
/// `accepted by you`, `denied by timeout: no decision within 60 s`,
/// `client left while held`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalResolution {
    pub outcome: ApprovalOutcome,
    pub by: ApprovalDecider,
}

impl ApprovalResolution {
    /// The outcome in a word or two: `accepted`, `denied`, `client left`.
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome {
            ApprovalOutcome::Accepted => "accepted",
            ApprovalOutcome::Denied(_) => "denied",
            ApprovalOutcome::ClientLeft => "client left",
        }
    }
}

impl std::fmt::Display for ApprovalResolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            ApprovalOutcome::ClientLeft => f.write_str("client left while held"),
            ApprovalOutcome::Accepted => write!(f, "accepted by {}", self.by.label()),
            ApprovalOutcome::Denied(reason) => {
                write!(f, "denied by {}: {reason}", self.by.label())
            }
        }
    }
}

/// Which way a frame travels through the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameDirection {
    /// From the client (to the handlers, or a proxy's target).
    In,
    /// To the client.
    Out,
}

impl FrameDirection {
    /// `in` or `out`, as the Messages panel and the log say.
    pub fn label(self) -> &'static str {
        match self {
            FrameDirection::In => "in",
            FrameDirection::Out => "out",
        }
    }
}

/// A frame a message breakpoint holds, for display.
#[derive(Clone, Debug)]
pub struct HeldFrame {
    /// Unique per engine run, in the order frames were held.
    pub hold_id: u64,
    pub connection_id: ConnectionId,
    pub direction: FrameDirection,
    pub payload: Payload,
    /// When it started waiting.
    pub since: DateTime<Utc>,
    /// When it is forwarded (or dropped) undecided.
    pub deadline: DateTime<Utc>,
}

/// What becomes of a held frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldDecision {
    /// Deliver it as it was.
    Forward,
    /// Deliver this instead.
    Edited(Payload),
    /// Deliver nothing.
    Drop,
}

/// Everything the engine reports. Subscribers get these in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// The server is accepting connections.
    Listening {
        /// The address actually bound (port 0 resolved).
        local_addr: SocketAddr,
    },
    /// A client passed the connect chain (and approval, when connections are
    /// held): its 101 is being sent. Published in the order handlers accepted
    /// connections; from here `socket.send` reaches it and disconnect is owed.
    ConnectionOpened {
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        /// Request path, e.g. `/` or `/chat`.
        path: String,
        query: Query,
        at: DateTime<Utc>,
    },
    /// A client was refused before the upgrade.
    ConnectionDenied {
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        path: String,
        query: Query,
        /// HTTP status sent (401 denied, 500 handler error, 503 full, …).
        status: u16,
        /// Why, in words.
        reason: String,
        at: DateTime<Utc>,
    },
    /// An accepted connection ended (after its disconnect chain was queued).
    ConnectionClosed {
        connection_id: ConnectionId,
        /// Close code, if a close frame was exchanged.
        code: Option<u16>,
        /// Close reason or the error that ended the connection.
        reason: String,
        by: ClosedBy,
        /// Everything it sent and received, final (the live counters of a
        /// connection that closes between two looks are never seen).
        traffic: TrafficSnapshot,
        at: DateTime<Utc>,
    },
    /// A data frame from a client.
    FrameIn {
        connection_id: ConnectionId,
        payload: Payload,
        at: DateTime<Utc>,
    },
    /// A data frame queued to a client.
    FrameOut {
        connection_id: ConnectionId,
        payload: Payload,
        at: DateTime<Utc>,
    },
    /// A kv key changed (by a handler or a command).
    KvChanged {
        /// Store name (`kv('connections')` → `connections`).
        store: String,
        key: String,
        /// New value or deletion.
        change: KvChange,
        /// Connection whose handler made the change; `None` for commands.
        connection_id: Option<ConnectionId>,
        /// When it was committed.
        at: DateTime<Utc>,
    },
    /// `console.*` output or an engine warning about the script.
    Log {
        /// Connection whose handler logged, if any.
        connection_id: Option<ConnectionId>,
        level: LogLevel,
        message: String,
        /// The line of the user's script that logged (embedded lane).
        location: Option<ScriptLocation>,
        at: DateTime<Utc>,
    },
    /// A handler threw, timed out, ran out of memory, or never settled.
    ScriptError {
        /// Connection whose handler failed, if any.
        connection_id: Option<ConnectionId>,
        handler: Option<HandlerKind>,
        failure: ScriptFailure,
        at: DateTime<Utc>,
    },
    /// A new script version is live.
    ScriptReloaded { path: String, at: DateTime<Utc> },
    /// A reload was refused (parse or evaluation error); old handlers keep running.
    ScriptReloadFailed {
        path: String,
        failure: ScriptFailure,
        at: DateTime<Utc>,
    },
    /// "Hold new connections" is on and this connection waits for a decision.
    ApprovalPending { pending: PendingApproval },
    /// A held connection was accepted, denied, timed out, or left.
    ApprovalResolved {
        /// What it waited with.
        pending: PendingApproval,
        resolution: ApprovalResolution,
        at: DateTime<Utc>,
    },
    /// A message breakpoint holds this frame; the connection's later
    /// frames that way wait behind it.
    FrameHeld { held: HeldFrame },
    /// A held frame was forwarded, edited, dropped, or timed out.
    FrameReleased {
        hold_id: u64,
        connection_id: ConnectionId,
        decision: HoldDecision,
        /// Decided by the timeout, not by anyone.
        is_timeout: bool,
        at: DateTime<Utc>,
    },
    /// The server stopped accepting and closed everything.
    Stopped { at: DateTime<Utc> },
}

impl Event {
    /// Whether this is something a user must hear about even when nobody
    /// watches the traffic (`serve --quiet`): script errors, a failed
    /// reload, a script's warnings and errors, a refused connection.
    pub fn is_problem(&self) -> bool {
        match self {
            Event::ScriptError { .. }
            | Event::ScriptReloadFailed { .. }
            | Event::ConnectionDenied { .. } => true,
            Event::Log { level, .. } => matches!(level, LogLevel::Warn | LogLevel::Error),
            _ => false,
        }
    }
}
