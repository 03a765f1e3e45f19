//! The seam between the engine and whatever runs the user's handlers.
//!
//! The engine owns the sockets and the connection registry; a
//! [`HandlerRuntime`] owns the handlers. Three lanes implement it: the
//! embedded QuickJS lane (`crate::script`), the real-runtime lane
//! (`crate::nitric`: the user's own services over Nitric's gRPC contract,
//! answering asynchronously and out of order, possibly absent), and the
//! proxy lane (`crate::proxy`: a target server in place of handlers, which
//! also uses the upgrade request, answers with HTTP as it is, and hears of
//! pings, pongs and closes). The engine cannot tell them apart.
//!
//! # What a runtime must guarantee
//!
//! - **Per-connection order.** The engine hands a connection's messages over
//!   one at a time and does not read its next frame until the future of the
//!   previous [`HandlerRuntime::message`] resolved. A runtime resolves it as
//!   soon as it can take the next one: once the message is queued in order
//!   (embedded lane) or once the handler answered (a service in another
//!   process, as under `nitric start`, whose gateway awaits every answer).
//!   Messages of different connections may be handled in any order and
//!   concurrently, and answers may come back out of order.
//! - **One disconnect per accepted connection.** After a connect returned
//!   [`ConnectVerdict::Accept`], the engine calls
//!   [`HandlerRuntime::disconnect`] exactly once, whatever happens to the
//!   upgrade. A refused connection gets none.
//! - **No handler is not an error to hide.** While nothing handles connects
//!   (a service not started yet, or crashed), a connect answers
//!   [`ConnectVerdict::Unavailable`] with the reason, at once; a message or
//!   disconnect nobody handles is logged as unhandled by the runtime, never
//!   dropped silently.
//! - **Futures never wait on the UI** and resolve even when the handlers do
//!   not answer (a time budget, a crashed process): the engine awaits them
//!   on the connection's task.
//!
//! # What a runtime gets
//!
//! [`RuntimeServices`]: the bus to report on, the kv store (shared by every
//! lane), the limits, and a [`ConnectionDirectory`] to find the outbound
//! queue of an upgraded connection by id (to send and close).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::core::bus::EventBus;
use crate::core::config::Limits;
use crate::core::events::{ClosedBy, ConnectionId, Payload, ScriptFailure, reload_failed_summary};
use crate::core::outbound::Outbound;
use crate::core::query::Query;
use crate::kv::KvStore;

/// A future a runtime returns to the engine.
pub type RuntimeFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A client that wants to upgrade, before anything was answered.
pub struct ConnectRequest {
    /// The socket (`websocket(name)`) whose listener the client reached.
    pub socket: Arc<str>,
    /// The id the handlers see as `ctx.req.connectionId`.
    pub connection_id: ConnectionId,
    pub query: Query,
    /// The connection's outbound queue. Frames queued before the upgrade
    /// completes are written right after it.
    pub outbound: Outbound,
    /// The upgrade request as the client sent it, for a runtime that
    /// forwards it (the proxy); the handler lanes read `query`.
    pub upgrade: UpgradeRequest,
}

/// The parts of a client's upgrade request a forwarding runtime needs.
#[derive(Clone, Debug, Default)]
pub struct UpgradeRequest {
    /// Request path as sent, e.g. `/chat`.
    pub path: String,
    /// Query string as sent (without `?`), if any.
    pub raw_query: Option<String>,
    /// Every request header, hop-by-hop ones included.
    pub headers: hyper::HeaderMap,
}

/// An HTTP answer to pass to the client as it is (a proxied target's
/// refusal, or the proxy's own 502).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// End-to-end headers to pass on (no hop-by-hop ones, no length).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Why, in words, for the log and the window.
    pub reason: String,
}

/// What the connect handlers decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectVerdict {
    /// `res.success` stayed true: upgrade.
    Accept,
    /// `res.success = false`.
    Deny,
    /// The chain threw or timed out: HTTP 500.
    Failed(ScriptFailure),
    /// Nothing handles connects right now (HTTP 503), and why.
    Unavailable(String),
    /// Upgrade, answering with this subprotocol (`Sec-WebSocket-Protocol`).
    AcceptProtocol(String),
    /// Answer exactly this instead of upgrading.
    Answer(HttpAnswer),
}

/// Why a frame could not be sent towards the server side of a connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// Only a proxied connection has a server side to send to.
    #[error("only a proxied connection can send towards its target")]
    NotProxied,
    /// The target side is closed or closing.
    #[error("the target side of this connection is closed")]
    Closed,
}

/// One process a runtime runs the handlers in (the real-runtime lane), for
/// the window and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    /// The file it serves, its command, or the address services started by
    /// hand reach.
    pub name: String,
    /// What runs it (empty for services started by hand).
    pub command: String,
    /// `running (pid N)`, `exited with code 1`, `stopped`, ….
    pub state: String,
    pub restarts: u32,
    /// What it declared, `kind name`, with "(declared, not served)" for the
    /// resources sockscope accepts but does not serve.
    pub declared: Vec<String>,
}

/// Finds an upgraded connection's outbound queue by id. The engine's
/// registry implements it; a runtime uses it to send to and close
/// connections it did not keep a queue for.
pub trait ConnectionDirectory: Send + Sync {
    fn outbound(&self, connection_id: &ConnectionId) -> Option<Outbound>;
}

/// What the engine lends a runtime when it starts it.
#[derive(Clone)]
pub struct RuntimeServices {
    pub bus: EventBus,
    pub kv: KvStore,
    pub limits: Limits,
    pub connections: Arc<dyn ConnectionDirectory>,
    /// `ws://host:port` of the first socket's listener.
    pub url: String,
}

/// Why handlers were not (re)loaded. The previous handlers, if any, keep
/// running.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{}", reload_failed_summary(&path.display().to_string(), failure))]
    Load {
        path: PathBuf,
        failure: ScriptFailure,
    },
    /// The handlers' processes could not be restarted, or cannot be
    /// reloaded the way it was asked.
    #[error("{0}")]
    Restart(String),
    #[error("the handlers have stopped")]
    Stopped,
}

/// Why a runtime did not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeStartError {
    #[error("cannot read script {}: {reason}", path.display())]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("script {} failed to load: {failure}", path.display())]
    Load {
        path: PathBuf,
        failure: ScriptFailure,
    },
    /// A thread, a process or a runtime could not be created.
    #[error("{0}")]
    Start(String),
}

/// The handlers behind an engine. See the module docs for what an
/// implementation must guarantee.
pub trait HandlerRuntime: Send + Sync {
    /// Runs the connect handlers; answered before the HTTP upgrade.
    fn connect(&self, request: ConnectRequest) -> RuntimeFuture<'_, ConnectVerdict>;

    /// Hands over one message of an upgraded connection; resolves when the
    /// runtime is ready for that connection's next one.
    fn message(&self, connection_id: ConnectionId, payload: Payload) -> RuntimeFuture<'_, ()>;

    /// The connection ended; runs the disconnect handlers and forgets it.
    fn disconnect(&self, connection_id: ConnectionId) -> RuntimeFuture<'_, ()>;

    /// How an upgraded connection ended, told just before
    /// [`HandlerRuntime::disconnect`] (a proxy passes the close on).
    fn connection_closed(
        &self,
        _connection_id: ConnectionId,
        _code: Option<u16>,
        _reason: &str,
        _by: ClosedBy,
    ) {
    }

    /// The client pinged, in order with its messages (the engine answered
    /// the pong already); resolves, like [`HandlerRuntime::message`], when
    /// the runtime can take the connection's next frame.
    fn ping(&self, _connection_id: ConnectionId, _data: Bytes) -> RuntimeFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The client sent a pong (an answer to a ping passed on to it, or a
    /// heartbeat of its own), in order with its messages.
    fn pong(&self, _connection_id: ConnectionId, _data: Bytes) -> RuntimeFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Sends a frame towards the server side of a connection, as if its
    /// client had sent it (the window's *Send to target*).
    fn send_upstream(
        &self,
        _connection_id: ConnectionId,
        _payload: Payload,
    ) -> RuntimeFuture<'_, Result<(), UpstreamError>> {
        Box::pin(async { Err(UpstreamError::NotProxied) })
    }

    /// Loads the handlers again: from their files (`None`) or, for a
    /// runtime with one source file, from this text (an editor buffer).
    fn reload(&self, source: Option<String>) -> RuntimeFuture<'_, Result<(), ReloadError>>;

    /// Runs what was handed over so far (disconnects included), then stops.
    /// Later calls do nothing.
    fn stop(&self) -> RuntimeFuture<'_, ()>;

    /// The runtime the engine must run the sockets on: the embedded lane's
    /// script thread under `--low-cpu`. `None`: the server's own runtime.
    fn sockets_runtime(&self) -> Option<tokio::runtime::Handle> {
        None
    }

    /// The sockets (`websocket(name)`) the handlers declared, in
    /// declaration order.
    fn sockets(&self) -> Vec<String>;

    /// The engine serves `socket` at `local_addr` (`""`: the first socket
    /// the handlers declare, whichever that turns out to be).
    fn serving(&self, _socket: &str, _local_addr: std::net::SocketAddr) {}

    /// Why the last load failed, while it stays failed.
    fn load_failure(&self) -> Option<ScriptFailure>;

    /// The project files the handlers are made of (the embedded lane: the
    /// service files and the modules they import, not packages).
    fn source_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// The processes the handlers run in; none for the embedded lane.
    fn services(&self) -> Vec<ServiceSummary> {
        Vec::new()
    }

    /// Restarts the service process `name` (one of [`HandlerRuntime::services`]).
    fn restart_service(&self, name: String) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move { Err(ReloadError::Restart(format!("no service named {name}"))) })
    }

    /// Stops the service process `name`; it stays stopped until restarted.
    fn stop_service(&self, name: String) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move { Err(ReloadError::Restart(format!("no service named {name}"))) })
    }
}

/// Starts a runtime once the engine has its bus, store and registry.
pub trait RuntimeLauncher: Send {
    fn launch(
        self: Box<Self>,
        services: RuntimeServices,
    ) -> RuntimeFuture<'static, Result<Arc<dyn HandlerRuntime>, RuntimeStartError>>;
}
