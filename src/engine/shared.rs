//! State shared by the accept loop, every connection task and the handle.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SocketListener;
use super::approvals::Approvals;
use super::breakpoints::Breakpoints;
use super::config::EngineConfig;
use super::registry::Registry;
use crate::core::bus::EventBus;
use crate::kv::KvStore;
use crate::runtime::HandlerRuntime;

pub(crate) struct EngineShared {
    pub config: EngineConfig,
    /// At least one: the first is the listener at `config.port`.
    pub sockets: Vec<SocketListener>,
    pub bus: EventBus,
    pub registry: Registry,
    pub runtime: Arc<dyn HandlerRuntime>,
    pub kv: KvStore,
    pub approvals: Approvals,
    pub breakpoints: Breakpoints,
    /// Cancelled when the engine stops accepting.
    pub shutdown: CancellationToken,
    /// Upgraded connection tasks, awaited on shutdown.
    pub connection_tasks: TaskTracker,
    /// Accepted connections, counted from the connect verdict to the end of
    /// the connection (the registry only holds upgraded ones).
    pub open_connections: AtomicUsize,
    pub websocket_config: WebSocketConfig,
}
