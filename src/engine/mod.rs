//! The websocket server: listeners, handshake, connections, registry and
//! the command API. It reaches the handlers only through the
//! [`crate::runtime::HandlerRuntime`] seam, and knows no lane. No UI code
//! lives here.

pub mod approvals;
pub mod breakpoints;
pub mod command;
pub mod config;
mod connection;
pub mod fdlimit;
mod handshake;
mod metered;
pub mod registry;
mod server;
mod shared;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::core::bus::{EventBus, Subscription};
use crate::core::close_code;
use crate::core::events::PendingApproval;
use crate::core::events::{ClosedBy, ConnectionId, Event, ScriptFailure};
use crate::core::outbound::CloseRequest;
use crate::kv::{KvError, KvStore};
use crate::runtime::{RuntimeLauncher, RuntimeServices, RuntimeStartError};
use approvals::Approvals;
use command::{Command, CommandError};
use config::EngineConfig;
use registry::{ConnectionSnapshot, TrafficSnapshot};
use shared::EngineShared;

/// Bytes tungstenite reads per call. Its default (128 KiB) is zero-filled
/// before every read: with small messages that memset was 30% of the
/// server's instructions (callgrind), and it is resident memory per
/// connection. Larger messages still arrive whole: the buffer grows to fit
/// the frame being read.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The name the first listener goes by while the handlers declared no
/// socket: it serves the first one they declare.
const UNNAMED_SOCKET: &str = "";

/// Ports tried after the first socket's for each further socket.
const PORT_ATTEMPTS: u16 = 100;

/// Why an engine did not start. Each names the thing to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The port is taken, the address is not local, or permission is denied.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Runtime(#[from] RuntimeStartError),
}

/// One socket's listener: `websocket(name)` and where it is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketListener {
    pub socket: Arc<str>,
    pub local_addr: SocketAddr,
}

/// A running engine. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<EngineShared>,
}

impl EngineHandle {
    /// Opens the kv store, binds the first socket's listener, starts the
    /// handlers through `launcher` and starts accepting. Must be called
    /// inside a tokio runtime.
    pub async fn start(
        config: EngineConfig,
        launcher: Box<dyn RuntimeLauncher>,
    ) -> Result<Self, EngineError> {
        let bus = EventBus::new(config.bus_capacity);
        let kv = KvStore::open(&config.kv, bus.clone())?;
        let requested = SocketAddr::new(config.bind, config.port);
        let bind_error = |reason| EngineError::Bind {
            addr: requested,
            reason,
        };
        let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let registry = registry::Registry::default();
        let runtime = launcher
            .launch(RuntimeServices {
                bus: bus.clone(),
                kv: kv.clone(),
                limits: config.limits.clone(),
                connections: Arc::new(registry.clone()),
                url: format!("ws://{local_addr}"),
            })
            .await?;
        let mut declared = runtime.sockets();
        if declared.is_empty() {
            declared.push(UNNAMED_SOCKET.to_owned());
        }
        // The first socket at --port, every further one on the next free
        // port (any free one with port 0), unless pinned: `nitric start`
        // gives each socket a port of its own.
        let mut primary = Some((listener, local_addr));
        let mut next_port = config.port;
        let mut listeners = Vec::with_capacity(declared.len());
        for name in &declared {
            let pinned = config.pinned_ports.get(name).copied();
            let (listener, local_addr) = match (pinned, primary.take()) {
                (Some(port), unused) => {
                    // Give the --port listener back unless a later socket takes it.
                    primary = unused;
                    let requested = SocketAddr::new(config.bind, port);
                    let bind_error = |reason| EngineError::Bind {
                        addr: requested,
                        reason,
                    };
                    let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
                    let local_addr = listener.local_addr().map_err(bind_error)?;
                    (listener, local_addr)
                }
                (None, Some(first)) => first,
                (None, None) => bind_next_free(config.bind, &mut next_port).await?,
            };
            listeners.push((
                SocketListener {
                    socket: Arc::from(name.as_str()),
                    local_addr,
                },
                listener,
            ));
        }
        for (listener, _) in &listeners {
            runtime.serving(&listener.socket, listener.local_addr);
        }
        let sockets = listeners
            .iter()
            .map(|(listener, _)| listener.clone())
            .collect();

        let websocket_config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(config.limits.max_message_bytes))
            .max_frame_size(Some(config.limits.max_message_bytes));
        let shared = Arc::new(EngineShared {
            approvals: Approvals::new(
                config.limits.approval_timeout,
                config.intercept.approval_stage,
            ),
            breakpoints: breakpoints::Breakpoints::new(
                config.intercept.breakpoints.clone(),
                config.intercept.hold_settings,
            ),
            config,
            sockets,
            bus,
            registry,
            runtime,
            kv,
            shutdown: CancellationToken::new(),
            connection_tasks: TaskTracker::new(),
            open_connections: AtomicUsize::new(0),
            websocket_config,
        });
        fdlimit::raise_for(shared.config.limits.max_connections);
        let sockets_runtime = shared.runtime.sockets_runtime();
        let mut accepting = Vec::with_capacity(listeners.len());
        for (socket, listener) in listeners {
            let listener = match &sockets_runtime {
                Some(runtime) => {
                    moved_onto(listener, runtime).map_err(|reason| EngineError::Bind {
                        addr: socket.local_addr,
                        reason,
                    })?
                }
                None => listener,
            };
            accepting.push((socket, listener));
        }
        // Nothing accepts before every listener is ready: an accept loop
        // keeps the engine, and with it the handlers, alive.
        for (socket, listener) in accepting {
            let accept = server::accept_loop(Arc::clone(&shared), listener, socket.socket);
            match &sockets_runtime {
                Some(runtime) => drop(runtime.spawn(accept)),
                None => drop(tokio::spawn(accept)),
            }
            shared.bus.publish(Event::Listening {
                local_addr: socket.local_addr,
            });
        }
        Ok(Self { shared })
    }

    /// The first socket's address, as bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.sockets[0].local_addr
    }

    /// `ws://host:port` of the first socket.
    pub fn url(&self) -> String {
        format!("ws://{}", self.local_addr())
    }

    /// The processes the handlers run in (the real-runtime lane).
    pub fn services(&self) -> Vec<crate::runtime::ServiceSummary> {
        self.shared.runtime.services()
    }

    /// Every socket served and its listener, in declaration order.
    pub fn sockets(&self) -> &[SocketListener] {
        &self.shared.sockets
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

    /// A subscriber for a sampled log: while nothing else watches frames
    /// it gets a few a second; [`EngineHandle::take_hidden_frames`] counts
    /// the rest.
    pub fn subscribe_sampled(&self) -> Subscription {
        self.shared.bus.subscribe_sampled()
    }

    /// The frames a sampled log did not get since the last call.
    pub fn take_hidden_frames(&self) -> crate::core::logging::HiddenMessages {
        self.shared.bus.take_hidden_frames()
    }

    /// Live connections, oldest first.
    pub fn connections(&self) -> Vec<ConnectionSnapshot> {
        self.shared.registry.snapshot()
    }

    /// Why the handlers failed to load, if their last load failed (the
    /// previous handlers, if any, are still running).
    pub fn script_failure(&self) -> Option<ScriptFailure> {
        self.shared.runtime.load_failure()
    }

    /// The project files the loaded handlers are made of (embedded lane).
    pub fn source_files(&self) -> Vec<std::path::PathBuf> {
        self.shared.runtime.source_files()
    }

    /// Frames queued for a live connection that its writer has not taken
    /// yet: a client that reads slower than it is sent to, or frames behind
    /// a held one.
    pub fn frames_waiting(&self, connection_id: &ConnectionId) -> Option<u64> {
        self.shared
            .registry
            .get(connection_id)
            .map(|connection| connection.outbound.frames_waiting())
    }

    /// Traffic of every live connection (cheap; for periodic refresh).
    pub fn traffic(&self) -> std::collections::HashMap<ConnectionId, TrafficSnapshot> {
        self.shared.registry.traffic()
    }

    /// Frames and bytes over all connections since the engine started.
    pub fn totals(&self) -> TrafficSnapshot {
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

    /// Messages held by a breakpoint now, oldest first.
    pub fn held_frames(&self) -> Vec<crate::core::events::HeldFrame> {
        self.shared.breakpoints.held()
    }

    /// The message breakpoints in force.
    pub fn breakpoints(&self) -> Vec<breakpoints::BreakpointRule> {
        self.shared.breakpoints.rules()
    }

    /// How long held messages wait, and what then.
    pub fn hold_settings(&self) -> breakpoints::HoldSettings {
        self.shared.breakpoints.settings()
    }

    /// Where held connections wait: before or after their connect handler.
    pub fn approval_stage(&self) -> crate::core::events::ApprovalStage {
        self.shared.approvals.stage()
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
                if !close_code::is_sendable(code) {
                    return Err(CommandError::InvalidCloseCode(code));
                }
                let connection = shared.registry.for_command(connection_id)?;
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
                let connection = shared.registry.for_command(connection_id)?;
                // Behind a full queue it waits while the client reads, as a
                // handler's send does.
                connection.outbound.send_when_room(payload).await?;
                Ok(())
            }
            Command::SendToTarget {
                connection_id,
                payload,
            } => {
                let connection = shared.registry.for_command(connection_id)?;
                // Queued for the target's writer, not written yet: reported
                // before any reply can be.
                shared
                    .runtime
                    .send_upstream(connection_id, payload.clone())
                    .await?;
                shared.registry.record_in(&connection, payload.len_bytes());
                shared.bus.publish(Event::FrameIn {
                    connection_id,
                    payload,
                    at: Utc::now(),
                });
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
            Command::ReloadScript { source } => Ok(shared.runtime.reload(source).await?),
            Command::SetHoldConnections(hold) => {
                shared.approvals.set_holding(hold);
                Ok(())
            }
            Command::SetApprovalStage(stage) => {
                shared.approvals.set_stage(stage);
                Ok(())
            }
            Command::AcceptAllApprovals => {
                shared.approvals.accept_all();
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
            Command::SetBreakpoints(rules) => {
                shared.breakpoints.set_rules(rules);
                Ok(())
            }
            Command::SetHoldSettings(settings) => {
                shared.breakpoints.set_settings(settings);
                Ok(())
            }
            Command::ResolveHold { hold_id, decision } => {
                Ok(shared.breakpoints.resolve(hold_id, decision)?)
            }
            Command::ForwardAllHeld => {
                shared.breakpoints.forward_all();
                Ok(())
            }
            Command::RestartService { name } => Ok(shared.runtime.restart_service(name).await?),
            Command::StopService { name } => Ok(shared.runtime.stop_service(name).await?),
            Command::Shutdown => {
                self.shutdown().await;
                Ok(())
            }
        }
    }

    /// Stops accepting, closes every connection with 1001, waits for their
    /// disconnect handlers (bounded by the close timeout), stops the
    /// handlers, closes the kv store (every write was already durable) and
    /// reports [`Event::Stopped`].
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return;
        }
        shared.shutdown.cancel();
        shared.approvals.set_holding(false);
        shared.breakpoints.set_rules(Vec::new());
        shared.breakpoints.forward_all();
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
        // before the handlers stop, and only then is the store closed.
        shared.runtime.stop().await;
        shared.kv.close();
        shared.bus.publish(Event::Stopped { at: Utc::now() });
    }
}

/// `listener`, polled by `runtime` from now on: a connection belongs to the
/// runtime whose reactor polls the listener that accepted it.
fn moved_onto(
    listener: TcpListener,
    runtime: &tokio::runtime::Handle,
) -> std::io::Result<TcpListener> {
    let listener = listener.into_std()?;
    let _entered = runtime.enter();
    TcpListener::from_std(listener)
}

/// Binds the first free port after `*port` (or any free port when it is 0)
/// and leaves `*port` at the one taken.
async fn bind_next_free(
    bind: IpAddr,
    port: &mut u16,
) -> Result<(TcpListener, SocketAddr), EngineError> {
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS {
        let candidate = if *port == 0 {
            0
        } else {
            port.saturating_add(1)
        };
        let requested = SocketAddr::new(bind, candidate);
        match TcpListener::bind(requested).await {
            Ok(listener) => {
                let local_addr = listener.local_addr().map_err(|reason| EngineError::Bind {
                    addr: requested,
                    reason,
                })?;
                if *port != 0 {
                    *port = local_addr.port();
                }
                return Ok((listener, local_addr));
            }
            Err(reason) => {
                last_error = Some((requested, reason));
                if *port == 0 {
                    break;
                }
                *port = candidate;
            }
        }
    }
    let (addr, reason) = last_error.unwrap_or_else(|| {
        (
            SocketAddr::new(bind, *port),
            std::io::Error::other("no port left to try"),
        )
    });
    Err(EngineError::Bind { addr, reason })
}

async fn run_blocking(
    work: impl FnOnce() -> Result<(), KvError> + Send + 'static,
) -> Result<(), CommandError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| CommandError::Task(error.to_string()))?
        .map_err(CommandError::from)
}
