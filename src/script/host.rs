//! The host functions behind the SDK: the only doors out of the sandbox.
//!
//! They live on one object that the SDK captures and then removes from the
//! global scope, so user code reaches them only through the SDK's API.
//! Socket calls live here, kv calls in `host_kv`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Result, TypedArray, Value};
use rustc_hash::FxHashMap;

use super::deferred::{self, Deferred, Settlement, Status, call_site};
use super::group_commit::GroupCommit;
use super::host_api;
use super::modules::ModuleSources;
use super::parked_sends::{ParkedSend, ParkedSends};
use super::races::{InvocationId, Races};
use super::topic_queue::TopicQueue;
use crate::core::bus::EventBus;
use crate::core::close_code;
use crate::core::events::{ClosedBy, ConnectionId, Event, LogLevel, Payload};
use crate::core::gateway::OutgoingFrames;
use crate::core::outbound::{CloseRequest, Outbound};
use crate::kv::KvStore;
use crate::runtime::ConnectionDirectory;

/// How the lane's gateway treats what handlers send, as `nitric start`
/// unless a switch says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gateway {
    pub frames: OutgoingFrames,
    /// `--close-frames`: `socket.close` sends a 1000 close frame instead of
    /// dropping the connection as `nitric start` does.
    pub close_frames: bool,
    /// `--no-permissions` turns this off: kv calls the service did not
    /// declare are allowed, as `nitric start` allows them.
    pub allow_undeclared: bool,
}

/// No connection is ever open: for a script thread with no server.
#[cfg(test)]
pub(crate) struct NoConnections;

#[cfg(test)]
impl ConnectionDirectory for NoConnections {
    fn outbound(&self, _connection_id: &ConnectionId) -> Option<Outbound> {
        None
    }
}

/// State the host functions share with the script thread.
pub(crate) struct HostState {
    /// Upgraded connections a script has sent to, by id (the directory is
    /// asked once per connection). The ids are random UUIDs the server
    /// made, so a fast hash that does not resist chosen keys is safe here.
    pub outbound: FxHashMap<ConnectionId, Outbound>,
    /// The server's connections: only upgraded ones are there, so a send to
    /// a connection whose upgrade has not finished fails, as in Nitric.
    pub directory: Arc<dyn ConnectionDirectory>,
    /// The connection whose handler is running (for console attribution).
    pub current_connection: Option<ConnectionId>,
    /// The handler chain that is running (its calls are attributed to it).
    pub current_invocation: Option<InvocationId>,
    /// The running handler's own arguments, recognised by identity.
    pub echo: Option<EchoArgs>,
    /// The kv store, through the open group commit.
    pub group: GroupCommit,
    /// Calls whose promises settle at the next turn.
    pub deferred: Vec<Deferred>,
    /// Sends waiting for room in their client's queue.
    pub parked: ParkedSends,
    /// Topic messages published and not delivered yet.
    pub topics: TopicQueue,
    /// Who read which key, for lost-update warnings.
    pub races: Races,
    pub gateway: Gateway,
    /// Where log lines go.
    pub bus: EventBus,
    /// `ws://host:port` of the server, for `socket.url()`.
    pub url: String,
    /// The loaded modules' sources, for error locations and to name what a
    /// "not a function" error called.
    pub sources: Rc<RefCell<ModuleSources>>,
}

pub(crate) type SharedHost = Rc<RefCell<HostState>>;

/// The JS values the engine handed the running handler as
/// `ctx.req.connectionId` and `ctx.req.data`, by identity. When a handler
/// passes the very same string back to `socket.send` (an echo, a reply to
/// the sender) the engine reuses the id it already has; the same data
/// array, when its bytes are unchanged, reuses the received payload (no
/// copy, no UTF-8 check). The dispatcher keeps both values alive while this
/// is set, so their addresses cannot be reused meanwhile. The connection
/// is `HostState::current_connection`.
pub(crate) struct EchoArgs {
    pub connection_key: usize,
    pub data: Option<(usize, Payload)>,
}

/// A value's identity: the address of its (heap) contents.
pub(crate) fn value_key(value: &Value<'_>) -> usize {
    // SAFETY: a string's or object's payload is its heap pointer; the
    // address is only compared, never dereferenced.
    unsafe { rquickjs::qjs::JS_VALUE_GET_PTR(value.as_raw()) as usize }
}

impl HostState {
    /// The state of a script thread that has no script yet.
    pub(crate) fn new(
        kv: KvStore,
        bus: EventBus,
        url: String,
        directory: Arc<dyn ConnectionDirectory>,
        gateway: Gateway,
        memory_limit_bytes: usize,
    ) -> Self {
        Self {
            outbound: FxHashMap::default(),
            directory,
            current_connection: None,
            current_invocation: None,
            echo: None,
            group: GroupCommit::new(kv),
            deferred: Vec::new(),
            // Sends waiting for slow clients are the script's memory too.
            parked: ParkedSends::new(memory_limit_bytes),
            topics: TopicQueue::default(),
            races: Races::default(),
            gateway,
            bus,
            url,
            sources: Rc::default(),
        }
    }

    /// Publishes a log line about the script (the engine's own words).
    pub(crate) fn log(&self, level: LogLevel, message: String) {
        self.log_at(level, message, None);
    }

    /// Publishes a line the script logged, at the line that logged it.
    pub(crate) fn log_at(
        &self,
        level: LogLevel,
        message: String,
        location: Option<crate::core::events::ScriptLocation>,
    ) {
        self.bus.publish(Event::Log {
            connection_id: self.current_connection,
            level,
            message,
            location,
            at: Utc::now(),
        });
    }

    /// The connection's queue, if it is open (upgraded) now.
    fn open_connection(&mut self, connection_id: ConnectionId) -> Option<Outbound> {
        if let Some(outbound) = self.outbound.get(&connection_id) {
            return Some(outbound.clone());
        }
        let outbound = self.directory.outbound(&connection_id)?;
        self.outbound.insert(connection_id, outbound.clone());
        Some(outbound)
    }

    /// A promise for a send that waits for room in the client's queue (or,
    /// past the waiting budget, one that fails at the next turn).
    fn park<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        connection_id: ConnectionId,
        outbound: &Outbound,
        payload: Payload,
    ) -> Result<rquickjs::Promise<'js>> {
        let (promise, handle) =
            deferred::promise_for(ctx, self.current_invocation, Settlement::Undefined)?;
        let send = ParkedSend {
            payload,
            promise: handle,
            stack: call_site(ctx),
        };
        self.parked
            .park(connection_id, outbound, send, &mut self.deferred);
        Ok(promise)
    }

    /// Lets waiting sends that now fit go (or fail), to settle at the turn;
    /// the handlers whose sends wait on clients that read go to
    /// `progressing`.
    pub(crate) fn retry_parked(&mut self, progressing: &mut Vec<InvocationId>) {
        let Self {
            parked,
            group,
            deferred,
            ..
        } = self;
        parked.retry(group, deferred, progressing);
    }

    /// A promise for `settlement`, settled at the next turn as the running
    /// handler.
    pub(crate) fn defer<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        settlement: Settlement,
    ) -> Result<rquickjs::Promise<'js>> {
        deferred::defer(ctx, &mut self.deferred, self.current_invocation, settlement)
    }
}

/// The data `socket.send` takes as it is; the SDK converts anything else.
enum SendData<'js> {
    Text(rquickjs::String<'js>),
    Bytes(TypedArray<'js, u8>),
}

pub(crate) fn bytes_of(array: &TypedArray<'_, u8>) -> Option<Vec<u8>> {
    // SAFETY: the slice is copied out before any JS can run and detach it.
    unsafe { array.as_bytes() }.map(<[u8]>::to_vec)
}

/// The received payload, if `array` is the handler's own data, unchanged.
fn echoed_payload(echo: &EchoArgs, array: &TypedArray<'_, u8>) -> Option<Payload> {
    let (key, payload) = echo.data.as_ref()?;
    if *key != value_key(array.as_value()) {
        return None;
    }
    // SAFETY: only compared, before any JS can run.
    let bytes = unsafe { array.as_bytes() }?;
    (bytes == payload.as_bytes()).then(|| payload.clone())
}

/// Whom `socket.send` was asked to reach.
enum SendTarget {
    /// The running handler's own `ctx.req.connectionId` (no parsing).
    Own(ConnectionId),
    /// Any other id string, as given.
    Given(String),
}

impl SendTarget {
    fn connection_id(&self) -> Option<ConnectionId> {
        match self {
            SendTarget::Own(connection_id) => Some(*connection_id),
            SendTarget::Given(raw) => uuid::Uuid::parse_str(raw).ok(),
        }
    }

    /// The id as the handler wrote it, for the error message.
    fn raw(&self) -> String {
        match self {
            SendTarget::Own(connection_id) => connection_id.to_string(),
            SendTarget::Given(raw) => raw.clone(),
        }
    }
}

/// `socket.send(id, data)`: whom to and the payload.
fn send_payload<'js>(
    ctx: &Ctx<'js>,
    state: &SharedHost,
    id: &rquickjs::String<'js>,
    data: SendData<'js>,
) -> Result<(SendTarget, Payload)> {
    let shared = state.borrow();
    let echo = shared.echo.as_ref();
    let echo_id = echo
        .filter(|echo| echo.connection_key == value_key(id.as_value()))
        .and(shared.current_connection);
    let echoed = match (&data, echo) {
        (SendData::Bytes(array), Some(echo)) => echoed_payload(echo, array),
        _ => None,
    };
    drop(shared);
    let target = match echo_id {
        Some(connection_id) => SendTarget::Own(connection_id),
        None => SendTarget::Given(id.to_string()?),
    };
    let payload = match (echoed, data) {
        (Some(payload), _) => payload,
        (None, SendData::Text(text)) => Payload::Text(text.to_string()?.into()),
        (None, SendData::Bytes(array)) => {
            let bytes = bytes_of(&array).ok_or_else(|| {
                Exception::throw_type(ctx, "socket.send: the Uint8Array's buffer is detached")
            })?;
            Payload::Binary(Bytes::from(bytes))
        }
    };
    Ok((target, payload))
}

/// Creates the host object, installs it as `globalThis.__sockscope`, and
/// returns it so the engine can later read `dispatch` from it.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, host: &SharedHost) -> Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;

    let state = Rc::clone(host);
    object.set(
        host_api::SEND,
        Function::new(
            ctx.clone(),
            // `undefined`: not a string id with string or Uint8Array data;
            // the SDK converts those and calls again.
            move |ctx: Ctx<'js>, id: Value<'js>, data: Value<'js>| -> Result<Value<'js>> {
                let Some(id) = id.as_string() else {
                    return Ok(Value::new_undefined(ctx));
                };
                let data = match data.as_string() {
                    Some(text) => SendData::Text(text.clone()),
                    None => match TypedArray::<u8>::from_value(data) {
                        Ok(array) => SendData::Bytes(array),
                        Err(_) => return Ok(Value::new_undefined(ctx)),
                    },
                };
                let (target, payload) = send_payload(&ctx, &state, id, data)?;
                let mut shared = state.borrow_mut();
                let open = target
                    .connection_id()
                    .and_then(|id| Some((id, shared.open_connection(id)?)));
                let Some((connection_id, outbound)) = open else {
                    let status = Status::unknown(
                        format!("could not get connection {}", target.raw()),
                        call_site(&ctx),
                    );
                    return Ok(shared.defer(&ctx, Settlement::Status(status))?.into_value());
                };
                let payload = shared.gateway.frames.frame(payload);
                let waits = if shared.parked.is_waiting(&connection_id) {
                    Ok(Some(payload))
                } else {
                    shared.group.send(&outbound, payload)
                };
                let settlement = match waits {
                    Ok(None) => Settlement::Undefined,
                    Ok(Some(payload)) => {
                        return Ok(shared
                            .park(&ctx, connection_id, &outbound, payload)?
                            .into_value());
                    }
                    Err(error) => {
                        Settlement::Status(Status::unknown(error.to_string(), call_site(&ctx)))
                    }
                };
                Ok(shared.defer(&ctx, settlement)?.into_value())
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::CLOSE,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, raw_id: String| -> Result<rquickjs::Promise<'js>> {
                let mut shared = state.borrow_mut();
                let outbound = uuid::Uuid::parse_str(&raw_id)
                    .ok()
                    .and_then(|id| shared.open_connection(id));
                let Some(outbound) = outbound else {
                    let status =
                        Status::unknown("could not get connection".to_owned(), call_site(&ctx));
                    return shared.defer(&ctx, Settlement::Status(status));
                };
                let request = if shared.gateway.close_frames {
                    CloseRequest {
                        code: close_code::NORMAL,
                        reason: String::new(),
                        by: ClosedBy::Script,
                    }
                } else {
                    // `nitric start` drops the TCP connection without a close frame.
                    CloseRequest {
                        code: close_code::ABNORMAL,
                        reason: "closed by the handler (socket.close), without a close frame"
                            .to_owned(),
                        by: ClosedBy::Script,
                    }
                };
                shared.group.close(&outbound, request);
                shared.defer(&ctx, Settlement::Undefined)
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::URL,
        Function::new(ctx.clone(), move || state.borrow().url.clone())?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::DEFER,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, value: Value<'js>| -> Result<rquickjs::Promise<'js>> {
                let value = Persistent::save(&ctx, value);
                state.borrow_mut().defer(&ctx, Settlement::Value(value))
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::DEFER_REJECT,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, reason: Value<'js>| -> Result<rquickjs::Promise<'js>> {
                let reason = Persistent::save(&ctx, reason);
                state.borrow_mut().defer(&ctx, Settlement::Reject(reason))
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::LOG,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, level: String, message: String| {
                let level = match level.as_str() {
                    "debug" => LogLevel::Debug,
                    "warn" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                let state = state.borrow();
                let sources = state.sources.borrow();
                // A logged error's stack, at the `.ts` lines.
                let message = sources.remap_stack(&message).into_owned();
                // Where the user's code logged, as a devtools console shows it.
                let location = call_site(&ctx)
                    .and_then(|stack| sources.locate_own(&sources.remap_stack(&stack)));
                drop(sources);
                state.log_at(level, message, location);
            },
        )?,
    )?;

    object.set(
        host_api::UTF8_ENCODE,
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            TypedArray::<u8>::new(ctx, text.into_bytes())
        })?,
    )?;
    object.set(
        host_api::UTF8_DECODE,
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, array: TypedArray<'js, u8>| -> Result<String> {
                // SAFETY: decoded before any JS can run and detach it.
                let bytes = unsafe { array.as_bytes() }.ok_or_else(|| {
                    Exception::throw_type(&ctx, "TextDecoder: the buffer is detached")
                })?;
                // TextDecoder('utf-8') drops a leading byte order mark.
                let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
                Ok(String::from_utf8_lossy(bytes).into_owned())
            },
        )?,
    )?;

    object.set(
        host_api::ENFORCE_PERMISSIONS,
        !host.borrow().gateway.allow_undeclared,
    )?;
    ctx.globals().set(host_api::GLOBAL, object.clone())?;
    Ok(object)
}
