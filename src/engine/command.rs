//! What the UI (or any client of the engine) may ask it to do. The UI never
//! touches engine state directly; it sends one of these.

use super::approvals::NotWaiting;
use super::breakpoints::{BreakpointRule, HoldSettings, NotHeld};
use crate::core::events::{ApprovalDecision, ApprovalStage};
use crate::core::events::{ConnectionId, HoldDecision, Payload};
use crate::core::outbound::QueueError;
use crate::kv::KvError;
use crate::runtime::{ReloadError, UpstreamError};

/// A request to the engine.
#[derive(Clone, Debug)]
pub enum Command {
    /// Close a connection with a close frame.
    CloseConnection {
        connection_id: ConnectionId,
        /// Close code (1000, 1001, 1008, 3000–4999, …).
        code: u16,
        /// Close reason (at most 123 bytes are sent).
        reason: String,
    },
    /// Send a frame to a connection, as `socket.send` would.
    SendToConnection {
        connection_id: ConnectionId,
        payload: Payload,
    },
    /// Send a frame towards a proxied connection's target, as if its client
    /// had sent it.
    SendToTarget {
        connection_id: ConnectionId,
        payload: Payload,
    },
    /// Set a kv value.
    KvSet {
        store: String,
        key: String,
        value: serde_json::Value,
    },
    /// Delete a kv key.
    KvDelete { store: String, key: String },
    /// Reload the handler script: from its file (`None`) or from this text
    /// (an editor buffer). A failed reload keeps the old handlers.
    ReloadScript {
        /// New source, or `None` to re-read the file.
        source: Option<String>,
    },
    /// Start or stop holding new connections for approval.
    SetHoldConnections(bool),
    /// Hold connections arriving from now on before their connect handler
    /// runs, or after it accepted them.
    SetApprovalStage(ApprovalStage),
    /// Accept every held connection.
    AcceptAllApprovals,
    /// How long held connections wait before they are denied.
    SetApprovalTimeout(std::time::Duration),
    /// Accept or deny a held connection.
    ResolveApproval {
        connection_id: ConnectionId,
        decision: ApprovalDecision,
    },
    /// Replace the message breakpoints (none: nothing is held from now on).
    SetBreakpoints(Vec<BreakpointRule>),
    /// How long held messages wait, and what happens to undecided ones.
    SetHoldSettings(HoldSettings),
    /// Forward, edit or drop a held message.
    ResolveHold {
        hold_id: u64,
        decision: HoldDecision,
    },
    /// Forward every held message as it is.
    ForwardAllHeld,
    /// Restart one service process of the real-runtime lane, by name.
    RestartService { name: String },
    /// Stop one service process of the real-runtime lane, by name.
    StopService { name: String },
    /// Stop the server: close everyone with 1001 and stop accepting.
    Shutdown,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No such live connection.
    #[error("no open connection with id {0}")]
    UnknownConnection(ConnectionId),
    /// The close code may not be sent by an endpoint (RFC 6455 §7.4).
    #[error("close code {0} cannot be sent; use 1000–1003, 1007–1014 or 3000–4999")]
    InvalidCloseCode(u16),
    /// The connection's queue refused the frame.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The frame cannot go towards the target.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The kv store failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A store or key name is empty.
    #[error("store and key names must not be empty")]
    EmptyName,
    /// The handlers were not reloaded; the old ones keep running.
    #[error(transparent)]
    Reload(#[from] ReloadError),
    /// The connection is not waiting for approval.
    #[error(transparent)]
    NotWaiting(#[from] NotWaiting),
    /// The message is not held.
    #[error(transparent)]
    NotHeld(#[from] NotHeld),
    /// A blocking kv task was lost.
    #[error("engine task failed: {0}")]
    Task(String),
}
