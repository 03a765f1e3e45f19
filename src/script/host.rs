//! The host functions behind the SDK: the only doors out of the sandbox.
//!
//! They live on one object that the SDK captures and then removes from the
//! global scope, so user code reaches them only through the SDK's API.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use chrono::Utc;
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray, Value};
use rustc_hash::FxHashMap;
use uuid::Uuid;

use super::group_commit::GroupCommit;
use super::host_api;
use crate::core::bus::EventBus;
use crate::core::close_code;
use crate::core::events::{ClosedBy, ConnectionId, Event, LogLevel, Payload};
use crate::core::outbound::{CloseRequest, Outbound};
use crate::kv::KvStore;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// State the host functions share with the script thread.
pub(crate) struct HostState {
    /// Open connections a script may send to, by id. Looked up on every
    /// send; the ids are random UUIDs the server made, so a fast hash that
    /// does not resist chosen keys is safe here.
    pub outbound: FxHashMap<ConnectionId, Outbound>,
    /// The connection whose handler is running (for console attribution).
    pub current_connection: Option<ConnectionId>,
    /// The running handler's own arguments, recognised by identity.
    pub echo: Option<EchoArgs>,
    /// The kv store, through the open group commit.
    pub group: GroupCommit,
    /// Where log lines go.
    pub bus: EventBus,
    /// `ws://host:port` of the server, for `socket.url()`.
    pub url: String,
    /// Module name of the user script, for error locations.
    pub script_name: String,
}

pub(crate) type SharedHost = Rc<RefCell<HostState>>;

/// The JS strings the engine handed the running handler as
/// `ctx.req.connectionId` and (for text) `ctx.req.data`, by identity. JS
/// strings are immutable, so when a handler passes the very same string back
/// to `socket.send` (an echo, a reply to the sender) the engine reuses what
/// it already has instead of converting the string back to UTF-8: for a
/// 16 KiB echo that conversion was 29% of the server's instructions.
/// The dispatcher keeps both strings alive while this is set, so their
/// addresses cannot be reused by other strings meanwhile.
/// The connection is `HostState::current_connection`.
pub(crate) struct EchoArgs {
    pub connection_key: usize,
    pub text: Option<(usize, Utf8Bytes)>,
}

/// A string's identity: the address of its (immutable) contents.
pub(crate) fn string_key(string: &rquickjs::String<'_>) -> usize {
    // SAFETY: a string value's payload is its heap pointer; the address is
    // only compared, never dereferenced.
    unsafe { rquickjs::qjs::JS_VALUE_GET_PTR(string.as_raw()) as usize }
}

impl HostState {
    /// The state of a script thread that has no connection and no script yet.
    pub(crate) fn new(kv: KvStore, bus: EventBus, url: String) -> Self {
        Self {
            outbound: FxHashMap::default(),
            current_connection: None,
            echo: None,
            group: GroupCommit::new(kv),
            bus,
            url,
            script_name: String::new(),
        }
    }

    /// Publishes a script log line and mirrors it to tracing.
    pub(crate) fn log(&self, level: LogLevel, message: String) {
        self.bus.publish(Event::Log {
            connection_id: self.current_connection,
            level,
            message,
            at: Utc::now(),
        });
    }
}

fn parse_connection_id<'js>(ctx: &Ctx<'js>, operation: &str, raw: &str) -> Result<ConnectionId> {
    Uuid::parse_str(raw).map_err(|_| {
        Exception::throw_message(ctx, &format!("{operation}: '{raw}' is not a connection id"))
    })
}

fn unknown_connection<'js>(ctx: &Ctx<'js>, operation: &str, raw: &str) -> rquickjs::Error {
    Exception::throw_message(
        ctx,
        &format!(
            "{operation}: no open connection with id '{raw}' (never connected, or already closed)"
        ),
    )
}

/// The data `socket.send` takes as it is; the SDK converts anything else.
enum SendData<'js> {
    Text(rquickjs::String<'js>),
    Bytes(TypedArray<'js, u8>),
}

fn bytes_of(array: &TypedArray<'_, u8>) -> Option<Vec<u8>> {
    // SAFETY: the slice is copied out before any JS can run and detach it.
    unsafe { array.as_bytes() }.map(<[u8]>::to_vec)
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
            // `false`: not a string id with string or Uint8Array data; the
            // SDK converts those and calls again.
            move |ctx: Ctx<'js>, id: Value<'js>, data: Value<'js>| -> Result<bool> {
                let Some(id) = id.as_string() else {
                    return Ok(false);
                };
                let data = match data.as_string() {
                    Some(text) => SendData::Text(text.clone()),
                    None => match TypedArray::<u8>::from_value(data) {
                        Ok(array) => SendData::Bytes(array),
                        Err(_) => return Ok(false),
                    },
                };
                let shared = state.borrow();
                let (echo_id, echo_text) = match &shared.echo {
                    Some(echo) => (
                        shared
                            .current_connection
                            .filter(|_| echo.connection_key == string_key(id)),
                        match &data {
                            SendData::Text(text) => echo.text.as_ref().and_then(|(key, bytes)| {
                                (*key == string_key(text)).then(|| bytes.clone())
                            }),
                            SendData::Bytes(_) => None,
                        },
                    ),
                    None => (None, None),
                };
                drop(shared);
                let connection_id = match echo_id {
                    Some(connection_id) => connection_id,
                    None => parse_connection_id(&ctx, "socket.send", &id.to_string()?)?,
                };
                let payload = match (echo_text, data) {
                    (Some(text), _) => Payload::Text(text),
                    (None, SendData::Text(text)) => Payload::Text(text.to_string()?.into()),
                    (None, SendData::Bytes(array)) => {
                        let bytes = bytes_of(&array).ok_or_else(|| {
                            Exception::throw_type(
                                &ctx,
                                "socket.send: the Uint8Array's buffer is detached",
                            )
                        })?;
                        Payload::Binary(Bytes::from(bytes))
                    }
                };
                let mut state = state.borrow_mut();
                let HostState {
                    outbound, group, ..
                } = &mut *state;
                let outbound = outbound.get(&connection_id).ok_or_else(|| {
                    unknown_connection(&ctx, "socket.send", &connection_id.to_string())
                })?;
                group
                    .send(outbound, payload)
                    .map(|()| true)
                    .map_err(|error| {
                        Exception::throw_message(
                            &ctx,
                            &format!("socket.send to '{connection_id}': {error}"),
                        )
                    })
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::CLOSE,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, raw_id: String| -> Result<()> {
                let connection_id = parse_connection_id(&ctx, "socket.close", &raw_id)?;
                let mut state = state.borrow_mut();
                let HostState {
                    outbound, group, ..
                } = &mut *state;
                let outbound = outbound
                    .get(&connection_id)
                    .ok_or_else(|| unknown_connection(&ctx, "socket.close", &raw_id))?;
                group.close(
                    outbound,
                    CloseRequest {
                        code: close_code::NORMAL,
                        reason: String::new(),
                        by: ClosedBy::Script,
                    },
                );
                Ok(())
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
        host_api::LOG,
        Function::new(ctx.clone(), move |level: String, message: String| {
            let level = match level.as_str() {
                "debug" => LogLevel::Debug,
                "warn" => LogLevel::Warn,
                "error" => LogLevel::Error,
                _ => LogLevel::Info,
            };
            state.borrow().log(level, message);
        })?,
    )?;

    install_kv(ctx, &object, host)?;

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
                let bytes = bytes_of(&array).ok_or_else(|| {
                    Exception::throw_type(&ctx, "TextDecoder: the buffer is detached")
                })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            },
        )?,
    )?;

    ctx.globals().set(host_api::GLOBAL, object.clone())?;
    Ok(object)
}

fn install_kv<'js>(ctx: &Ctx<'js>, object: &Object<'js>, host: &SharedHost) -> Result<()> {
    let kv_error = |ctx: &Ctx<'js>, error: crate::kv::KvError| {
        Exception::throw_message(ctx, &error.to_string())
    };

    let state = Rc::clone(host);
    object.set(
        host_api::KV_GET,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, key: String| {
                state
                    .borrow()
                    .group
                    .get(&store, &key)
                    .map_err(|error| kv_error(&ctx, error))
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_SET,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, key: String, json: String| {
                let mut state = state.borrow_mut();
                let connection_id = state.current_connection;
                state
                    .group
                    .set(&store, &key, &json, connection_id)
                    .map_err(|error| kv_error(&ctx, error))
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_DELETE,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, key: String| {
                let mut state = state.borrow_mut();
                let connection_id = state.current_connection;
                state
                    .group
                    .delete(&store, &key, connection_id)
                    .map(|_| ())
                    .map_err(|error| kv_error(&ctx, error))
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_KEYS,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, prefix: String| {
                state
                    .borrow()
                    .group
                    .keys(&store, &prefix)
                    .map_err(|error| kv_error(&ctx, error))
            },
        )?,
    )?;
    Ok(())
}
