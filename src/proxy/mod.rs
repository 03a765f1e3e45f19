//! The proxy lane: a target websocket server in place of handlers.
//!
//! Behind the engine's [`HandlerRuntime`] seam like the two handler lanes,
//! so a proxied connection is served, shown, recorded, sent to and closed
//! exactly as a handled one. Each client's connect opens a connection to
//! the target first (its path and query, its end-to-end headers): the
//! target's 101 upgrades the client, with the subprotocol the target chose;
//! its refusal is passed back as it is; a target that cannot be reached is
//! a 502. Then frames flow both ways in order: the client's through
//! [`HandlerRuntime::message`] (in = client → target), the target's into
//! the client's outbound queue (out = target → client). Closes pass with
//! their code and reason; a drop on one side drops the other.
//!
//! Pings and pongs pass both ways in order with the frames, so a ping
//! reaches the far side and its pong comes back. Each hop also answers a
//! ping it reads at once: tungstenite queues that pong itself and has no
//! switch to leave it to the far side, so a ping through the proxy gets
//! two pongs with its payload, the proxy's and then the far side's.

mod pings;
mod pipe;
pub mod target;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::core::config::Limits;
use crate::core::events::{ClosedBy, ConnectionId, Payload, ScriptFailure};
use crate::core::outbound::Control;
use crate::runtime::{
    ConnectRequest, ConnectVerdict, HandlerRuntime, ReloadError, RuntimeFuture, RuntimeLauncher,
    RuntimeServices, RuntimeStartError, UpstreamError,
};
use pipe::{FrameSender, Upstream};
pub use target::{Target, TargetError};
pub use tls::TlsError;

/// Bytes tungstenite reads per call from a target. Its 128 KiB default is
/// zero-filled before every read; the engine reads 8 KiB from clients. The
/// buffer is allocated per connection, and the bound is memory per idle
/// proxied connection <= 2x a served one: with 8 KiB on this side too a
/// fresh proxy grew 30.9 KiB per idle connection against serve's 15.7
/// (1.97x), with 4 KiB 26.8 against 15.6 (1.72x). A larger message still
/// arrives whole (the buffer grows to the frame), in more reads: the
/// proxy's CPU per 16 KiB message went from 27 to 29 us between those two
/// runs, within their noise; a target's 32-byte replies fit one read
/// either way (`cargo bench --bench proxy`, runs 4 and 5 in benches/README.md).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// What to proxy to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    pub target: Target,
    /// `--insecure`: accept any certificate from a `wss://` target.
    pub is_insecure: bool,
}

impl ProxyConfig {
    /// A proxy to `url` (`ws://HOST:PORT[/PATH]`).
    pub fn new(url: &str) -> Result<Self, TargetError> {
        Ok(Self {
            target: Target::parse(url)?,
            is_insecure: false,
        })
    }
}

/// Starts the proxy lane inside an engine.
pub struct ProxyLauncher(pub ProxyConfig);

impl RuntimeLauncher for ProxyLauncher {
    fn launch(
        self: Box<Self>,
        services: RuntimeServices,
    ) -> RuntimeFuture<'static, Result<Arc<dyn HandlerRuntime>, RuntimeStartError>> {
        let config = self.0;
        Box::pin(async move {
            let connector = if config.target.is_secure() {
                let connector = tls::connector(config.is_insecure)
                    .map_err(|error| RuntimeStartError::Start(error.to_string()))?;
                Some(connector)
            } else {
                None
            };
            tracing::info!(target: "sockscope::proxy", "proxying to {}", config.target.url());
            let runtime: Arc<dyn HandlerRuntime> =
                Arc::new(ProxyRuntime::new(config, services.limits, connector));
            Ok(runtime)
        })
    }
}

struct ProxyRuntime {
    config: ProxyConfig,
    limits: Limits,
    websocket_config: WebSocketConfig,
    /// TLS for a `wss://` target, built once.
    connector: Option<Connector>,
    connections: RwLock<HashMap<ConnectionId, Proxied>>,
}

/// One client's connection to the target.
struct Proxied {
    /// Shared, so that each message takes one reference, not a clone of
    /// the queue's handles.
    sender: Arc<FrameSender>,
    upstream: Mutex<Upstream>,
}

impl ProxyRuntime {
    fn new(config: ProxyConfig, limits: Limits, connector: Option<Connector>) -> Self {
        let websocket_config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(limits.max_message_bytes))
            .max_frame_size(Some(limits.max_message_bytes));
        Self {
            config,
            limits,
            websocket_config,
            connector,
            connections: RwLock::new(HashMap::new()),
        }
    }

    fn sender(&self, connection_id: &ConnectionId) -> Option<Arc<FrameSender>> {
        self.connections
            .read()
            .get(connection_id)
            .map(|proxied| Arc::clone(&proxied.sender))
    }

    fn send_control(&self, connection_id: ConnectionId, control: Control) -> RuntimeFuture<'_, ()> {
        let sender = self.sender(&connection_id);
        Box::pin(async move {
            if let Some(sender) = sender {
                let _ = sender.send_control(control).await;
            }
        })
    }
}

impl HandlerRuntime for ProxyRuntime {
    fn connect(&self, request: ConnectRequest) -> RuntimeFuture<'_, ConnectVerdict> {
        Box::pin(async move {
            let opened = target::open(
                &self.config.target,
                &request.upgrade,
                self.websocket_config,
                self.connector.clone(),
                self.limits.handshake_timeout,
            )
            .await;
            match opened {
                Ok(opened) => {
                    let upstream =
                        Upstream::start(request.connection_id, opened.stream, request.outbound);
                    let proxied = Proxied {
                        sender: Arc::new(upstream.sender()),
                        upstream: Mutex::new(upstream),
                    };
                    self.connections
                        .write()
                        .insert(request.connection_id, proxied);
                    match opened.protocol {
                        Some(protocol) => ConnectVerdict::AcceptProtocol(protocol),
                        None => ConnectVerdict::Accept,
                    }
                }
                Err(answer) => ConnectVerdict::Answer(answer),
            }
        })
    }

    fn message(&self, connection_id: ConnectionId, payload: Payload) -> RuntimeFuture<'_, ()> {
        let sender = self.sender(&connection_id);
        Box::pin(async move {
            // A closed target side is already closing the client's.
            if let Some(sender) = sender {
                let _ = sender.send(payload).await;
            }
        })
    }

    fn ping(&self, connection_id: ConnectionId, data: Bytes) -> RuntimeFuture<'_, ()> {
        self.send_control(connection_id, Control::Ping(data))
    }

    fn pong(&self, connection_id: ConnectionId, data: Bytes) -> RuntimeFuture<'_, ()> {
        self.send_control(connection_id, Control::Pong(data))
    }

    fn send_upstream(
        &self,
        connection_id: ConnectionId,
        payload: Payload,
    ) -> RuntimeFuture<'_, Result<(), UpstreamError>> {
        let sender = self.sender(&connection_id);
        Box::pin(async move {
            match sender {
                Some(sender) => sender.send(payload).await,
                None => Err(UpstreamError::Closed),
            }
        })
    }

    fn connection_closed(
        &self,
        connection_id: ConnectionId,
        code: Option<u16>,
        reason: &str,
        _by: ClosedBy,
    ) {
        if let Some(proxied) = self.connections.read().get(&connection_id) {
            proxied.upstream.lock().client_ended(code, reason);
        }
    }

    fn disconnect(&self, connection_id: ConnectionId) -> RuntimeFuture<'_, ()> {
        let proxied = self.connections.write().remove(&connection_id);
        let close_timeout = self.limits.close_timeout;
        Box::pin(async move {
            if let Some(Proxied { upstream, .. }) = proxied {
                upstream.into_inner().finish(close_timeout).await;
            }
        })
    }

    fn reload(&self, _source: Option<String>) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async {
            Err(ReloadError::Restart(
                "a proxy has no handlers to reload".to_owned(),
            ))
        })
    }

    fn stop(&self) -> RuntimeFuture<'_, ()> {
        for (_, proxied) in self.connections.write().drain() {
            proxied.upstream.lock().abort();
        }
        Box::pin(async {})
    }

    fn sockets(&self) -> Vec<String> {
        Vec::new()
    }

    fn load_failure(&self) -> Option<ScriptFailure> {
        None
    }
}
