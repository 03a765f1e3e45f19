//! The lane's shared state: the services and what each declared, the
//! websocket handler streams by (socket, event type), the events waiting for
//! an answer (paired by id, answered in any order), and topic subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, mpsc, oneshot};
use tonic::Status;

use super::proto::resources::{Action, ResourceType};
use super::proto::websockets::{
    ServerMessage, WebsocketEventRequest, WebsocketEventResponse, WebsocketEventType,
    server_message,
};
use crate::core::bus::EventBus;
use crate::core::events::{Event, LogLevel};
use crate::kv::KvStore;
use crate::runtime::ConnectionDirectory;

/// Index of a service in [`Hub::services`].
pub(crate) type ServiceId = usize;

/// A response stream's sender: what the server writes to a service.
pub(crate) type Outgoing<T> = mpsc::Sender<Result<T, Status>>;

/// What the lane knows about one service.
pub(crate) struct ServiceRecord {
    /// The file it serves (`--project`), its command (`--run`), or the
    /// address of the shared port for services started by hand.
    pub name: String,
    /// Resources it declared, as `kind name` (for "declared, not served").
    pub declared: Vec<String>,
    /// (resource type, resource name, action) triples its policies grant.
    pub grants: Vec<(ResourceType, String, Action)>,
}

/// One open `HandleEvents` stream: the handler of one (socket, event type).
struct HandlerStream {
    stream_id: u64,
    service: ServiceId,
    socket: String,
    sender: Outgoing<ServerMessage>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<WebsocketEventResponse>>>>,
}

/// Why an event did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// Nothing handles this (socket, event type) now.
    NoHandler,
    /// The handler's stream ended (the service stopped or crashed) first.
    StreamEnded { service: String },
}

/// A topic subscriber's stream.
pub(crate) struct TopicSubscriber {
    pub sender: Outgoing<super::proto::topics::ServerMessage>,
    pub pending: Arc<Mutex<HashMap<String, oneshot::Sender<bool>>>>,
}

pub(crate) struct Hub {
    pub bus: EventBus,
    pub kv: KvStore,
    pub connections: Arc<dyn ConnectionDirectory>,
    /// Check kv calls against the declared policies, as a deployed app does.
    pub enforce_permissions: bool,
    /// `ws://localhost:<port>` by socket name, for `SocketDetails`.
    pub socket_urls: RwLock<HashMap<String, String>>,
    pub services: RwLock<Vec<ServiceRecord>>,
    handlers: Mutex<HashMap<(String, i32), HandlerStream>>,
    /// Socket names in the order their first handler registered.
    sockets: Mutex<Vec<String>>,
    pub topics: Mutex<HashMap<String, Vec<TopicSubscriber>>>,
    /// Notified whenever a websocket handler registers.
    pub registered: Notify,
    /// Set once sockscope stops the services: their streams ending then is
    /// expected, not news.
    pub is_stopping: AtomicBool,
    next_stream: AtomicU64,
}

impl Hub {
    pub(crate) fn new(
        bus: EventBus,
        kv: KvStore,
        connections: Arc<dyn ConnectionDirectory>,
        enforce_permissions: bool,
    ) -> Self {
        Self {
            bus,
            kv,
            connections,
            enforce_permissions,
            socket_urls: RwLock::default(),
            services: RwLock::default(),
            handlers: Mutex::default(),
            sockets: Mutex::default(),
            topics: Mutex::default(),
            registered: Notify::new(),
            is_stopping: AtomicBool::new(false),
            next_stream: AtomicU64::new(1),
        }
    }

    /// Adds a service; its id tells its calls apart from the others'.
    pub(crate) fn add_service(&self, name: String) -> ServiceId {
        let mut services = self.services.write();
        services.push(ServiceRecord {
            name,
            declared: Vec::new(),
            grants: Vec::new(),
        });
        services.len() - 1
    }

    pub(crate) fn service_name(&self, service: ServiceId) -> String {
        self.services.read().get(service).map_or_else(
            || format!("service {service}"),
            |record| record.name.clone(),
        )
    }

    /// Logs a line about a service, attributed to it.
    pub(crate) fn log(&self, service: ServiceId, level: LogLevel, message: impl std::fmt::Display) {
        self.bus.publish(Event::Log {
            connection_id: None,
            level,
            message: format!("[{}] {message}", self.service_name(service)),
            location: None,
            at: Utc::now(),
        });
    }

    /// Socket names in registration order.
    pub(crate) fn sockets(&self) -> Vec<String> {
        self.sockets.lock().clone()
    }

    /// Whether any websocket handler of `service` is registered.
    pub(crate) fn has_handlers(&self, service: ServiceId) -> bool {
        self.handlers
            .lock()
            .values()
            .any(|handler| handler.service == service)
    }

    /// Registers the handler of (socket, event type). One per pair across
    /// all services, the socket name compared without case, as `nitric
    /// start` keys them; a second one is refused with its message.
    pub(crate) fn register_handler(
        &self,
        service: ServiceId,
        socket: &str,
        event_type: WebsocketEventType,
        sender: Outgoing<ServerMessage>,
    ) -> Result<u64, Status> {
        let key = (socket.to_lowercase(), event_type as i32);
        let stream_id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        {
            let mut handlers = self.handlers.lock();
            if handlers.contains_key(&key) {
                return Err(Status::unknown(format!(
                    "websocket handler already registered, socket: {socket} eventType: {}",
                    event_type.as_str_name()
                )));
            }
            handlers.insert(
                key,
                HandlerStream {
                    stream_id,
                    service,
                    socket: socket.to_owned(),
                    sender,
                    pending: Arc::default(),
                },
            );
        }
        let mut sockets = self.sockets.lock();
        if !sockets
            .iter()
            .any(|known| known.eq_ignore_ascii_case(socket))
        {
            sockets.push(socket.to_owned());
        }
        drop(sockets);
        self.registered.notify_waiters();
        Ok(stream_id)
    }

    /// The handler stream `stream_id` ended: it handles nothing from now on,
    /// and events still waiting for it get no answer.
    pub(crate) fn unregister_handler(&self, stream_id: u64) {
        let mut ended = Vec::new();
        self.handlers.lock().retain(|_, handler| {
            let keep = handler.stream_id != stream_id;
            if !keep {
                ended.push(Arc::clone(&handler.pending));
            }
            keep
        });
        // Dropping the senders wakes every dispatch still waiting on them.
        for pending in ended {
            pending.lock().clear();
        }
    }

    /// Hands an answer to the event waiting for it.
    pub(crate) fn answer(&self, stream_id: u64, id: &str, response: WebsocketEventResponse) {
        let pending = self
            .handlers
            .lock()
            .values()
            .find(|handler| handler.stream_id == stream_id)
            .map(|handler| Arc::clone(&handler.pending));
        let waiting = pending.and_then(|pending| pending.lock().remove(id));
        if let Some(waiting) = waiting {
            let _ = waiting.send(response);
        }
    }

    /// `ws://localhost:<port>` of `socket`: its own listener, or the unnamed
    /// first listener when it is the first socket any service registered.
    pub(crate) fn socket_url(&self, socket: &str) -> Option<String> {
        let urls = self.socket_urls.read();
        urls.get(&socket.to_lowercase())
            .or_else(|| {
                let first = self.resolve_socket("");
                urls.get("").filter(|_| first.eq_ignore_ascii_case(socket))
            })
            .cloned()
    }

    /// The socket a listener serves: its own name, or for the unnamed first
    /// listener the first socket any service registered.
    fn resolve_socket(&self, socket: &str) -> String {
        if socket.is_empty() {
            self.sockets.lock().first().cloned().unwrap_or_default()
        } else {
            socket.to_owned()
        }
    }

    /// Sends one event to its handler and waits for the answer with the same
    /// id. Events of other connections may be in flight on the stream at
    /// the same time; answers come back in any order.
    pub(crate) async fn dispatch(
        &self,
        socket: &str,
        event_type: WebsocketEventType,
        mut request: WebsocketEventRequest,
    ) -> Result<WebsocketEventResponse, Unanswered> {
        let socket = self.resolve_socket(socket);
        let key = (socket.to_lowercase(), event_type as i32);
        let (sender, pending, service) = {
            let handlers = self.handlers.lock();
            let Some(handler) = handlers.get(&key) else {
                return Err(Unanswered::NoHandler);
            };
            request.socket_name = handler.socket.clone();
            (
                handler.sender.clone(),
                Arc::clone(&handler.pending),
                handler.service,
            )
        };
        let id = uuid::Uuid::new_v4().to_string();
        let (answer, answered) = oneshot::channel();
        pending.lock().insert(id.clone(), answer);
        let message = ServerMessage {
            id: id.clone(),
            content: Some(server_message::Content::WebsocketEventRequest(request)),
        };
        let ended = || Unanswered::StreamEnded {
            service: self.service_name(service),
        };
        if sender.send(Ok(message)).await.is_err() {
            pending.lock().remove(&id);
            return Err(ended());
        }
        answered.await.map_err(|_| ended())
    }

    /// Records a declaration of `service`.
    pub(crate) fn declare(&self, service: ServiceId, what: String) {
        if let Some(record) = self.services.write().get_mut(service)
            && !record.declared.contains(&what)
        {
            record.declared.push(what);
        }
    }

    /// Records what a policy of `service` grants.
    pub(crate) fn grant(&self, service: ServiceId, grants: Vec<(ResourceType, String, Action)>) {
        if let Some(record) = self.services.write().get_mut(service) {
            record.grants.extend(grants);
        }
    }

    /// Whether `service` may do `action` on kv store `store`.
    pub(crate) fn may(&self, service: ServiceId, store: &str, action: Action) -> bool {
        if !self.enforce_permissions {
            return true;
        }
        self.services.read().get(service).is_some_and(|record| {
            record.grants.iter().any(|(kind, name, granted)| {
                *kind == ResourceType::KeyValueStore
                    && name.eq_ignore_ascii_case(store)
                    && *granted == action
            })
        })
    }
}
