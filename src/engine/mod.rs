//! The websocket server: listener, handshake, connections, registry, event
//! bus and command API. No UI code lives here.

pub mod approvals;
pub mod bus;
pub mod command;
pub mod config;
mod connection;
pub mod events;
mod handshake;
pub mod logging;
pub mod outbound;
pub mod query;
pub mod registry;
mod server;
mod shared;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::kv::{KvError, KvStore};
use crate::script::{ScriptHost, ScriptSettings, ScriptStartError};
use approvals::{Approvals, PendingApproval};
use bus::{EventBus, Subscription};
use command::{Command, CommandError, is_sendable_close_code};
use config::EngineConfig;
use events::{ClosedBy, Event, ScriptFailure};
use outbound::CloseRequest;
use registry::ConnectionSnapshot;
use shared::EngineShared;

/// Why an engine did not start. Each names the thing to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The port is taken, the address is not local, or permission is denied.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The script file could not be read.
    #[error("cannot read script {}: {source}", path.display())]
    ScriptRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The script failed to parse or to run its top level.
    #[error("script {} failed to load: {failure}", path.display())]
    ScriptLoad {
        /// The file.
        path: PathBuf,
        /// What and where.
        failure: ScriptFailure,
    },
    /// The kv store could not be opened.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The script thread could not start.
    #[error(transparent)]
    ScriptStart(#[from] ScriptStartError),
}

/// A running engine. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<EngineShared>,
}

/// The module name a script is loaded under: its file name.
pub fn script_module_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "script.js".to_owned())
}

impl EngineHandle {
    /// Opens the kv store, loads the script, binds the listener and starts
    /// accepting. Must be called inside a tokio runtime.
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let source = std::fs::read_to_string(&config.script_path).map_err(|source| {
            EngineError::ScriptRead {
                path: config.script_path.clone(),
                source,
            }
        })?;
        let bus = EventBus::new(config.bus_capacity);
        let kv = KvStore::open(&config.kv, bus.clone())?;
        let requested = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(requested)
            .await
            .map_err(|source| EngineError::Bind {
                addr: requested,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| EngineError::Bind {
            addr: requested,
            source,
        })?;
        let script = ScriptHost::start(
            ScriptSettings {
                handler_timeout: config.limits.handler_timeout,
                memory_limit_bytes: config.limits.script_memory_bytes,
                url: format!("ws://{local_addr}"),
            },
            kv.clone(),
            bus.clone(),
        )?;
        let initial_failure = match script
            .load(script_module_name(&config.script_path), source)
            .await
        {
            Ok(_) => None,
            Err(failure) if config.start_with_broken_script => Some(failure),
            Err(failure) => {
                return Err(EngineError::ScriptLoad {
                    path: config.script_path.clone(),
                    failure,
                });
            }
        };

        let websocket_config = WebSocketConfig::default()
            .max_message_size(Some(config.limits.max_message_bytes))
            .max_frame_size(Some(config.limits.max_message_bytes));
        let shared = Arc::new(EngineShared {
            approvals: Approvals::new(config.limits.approval_timeout),
            config,
            local_addr,
            bus,
            registry: registry::Registry::default(),
            script,
            kv,
            shutdown: CancellationToken::new(),
            connection_tasks: TaskTracker::new(),
            open_connections: AtomicUsize::new(0),
            websocket_config,
            script_failure: parking_lot::Mutex::new(initial_failure.clone()),
        });
        tokio::spawn(server::accept_loop(Arc::clone(&shared), listener));
        if shared.config.watch_script {
            let handle = Self {
                shared: Arc::clone(&shared),
            };
            tokio::spawn(watch::watch_script(handle));
        }
        shared.bus.publish(Event::Listening { local_addr });
        if let Some(failure) = initial_failure {
            shared.bus.publish(Event::ScriptReloadFailed {
                path: shared.config.script_path.display().to_string(),
                failure,
                at: Utc::now(),
            });
        }
        Ok(Self { shared })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// `ws://host:port` of the server.
    pub fn url(&self) -> String {
        format!("ws://{}", self.shared.local_addr)
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// A subscriber that may lose events when it lags (for displays).
    pub fn subscribe(&self) -> Subscription {
        self.shared.bus.subscribe()
    }

    /// A subscriber that sees every event (for recorders).
    pub fn subscribe_lossless(&self) -> Subscription {
        self.shared.bus.subscribe_lossless()
    }

    /// Live connections, oldest first.
    pub fn connections(&self) -> Vec<ConnectionSnapshot> {
        self.shared.registry.snapshot()
    }

    /// Why the current script failed to load, if its last load failed (the
    /// previous handlers, if any, are still running).
    pub fn script_failure(&self) -> Option<ScriptFailure> {
        self.shared.script_failure.lock().clone()
    }

    /// Traffic of every live connection (cheap; for periodic refresh).
    pub fn traffic(
        &self,
    ) -> std::collections::HashMap<events::ConnectionId, registry::TrafficSnapshot> {
        self.shared.registry.traffic()
    }

    /// Frames and bytes over all connections since the engine started.
    pub fn totals(&self) -> registry::TrafficSnapshot {
        self.shared.registry.totals()
    }

    /// Connections waiting for approval, oldest first.
    pub fn pending_approvals(&self) -> Vec<PendingApproval> {
        self.shared.approvals.pending()
    }

    /// How long held connections wait for a decision.
    pub fn approval_timeout(&self) -> std::time::Duration {
        self.shared.approvals.timeout()
    }

    /// Whether new connections are held for approval.
    pub fn is_holding_connections(&self) -> bool {
        self.shared.approvals.is_holding()
    }

    /// The kv store (reads are safe from any thread; writes should go
    /// through [`Command::KvSet`] so they are attributed and evented).
    pub fn kv(&self) -> &KvStore {
        &self.shared.kv
    }

    /// Whether the engine was shut down.
    pub fn is_stopped(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Carries out a command.
    pub async fn execute(&self, command: Command) -> Result<(), CommandError> {
        let shared = &self.shared;
        match command {
            Command::CloseConnection {
                connection_id,
                code,
                reason,
            } => {
                if !is_sendable_close_code(code) {
                    return Err(CommandError::InvalidCloseCode(code));
                }
                let connection = shared
                    .registry
                    .get(&connection_id)
                    .ok_or(CommandError::UnknownConnection(connection_id))?;
                connection.outbound.request_close(CloseRequest {
                    code,
                    reason,
                    by: ClosedBy::User,
                });
                Ok(())
            }
            Command::SendToConnection {
                connection_id,
                payload,
            } => {
                let connection = shared
                    .registry
                    .get(&connection_id)
                    .ok_or(CommandError::UnknownConnection(connection_id))?;
                connection.outbound.send(payload)?;
                Ok(())
            }
            Command::KvSet { store, key, value } => {
                if store.is_empty() || key.is_empty() {
                    return Err(CommandError::EmptyName);
                }
                let kv = shared.kv.clone();
                let json = value.to_string();
                run_blocking(move || kv.set(&store, &key, &json, None)).await
            }
            Command::KvDelete { store, key } => {
                if store.is_empty() || key.is_empty() {
                    return Err(CommandError::EmptyName);
                }
                let kv = shared.kv.clone();
                run_blocking(move || kv.delete(&store, &key, None).map(|_| ())).await
            }
            Command::ReloadScript { source } => self.reload(source).await,
            Command::SetHoldConnections(hold) => {
                shared.approvals.set_holding(hold);
                Ok(())
            }
            Command::SetApprovalTimeout(timeout) => {
                shared.approvals.set_timeout(timeout);
                Ok(())
            }
            Command::ResolveApproval {
                connection_id,
                decision,
            } => Ok(shared.approvals.resolve(connection_id, decision)?),
            Command::Shutdown => {
                self.shutdown().await;
                Ok(())
            }
        }
    }

    async fn reload(&self, source: Option<String>) -> Result<(), CommandError> {
        let path = &self.shared.config.script_path;
        let shown_path = path.display().to_string();
        let source = match source {
            Some(source) => source,
            None => tokio::fs::read_to_string(path).await.map_err(|source| {
                CommandError::ScriptRead {
                    path: shown_path.clone(),
                    source,
                }
            })?,
        };
        let loaded = self
            .shared
            .script
            .load(script_module_name(path), source)
            .await;
        *self.shared.script_failure.lock() = loaded.as_ref().err().cloned();
        match loaded {
            Ok(_) => {
                self.shared.bus.publish(Event::ScriptReloaded {
                    path: shown_path,
                    at: Utc::now(),
                });
                Ok(())
            }
            Err(failure) => {
                self.shared.bus.publish(Event::ScriptReloadFailed {
                    path: shown_path,
                    failure: failure.clone(),
                    at: Utc::now(),
                });
                Err(CommandError::ScriptLoad(failure))
            }
        }
    }

    /// Stops accepting, closes every connection with 1001, waits for their
    /// disconnect handlers (bounded by the close timeout), stops the script
    /// thread, closes the kv store (every write was already durable) and
    /// reports [`Event::Stopped`].
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return;
        }
        shared.shutdown.cancel();
        shared.approvals.set_holding(false);
        connection::close_all_going_away(shared);
        shared.connection_tasks.close();
        let grace = shared.config.limits.close_timeout * 2;
        if tokio::time::timeout(grace, shared.connection_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                target: "sockscope::server",
                "{} connections did not close within {} ms",
                shared.registry.len(),
                grace.as_millis()
            );
        }
        // Disconnect handlers were queued by the connection tasks; they run
        // before the script thread stops, and only then is the store closed.
        shared.script.stop().await;
        shared.kv.close();
        shared.bus.publish(Event::Stopped { at: Utc::now() });
    }
}

async fn run_blocking(
    work: impl FnOnce() -> Result<(), KvError> + Send + 'static,
) -> Result<(), CommandError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| CommandError::Task(error.to_string()))?
        .map_err(CommandError::from)
}
