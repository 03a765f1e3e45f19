//! The real-runtime lane behind the engine's seam: services in their own
//! processes, each with a gRPC port of its own, their websocket handlers
//! reached over the streams they opened.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::grpc;
use super::hub::{Hub, ServiceId, Unanswered};
use super::process::{ProcessState, ServiceProcess, ServiceSpec};
use super::proto::websockets::{
    QueryValue, WebsocketConnectionEvent, WebsocketDisconnectionEvent, WebsocketEventRequest,
    WebsocketEventType, WebsocketMessageEvent, websocket_event_request, websocket_event_response,
};
use crate::core::events::{ConnectionId, LogLevel, Payload, ScriptFailure};
use crate::runtime::{
    ConnectRequest, ConnectVerdict, HandlerRuntime, ReloadError, RuntimeFuture, RuntimeLauncher,
    RuntimeServices, RuntimeStartError, ServiceSummary,
};

/// How often the start-up wait looks whether a service exited.
const STARTUP_POLL: Duration = Duration::from_millis(100);

/// The services to run and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NitricConfig {
    pub services: Vec<ServiceSpec>,
    /// The port for services started by hand (`--service-address`): the
    /// SDKs' default is 127.0.0.1:50051.
    pub service_address: Option<SocketAddr>,
    /// Longest wait for every started service to register a websocket
    /// handler before the server goes on without them.
    pub startup_timeout: Duration,
    /// Check kv calls against the declared policies (`--no-permissions`
    /// turns it off, as under `nitric start`).
    pub enforce_permissions: bool,
    /// Restart the services when a source file in their folders changes.
    pub watch: bool,
}

/// The SDKs' default server address.
pub const DEFAULT_SERVICE_ADDRESS: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50051);

/// Starts the real-runtime lane.
pub struct NitricLauncher(pub NitricConfig);

struct Started {
    service: ServiceId,
    spec: ServiceSpec,
    grpc: SocketAddr,
    process: Mutex<Option<ServiceProcess>>,
    restarts: AtomicU32,
}

/// The user's services as a [`HandlerRuntime`].
pub struct NitricRuntime {
    hub: Arc<Hub>,
    started: Vec<Started>,
    /// The address services started by hand reach, if served.
    shared_address: Option<SocketAddr>,
    /// Which socket each connection came in on (events name it).
    connection_sockets: Mutex<HashMap<ConnectionId, Arc<str>>>,
    stop: CancellationToken,
}

impl RuntimeLauncher for NitricLauncher {
    fn launch(
        self: Box<Self>,
        services: RuntimeServices,
    ) -> RuntimeFuture<'static, Result<Arc<dyn HandlerRuntime>, RuntimeStartError>> {
        Box::pin(async move {
            let runtime = NitricRuntime::start(self.0, services).await?;
            Ok(runtime as Arc<dyn HandlerRuntime>)
        })
    }
}

fn start_error(message: String) -> RuntimeStartError {
    RuntimeStartError::Start(message)
}

impl NitricRuntime {
    async fn start(
        config: NitricConfig,
        services: RuntimeServices,
    ) -> Result<Arc<Self>, RuntimeStartError> {
        let hub = Arc::new(Hub::new(
            services.bus.clone(),
            services.kv.clone(),
            Arc::clone(&services.connections),
            config.enforce_permissions,
        ));
        let stop = CancellationToken::new();
        let mut shared_address = None;
        if let Some(address) = config.service_address {
            let service = hub.add_service(format!("services at {address}"));
            let bound = grpc::serve(Arc::clone(&hub), service, address, stop.clone())
                .await
                .map_err(|error| {
                    start_error(format!(
                        "cannot serve the Nitric services on {address}: {error} (choose another with --service-address, port 0 = any free)"
                    ))
                })?;
            if let Some(record) = hub.services.write().get_mut(service) {
                // Named after the address bound, not the one asked for (port 0).
                record.name = format!("services at {bound}");
            }
            tracing::info!(target: "sockscope", "nitric services: {bound}");
            hub.log(service, LogLevel::Info, format!("nitric services: {bound}"));
            shared_address = Some(bound);
        }
        let mut started = Vec::new();
        for spec in config.services {
            let service = hub.add_service(spec.name.clone());
            let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            let grpc = grpc::serve(Arc::clone(&hub), service, local, stop.clone())
                .await
                .map_err(|error| {
                    start_error(format!(
                        "cannot serve the Nitric services for {}: {error}",
                        spec.name
                    ))
                })?;
            let process =
                ServiceProcess::start(Arc::clone(&hub), service, &spec, grpc).map_err(|error| {
                    stop.cancel();
                    start_error(format!(
                        "cannot start service {} ({}): {error}",
                        spec.name,
                        spec.command_line()
                    ))
                })?;
            hub.log(
                service,
                LogLevel::Info,
                format!("started: {} (SERVICE_ADDRESS={grpc})", spec.command_line()),
            );
            started.push(Started {
                service,
                spec,
                grpc,
                process: Mutex::new(Some(process)),
                restarts: AtomicU32::new(0),
            });
        }
        let runtime = Arc::new(Self {
            hub,
            started,
            shared_address,
            connection_sockets: Mutex::default(),
            stop,
        });
        if let Err(error) = runtime.wait_for_registrations(config.startup_timeout).await {
            runtime.stop_all().await;
            return Err(error);
        }
        if config.watch {
            let mut roots: Vec<std::path::PathBuf> = runtime
                .started
                .iter()
                .map(|started| started.spec.cwd.clone())
                .collect();
            roots.sort();
            roots.dedup();
            let watched = Arc::downgrade(&runtime);
            tokio::spawn(super::watch::watch_sources(
                roots,
                runtime.stop.clone(),
                move || {
                    let watched = watched.clone();
                    async move {
                        let Some(runtime) = watched.upgrade() else {
                            return false;
                        };
                        tracing::info!(target: "sockscope", "sources changed: restarting the services");
                        if let Err(error) = runtime.restart_all().await {
                            tracing::error!(target: "sockscope", "{error}");
                        }
                        true
                    }
                },
            ));
        }
        Ok(runtime)
    }

    /// The address services started by hand reach, if served.
    pub fn shared_address(&self) -> Option<SocketAddr> {
        self.shared_address
    }

    /// Waits until every started service registered a websocket handler. A
    /// service that exits first is a start error; one still silent at the
    /// timeout is named in a warning, and the server goes on.
    async fn wait_for_registrations(&self, timeout: Duration) -> Result<(), RuntimeStartError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let silent: Vec<&Started> = self
                .started
                .iter()
                .filter(|started| !self.hub.has_handlers(started.service))
                .collect();
            if silent.is_empty() {
                return Ok(());
            }
            for started in &silent {
                let state = started
                    .process
                    .lock()
                    .as_ref()
                    .map(|process| process.state.borrow().clone());
                if let Some(ProcessState::Exited(how)) = state {
                    return Err(start_error(format!(
                        "service {} ({}) {how} before registering a websocket handler; its output is in the log above",
                        started.spec.name,
                        started.spec.command_line()
                    )));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let names: Vec<String> = silent
                    .iter()
                    .map(|started| started.spec.name.clone())
                    .collect();
                tracing::warn!(
                    target: "sockscope",
                    "after {} s these services have registered no websocket handler: {} (going on without them)",
                    timeout.as_secs(),
                    names.join(", ")
                );
                return Ok(());
            }
            tokio::select! {
                () = self.hub.registered.notified() => {}
                () = tokio::time::sleep(STARTUP_POLL) => {}
            }
        }
    }

    async fn stop_all(&self) {
        self.hub.is_stopping.store(true, Ordering::Release);
        for started in &self.started {
            let process = started.process.lock().take();
            if let Some(mut process) = process {
                process.stop().await;
            }
        }
        self.stop.cancel();
    }

    async fn restart_all(&self) -> Result<(), ReloadError> {
        for started in &self.started {
            self.restart(started).await?;
        }
        Ok(())
    }

    fn started_named(&self, name: &str) -> Result<&Started, ReloadError> {
        self.started
            .iter()
            .find(|started| started.spec.name == name)
            .ok_or_else(|| ReloadError::Restart(format!("no service named {name}")))
    }

    async fn stop_one(&self, started: &Started) {
        let process = started.process.lock().take();
        if let Some(mut process) = process {
            process.stop().await;
            // Its streams ended, so it handles nothing now: connects get 503.
            *started.process.lock() = Some(process);
        }
    }

    async fn restart(&self, started: &Started) -> Result<(), ReloadError> {
        let previous = started.process.lock().take();
        if let Some(mut previous) = previous {
            previous.stop().await;
        }
        let process = ServiceProcess::start(
            Arc::clone(&self.hub),
            started.service,
            &started.spec,
            started.grpc,
        )
        .map_err(|error| {
            ReloadError::Restart(format!("cannot restart {}: {error}", started.spec.name))
        })?;
        self.hub.log(
            started.service,
            LogLevel::Info,
            format!("restarted: {}", started.spec.command_line()),
        );
        *started.process.lock() = Some(process);
        started.restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn socket_of(&self, connection_id: &ConnectionId) -> Arc<str> {
        self.connection_sockets
            .lock()
            .get(connection_id)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    fn log_unanswered(
        &self,
        connection_id: ConnectionId,
        what: &str,
        socket: &str,
        why: Unanswered,
    ) {
        let socket = if socket.is_empty() {
            "(none registered)"
        } else {
            socket
        };
        let message = match why.clone() {
            Unanswered::NoHandler => format!(
                "{what} of connection {connection_id} not handled: no {what} handler is registered for socket {socket}"
            ),
            Unanswered::StreamEnded { service } => format!(
                "{what} of connection {connection_id} not handled: {service} stopped before answering"
            ),
        };
        // A socket without a disconnect handler is common and loses nothing;
        // an unhandled message is data dropped.
        let level = if what == "disconnect" && why == Unanswered::NoHandler {
            LogLevel::Info
        } else {
            LogLevel::Warn
        };
        self.hub.bus.publish(crate::core::events::Event::Log {
            connection_id: Some(connection_id),
            level,
            message,
            location: None,
            at: chrono::Utc::now(),
        });
    }
}

fn event(
    connection_id: ConnectionId,
    body: websocket_event_request::WebsocketEvent,
) -> WebsocketEventRequest {
    WebsocketEventRequest {
        socket_name: String::new(),
        connection_id: connection_id.to_string(),
        websocket_event: Some(body),
    }
}

impl HandlerRuntime for NitricRuntime {
    fn connect(&self, request: ConnectRequest) -> RuntimeFuture<'_, ConnectVerdict> {
        Box::pin(async move {
            let connection_id = request.connection_id;
            let query_params = request
                .query
                .into_iter()
                .map(|(key, value)| (key, QueryValue { value }))
                .collect();
            let body =
                websocket_event_request::WebsocketEvent::Connection(WebsocketConnectionEvent {
                    query_params,
                });
            let answer = self
                .hub
                .dispatch(
                    &request.socket,
                    WebsocketEventType::Connect,
                    event(connection_id, body),
                )
                .await;
            let verdict = match answer {
                Ok(response) => match response.websocket_response {
                    Some(websocket_event_response::WebsocketResponse::ConnectionResponse(
                        connection,
                    )) if !connection.reject => ConnectVerdict::Accept,
                    _ => ConnectVerdict::Deny,
                },
                Err(Unanswered::NoHandler) => ConnectVerdict::Unavailable(format!(
                    "no connect handler is registered for socket {}: is its service running? (see the log)",
                    if request.socket.is_empty() {
                        "(none registered)"
                    } else {
                        &request.socket
                    }
                )),
                Err(Unanswered::StreamEnded { service }) => ConnectVerdict::Failed(ScriptFailure {
                    message: format!("{service} stopped before answering the connect"),
                    location: None,
                    stack: None,
                }),
            };
            if verdict == ConnectVerdict::Accept {
                self.connection_sockets
                    .lock()
                    .insert(connection_id, request.socket);
            }
            verdict
        })
    }

    fn message(&self, connection_id: ConnectionId, payload: Payload) -> RuntimeFuture<'_, ()> {
        Box::pin(async move {
            let socket = self.socket_of(&connection_id);
            let body = match payload {
                Payload::Text(text) => text.as_bytes().to_vec(),
                Payload::Binary(bytes) => bytes.to_vec(),
            };
            let body =
                websocket_event_request::WebsocketEvent::Message(WebsocketMessageEvent { body });
            // The gateway awaits each answer before it reads the next frame.
            if let Err(why) = self
                .hub
                .dispatch(
                    &socket,
                    WebsocketEventType::Message,
                    event(connection_id, body),
                )
                .await
            {
                self.log_unanswered(connection_id, "message", &socket, why);
            }
        })
    }

    fn disconnect(&self, connection_id: ConnectionId) -> RuntimeFuture<'_, ()> {
        Box::pin(async move {
            let socket = self.socket_of(&connection_id);
            let body = websocket_event_request::WebsocketEvent::Disconnection(
                WebsocketDisconnectionEvent {},
            );
            let answer = self
                .hub
                .dispatch(
                    &socket,
                    WebsocketEventType::Disconnect,
                    event(connection_id, body),
                )
                .await;
            self.connection_sockets.lock().remove(&connection_id);
            if let Err(why) = answer {
                self.log_unanswered(connection_id, "disconnect", &socket, why);
            }
        })
    }

    fn reload(&self, source: Option<String>) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move {
            if source.is_some() {
                return Err(ReloadError::Restart(
                    "services run from their files: save the file and restart them".to_owned(),
                ));
            }
            if self.stop.is_cancelled() {
                return Err(ReloadError::Stopped);
            }
            self.restart_all().await
        })
    }

    fn stop(&self) -> RuntimeFuture<'_, ()> {
        Box::pin(self.stop_all())
    }

    fn sockets(&self) -> Vec<String> {
        self.hub.sockets()
    }

    fn restart_service(&self, name: String) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move { self.restart(self.started_named(&name)?).await })
    }

    fn stop_service(&self, name: String) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move {
            self.stop_one(self.started_named(&name)?).await;
            Ok(())
        })
    }

    fn serving(&self, socket: &str, local_addr: SocketAddr) {
        // `nitric start` names the host `localhost` in socket URLs.
        self.hub.socket_urls.write().insert(
            socket.to_lowercase(),
            format!("ws://localhost:{}", local_addr.port()),
        );
    }

    fn load_failure(&self) -> Option<ScriptFailure> {
        None
    }

    fn services(&self) -> Vec<ServiceSummary> {
        let records = self.hub.services.read();
        let mut summaries = Vec::with_capacity(records.len());
        if let Some(address) = self.shared_address {
            // The shared port's record comes first (it is added first).
            if let Some(record) = records.first() {
                summaries.push(ServiceSummary {
                    name: record.name.clone(),
                    command: String::new(),
                    state: format!("listening on {address}"),
                    restarts: 0,
                    declared: record.declared.clone(),
                });
            }
        }
        for started in &self.started {
            let state = match started
                .process
                .lock()
                .as_ref()
                .map(|process| process.state.borrow().clone())
            {
                Some(ProcessState::Running { pid }) => format!("running (pid {pid})"),
                Some(ProcessState::Exited(how)) => how,
                Some(ProcessState::Stopped) | None => "stopped".to_owned(),
            };
            summaries.push(ServiceSummary {
                name: started.spec.name.clone(),
                command: started.spec.command_line(),
                state,
                restarts: started.restarts.load(Ordering::Relaxed),
                declared: records
                    .get(started.service)
                    .map(|record| record.declared.clone())
                    .unwrap_or_default(),
            });
        }
        summaries
    }
}
