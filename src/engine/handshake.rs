//! The HTTP side of a connection: validate the upgrade request, run the
//! connect chain *before* answering, then answer 101 (or 401/500/503) and
//! hand the upgraded stream to the websocket loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use uuid::Uuid;

use super::approvals::ApprovalRequest;
use super::config::DenyAnswer;
use super::connection::{finish_connection, run_connection};
use super::metered::Metered;
use super::registry::{LiveConnection, TrafficCounters};
use super::shared::EngineShared;
use crate::core::close_code;
use crate::core::config::origin_allowed;
use crate::core::events::{ApprovalDecision, ApprovalStage};
use crate::core::events::{ClosedBy, ConnectionId, Event};
use crate::core::outbound::{CloseRequest, outbound_queue};
use crate::core::query::{Query, parse_query};
use crate::runtime::{ConnectRequest, ConnectVerdict, HttpAnswer, UpgradeRequest};

const UPGRADE_REQUIRED_BODY: &str = "426 Upgrade Required\n\nThis is a sockscope websocket endpoint. Connect with a websocket client, e.g.\n  python -m websockets ws://HOST:PORT/?name=ann\n";

/// Serves one TCP connection's HTTP exchange. Every refusal carries
/// `Connection: close`, so a connection sees one request; hyper's own
/// `keep_alive(false)` would also rewrite the 101's `Connection: Upgrade`.
pub(crate) async fn serve_http(
    shared: Arc<EngineShared>,
    socket: Arc<str>,
    stream: TcpStream,
    remote_addr: SocketAddr,
) {
    let handshake_timeout = shared.config.limits.handshake_timeout;
    let service = service_fn(move |request| {
        handle_request(
            Arc::clone(&shared),
            Arc::clone(&socket),
            remote_addr,
            request,
        )
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(handshake_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(target: "sockscope::http", %remote_addr, "HTTP connection ended: {error}");
    }
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn header_has_token(request: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    request.headers().get_all(name).iter().any(|value| {
        value
            .to_str()
            .map(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
            .unwrap_or(false)
    })
}

/// Why an upgrade request is malformed (answered with 400).
fn invalid_upgrade(request: &Request<Incoming>) -> Option<&'static str> {
    if request.method() != hyper::Method::GET {
        return Some("websocket upgrade must use GET");
    }
    let version = request.headers().get(header::SEC_WEBSOCKET_VERSION);
    if version.map(HeaderValue::as_bytes) != Some(b"13") {
        return Some("unsupported Sec-WebSocket-Version: this server speaks version 13");
    }
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY);
    let key_is_valid = key
        .and_then(|key| {
            base64::engine::general_purpose::STANDARD
                .decode(key.as_bytes())
                .ok()
        })
        .is_some_and(|nonce| nonce.len() == 16);
    if !key_is_valid {
        return Some("missing or malformed Sec-WebSocket-Key (must be 16 bytes, base64)");
    }
    None
}

struct Refusal<'a> {
    connection_id: ConnectionId,
    remote_addr: SocketAddr,
    path: &'a str,
    query: &'a Query,
}

impl Refusal<'_> {
    fn publish(
        &self,
        shared: &EngineShared,
        status: StatusCode,
        reason: String,
    ) -> Response<Full<Bytes>> {
        self.report(shared, status, reason.clone());
        respond(status, format!("{status}\n\n{reason}\n"))
    }

    /// `nitric start`'s answer: 500 `Connection Refused`, whatever the reason.
    fn publish_nitric(&self, shared: &EngineShared, reason: String) -> Response<Full<Bytes>> {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        self.report(shared, status, reason);
        respond(status, "Connection Refused")
    }

    /// Passes an answer on as it is (a proxied target's refusal).
    fn answer(&self, shared: &EngineShared, answer: HttpAnswer) -> Response<Full<Bytes>> {
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
        self.report(shared, status, answer.reason);
        let mut response = Response::new(Full::new(answer.body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        for (name, value) in &answer.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    fn report(&self, shared: &EngineShared, status: StatusCode, reason: String) {
        shared.bus.publish(Event::ConnectionDenied {
            connection_id: self.connection_id,
            remote_addr: self.remote_addr,
            path: self.path.to_owned(),
            query: self.query.clone(),
            status: status.as_u16(),
            reason,
            at: Utc::now(),
        });
    }
}

/// Why the server takes no connection now (503), if it takes none.
fn unavailable(shared: &EngineShared) -> Option<String> {
    let max_connections = shared.config.limits.max_connections;
    if shared.shutdown.is_cancelled() {
        return Some("server is shutting down".to_owned());
    }
    if shared.open_connections.load(Ordering::Acquire) >= max_connections {
        return Some(format!(
            "connection limit reached ({max_connections}; raise it with --max-connections)"
        ));
    }
    None
}

/// The disconnect chain a connection is owed once its connect handler
/// accepted it. Run it ([`DisconnectOwed::run`]) or hand it to the
/// connection's task ([`DisconnectOwed::hand_over`]); dropped with neither
/// (the client left while held, and hyper dropped the request's future), it
/// runs on its own task — so exactly once either way. In the proxy lane the
/// chain closes the target's connection.
struct DisconnectOwed {
    shared: Option<Arc<EngineShared>>,
    connection_id: ConnectionId,
}

impl DisconnectOwed {
    fn new(shared: &Arc<EngineShared>, connection_id: ConnectionId) -> Self {
        Self {
            shared: Some(Arc::clone(shared)),
            connection_id,
        }
    }

    async fn run(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.runtime.disconnect(self.connection_id).await;
        }
    }

    fn hand_over(mut self) {
        self.shared = None;
    }
}

impl Drop for DisconnectOwed {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let connection_id = self.connection_id;
        tracing::debug!(target: "sockscope::http", %connection_id, "client left before its upgrade: running its disconnect chain");
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // A connection task: shutdown waits for it before it stops
                // the handlers and closes the store.
                let tasks = shared.connection_tasks.clone();
                tasks.spawn_on(
                    async move { shared.runtime.disconnect(connection_id).await },
                    &runtime,
                );
            }
            Err(_) => {
                tracing::warn!(target: "sockscope::http", %connection_id, "no runtime left to run the disconnect chain of a client that left");
            }
        }
    }
}

async fn handle_request(
    shared: Arc<EngineShared>,
    socket: Arc<str>,
    remote_addr: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_upgrade = header_has_token(&request, header::CONNECTION, "upgrade")
        && header_has_token(&request, header::UPGRADE, "websocket");
    if !is_upgrade {
        let mut response = respond(StatusCode::UPGRADE_REQUIRED, UPGRADE_REQUIRED_BODY);
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Ok(response);
    }
    if let Some(problem) = invalid_upgrade(&request) {
        let mut response = respond(
            StatusCode::BAD_REQUEST,
            format!("400 Bad Request\n\n{problem}\n"),
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Ok(response);
    }

    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    let refusal = Refusal {
        connection_id: Uuid::new_v4(),
        remote_addr,
        path: &path,
        query: &query,
    };
    let connection_id = refusal.connection_id;
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    if !origin_allowed(&shared.config.allowed_origins, origin) {
        let reason = match origin {
            Some(origin) => format!("origin {origin} is not allowed (see --allowed-origin)"),
            None => "no Origin header, and --allowed-origin restricts origins".to_owned(),
        };
        return Ok(refusal.publish(&shared, StatusCode::FORBIDDEN, reason));
    }
    if let Some(reason) = unavailable(&shared) {
        return Ok(refusal.publish(&shared, StatusCode::SERVICE_UNAVAILABLE, reason));
    }
    // Read once, so a connection is held once even if the stage changes
    // while its connect handler runs.
    let stage = shared.approvals.stage();
    let approval = || ApprovalRequest {
        connection_id,
        remote_addr,
        path: &path,
        query: &query,
        stage,
    };
    if stage == ApprovalStage::BeforeConnectHandler {
        if let ApprovalDecision::Deny(reason) =
            shared.approvals.decide(&shared.bus, approval()).await
        {
            return Ok(refusal.publish(&shared, StatusCode::UNAUTHORIZED, reason));
        }
        // The server may have filled up or begun stopping while it waited.
        if let Some(reason) = unavailable(&shared) {
            return Ok(refusal.publish(&shared, StatusCode::SERVICE_UNAVAILABLE, reason));
        }
    }

    let (outbound, outbound_receiver) = outbound_queue(shared.config.limits.outbound_queue_bytes);
    let upgrade = UpgradeRequest {
        path: path.clone(),
        raw_query: request.uri().query().map(str::to_owned),
        headers: request.headers().clone(),
    };
    let verdict = shared
        .runtime
        .connect(ConnectRequest {
            socket,
            connection_id,
            query: query.clone(),
            outbound: outbound.clone(),
            upgrade,
        })
        .await;
    let mut protocol = None;
    let refused = match verdict {
        ConnectVerdict::Accept => None,
        ConnectVerdict::AcceptProtocol(chosen) => {
            protocol = Some(chosen);
            None
        }
        ConnectVerdict::Answer(answer) => return Ok(refusal.answer(&shared, answer)),
        ConnectVerdict::Deny => Some((
            match shared.config.deny_answer {
                DenyAnswer::Explained { denied } => {
                    StatusCode::from_u16(denied).unwrap_or(StatusCode::UNAUTHORIZED)
                }
                DenyAnswer::NitricStart => StatusCode::INTERNAL_SERVER_ERROR,
            },
            "denied by the connect handler".to_owned(),
        )),
        ConnectVerdict::Failed(failure) => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("connect handler failed: {failure}"),
        )),
        ConnectVerdict::Unavailable(reason) => {
            return Ok(refusal.publish(&shared, StatusCode::SERVICE_UNAVAILABLE, reason));
        }
    };
    if let Some((status, reason)) = refused {
        return Ok(match shared.config.deny_answer {
            DenyAnswer::Explained { .. } => refusal.publish(&shared, status, reason),
            DenyAnswer::NitricStart => refusal.publish_nitric(&shared, reason),
        });
    }
    // The handler accepted, so its disconnect chain is owed from here on,
    // whatever happens to the upgrade: also when the client leaves while
    // held (hyper then drops this future).
    let mut disconnect = DisconnectOwed::new(&shared, connection_id);
    if stage == ApprovalStage::AfterConnectHandler
        && let ApprovalDecision::Deny(reason) =
            shared.approvals.decide(&shared.bus, approval()).await
    {
        disconnect.run().await;
        return Ok(refusal.publish(&shared, StatusCode::UNAUTHORIZED, reason));
    }

    let accept_key = derive_accept_key(
        request
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .map_or(&b""[..], HeaderValue::as_bytes),
    );
    let Ok(accept_header) = HeaderValue::from_str(&accept_key) else {
        disconnect.run().await;
        return Ok(respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode Sec-WebSocket-Accept",
        ));
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    shared.open_connections.fetch_add(1, Ordering::AcqRel);
    // The connection is in the registry and announced before the client
    // sees 101, so subscribers (the recorder) see it opened before any frame
    // a second client's connect sends it.
    let live = Arc::new(LiveConnection {
        connection_id,
        remote_addr,
        path,
        query,
        connected_at: Utc::now(),
        traffic: TrafficCounters::default(),
        outbound,
    });
    shared.registry.insert(Arc::clone(&live));
    shared.bus.publish(Event::ConnectionOpened {
        connection_id,
        remote_addr,
        path: live.path.clone(),
        query: live.query.clone(),
        at: live.connected_at,
    });
    let task_shared = Arc::clone(&shared);
    shared.connection_tasks.spawn(async move {
        let shared = task_shared;
        // The TCP stream itself, not hyper's boxed one: the drain watch asks
        // its kernel how much the client has taken.
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded
                .downcast::<TokioIo<TcpStream>>()
                .map_err(|_| "upgrade failed: the connection is not a TCP stream".to_owned()),
            Err(error) => Err(format!("upgrade failed: {error}")),
        };
        match upgraded {
            Ok(parts) => {
                let socket = Metered::new(
                    parts.io.into_inner(),
                    parts.read_buf,
                    outbound_receiver.write_meter(),
                );
                let websocket = WebSocketStream::from_raw_socket(
                    socket,
                    Role::Server,
                    Some(shared.websocket_config),
                )
                .await;
                if shared.shutdown.is_cancelled() {
                    live.outbound.request_close(CloseRequest {
                        code: close_code::GOING_AWAY,
                        reason: "server shutting down".to_owned(),
                        by: ClosedBy::Server,
                    });
                }
                run_connection(Arc::clone(&shared), websocket, live, outbound_receiver).await;
            }
            Err(reason) => {
                tracing::warn!(target: "sockscope::http", %connection_id, "{reason} (after 101)");
                finish_connection(&shared, connection_id, None, reason, ClosedBy::Client).await;
            }
        }
        shared.open_connections.fetch_sub(1, Ordering::AcqRel);
    });
    // From here the connection's task ends it, disconnect chain included.
    disconnect.hand_over();

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_header);
    if let Some(protocol) = protocol.and_then(|chosen| HeaderValue::from_str(&chosen).ok()) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    Ok(response)
}
