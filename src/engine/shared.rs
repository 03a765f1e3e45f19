//! State shared by the accept loop, every connection task and the handle.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::approvals::Approvals;
use super::bus::EventBus;
use super::config::EngineConfig;
use super::registry::Registry;
use crate::kv::KvStore;
use crate::script::ScriptHost;

pub(crate) struct EngineShared {
    pub config: EngineConfig,
    pub local_addr: SocketAddr,
    pub bus: EventBus,
    pub registry: Registry,
    pub script: ScriptHost,
    pub kv: KvStore,
    pub approvals: Approvals,
    /// Cancelled when the engine stops accepting.
    pub shutdown: CancellationToken,
    /// Upgraded connection tasks, awaited on shutdown.
    pub connection_tasks: TaskTracker,
    /// Accepted connections, counted from the connect verdict to the end of
    /// the connection (the registry only holds upgraded ones).
    pub open_connections: AtomicUsize,
    pub websocket_config: WebSocketConfig,
    /// Why the last load of the script failed, while it stays failed.
    pub script_failure: parking_lot::Mutex<Option<super::events::ScriptFailure>>,
}
