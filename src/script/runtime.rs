//! One QuickJS runtime and the loaded script. Lives on the script thread.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Persistent, Runtime,
    TypedArray, Value,
};
use rustc_hash::FxHashMap;

use super::failure::describe_caught;
use super::host::{self, EchoArgs, SharedHost};
use super::host_api;
use super::loader::{SDK_MODULE, SdkLoader, SdkResolver};
use crate::core::events::{ConnectionId, HandlerKind, LogLevel, Payload, ScriptFailure};
use crate::core::query::Query;

const PRELUDE_JS: &str = include_str!("prelude.js");
const SDK_JS: &str = include_str!("sdk.js");

/// QuickJS's own recursion guard; the thread's stack is larger than this.
pub(crate) const JS_STACK_BYTES: usize = 4 * 1024 * 1024;

/// Past this many cached connection-id strings the cache starts over; it only
/// grows past the open connections if a disconnect never reached the script.
const MAX_CACHED_CONNECTION_IDS: usize = 1 << 17;

/// What a successful load found.
pub(crate) struct LoadReport {
    /// `websocket(name)` names, in declaration order.
    pub sockets: Vec<String>,
    /// Things the user should hear about (no websocket, rejections).
    pub warnings: Vec<String>,
}

/// A rejected promise nobody handled (yet).
struct Rejection {
    promise: Persistent<Value<'static>>,
    failure: ScriptFailure,
}

/// A loaded script: its context and the SDK's entry points.
struct Loaded {
    // Field order is drop order: the persistent handles before their context.
    dispatch: Persistent<Function<'static>>,
    dispatch_message: Persistent<Function<'static>>,
    context: Context,
}

/// Which SDK entry point a handler chain is run through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `host.dispatch(eventType, connectionId, query, data)`: any event.
    Generic,
    /// `host.dispatchMessage(connectionId, data)`: the message path (speed
    /// trick 3 in sdk.js).
    Message,
}

impl Entry {
    fn for_kind(kind: HandlerKind) -> Self {
        match kind {
            HandlerKind::Message => Entry::Message,
            HandlerKind::Connect | HandlerKind::Disconnect => Entry::Generic,
        }
    }
}

impl Loaded {
    fn entry(&self, entry: Entry) -> &Persistent<Function<'static>> {
        match entry {
            Entry::Message => &self.dispatch_message,
            Entry::Generic => &self.dispatch,
        }
    }
}

/// The runtime, the current script, and the handler time budget.
pub(crate) struct JsRuntime {
    loaded: Option<Loaded>,
    rejections: Rc<RefCell<Vec<Rejection>>>,
    /// Each open connection's id as a JS string, made at its first message
    /// and dropped at its disconnect: formatting the UUID and copying it into
    /// a new string was about 3% of every message's instructions. (Fx: the
    /// keys are random UUIDs the server made.)
    connection_ids: RefCell<FxHashMap<ConnectionId, Persistent<rquickjs::String<'static>>>>,
    deadline: Rc<Cell<Option<Instant>>>,
    host: SharedHost,
    handler_timeout: Duration,
    runtime: Runtime,
}

impl Drop for JsRuntime {
    fn drop(&mut self) {
        // Every handle into the runtime must go before the runtime itself.
        self.rejections.borrow_mut().clear();
        self.connection_ids.get_mut().clear();
        self.loaded = None;
    }
}

impl JsRuntime {
    /// A runtime with the given limits and no script loaded.
    pub(crate) fn new(
        host: SharedHost,
        memory_limit_bytes: usize,
        handler_timeout: Duration,
    ) -> Result<Self, ScriptFailure> {
        let runtime = Runtime::new().map_err(|error| ScriptFailure {
            message: format!("cannot create the JavaScript runtime: {error}"),
            location: None,
            stack: None,
        })?;
        runtime.set_memory_limit(memory_limit_bytes);
        runtime.set_max_stack_size(JS_STACK_BYTES);
        runtime.set_loader(SdkResolver, SdkLoader { source: SDK_JS });

        let deadline: Rc<Cell<Option<Instant>>> = Rc::default();
        let interrupt_deadline = Rc::clone(&deadline);
        runtime.set_interrupt_handler(Some(Box::new(move || {
            interrupt_deadline
                .get()
                .is_some_and(|deadline| Instant::now() >= deadline)
        })));

        let rejections: Rc<RefCell<Vec<Rejection>>> = Rc::default();
        let tracked = Rc::clone(&rejections);
        let tracker_host = Rc::clone(&host);
        runtime.set_host_promise_rejection_tracker(Some(Box::new(
            move |ctx: Ctx<'_>, promise: Value<'_>, reason: Value<'_>, is_handled: bool| {
                if is_handled {
                    tracked.borrow_mut().retain(|rejection| {
                        rejection
                            .promise
                            .clone()
                            .restore(&ctx)
                            .map(|known| known != promise)
                            .unwrap_or(false)
                    });
                    return;
                }
                let caught = match reason.as_exception() {
                    Some(exception) => CaughtError::Exception(exception.clone()),
                    None => CaughtError::Value(reason),
                };
                let script_name = tracker_host.borrow().script_name.clone();
                let failure = describe_caught(&ctx, caught, &script_name);
                tracked.borrow_mut().push(Rejection {
                    promise: Persistent::save(&ctx, promise),
                    failure,
                });
            },
        )));

        Ok(Self {
            loaded: None,
            rejections,
            connection_ids: RefCell::default(),
            deadline,
            host,
            handler_timeout,
            runtime,
        })
    }

    /// Compiles and runs `source` as the ES module `name` in a fresh context.
    /// On success the new handlers replace the old ones; on failure the old
    /// ones stay.
    pub(crate) fn load(&mut self, name: &str, source: &str) -> Result<LoadReport, ScriptFailure> {
        let context = Context::full(&self.runtime).map_err(|error| ScriptFailure {
            message: format!("cannot create a JavaScript context: {error}"),
            location: None,
            stack: None,
        })?;
        let previous_name =
            std::mem::replace(&mut self.host.borrow_mut().script_name, name.to_owned());
        self.deadline
            .set(Some(Instant::now() + self.handler_timeout));
        let result = context.with(|ctx| {
            let evaluated =
                (|| -> rquickjs::Result<((Function<'_>, Function<'_>), Vec<String>)> {
                    let host_object = host::install(&ctx, &self.host)?;
                    ctx.eval::<(), _>(PRELUDE_JS)?;
                    Module::import(&ctx, SDK_MODULE)?.finish::<Object>()?;
                    let (_module, done) = Module::declare(ctx.clone(), name, source)?.eval()?;
                    self.settle::<()>(&ctx, &done)?;
                    let dispatch: Function = host_object.get(host_api::DISPATCH)?;
                    let dispatch_message: Function = host_object.get(host_api::DISPATCH_MESSAGE)?;
                    let socket_names: Function = host_object.get(host_api::SOCKET_NAMES)?;
                    let sockets: Vec<String> = socket_names.call(())?;
                    Ok(((dispatch, dispatch_message), sockets))
                })();
            match evaluated.catch(&ctx) {
                Ok(((dispatch, dispatch_message), sockets)) => Ok((
                    (
                        Persistent::save(&ctx, dispatch),
                        Persistent::save(&ctx, dispatch_message),
                    ),
                    sockets,
                )),
                Err(caught) => Err(self.failure_from(&ctx, caught, name)),
            }
        });
        self.deadline.set(None);
        let pending = self.take_rejections();
        match result {
            Ok(((dispatch, dispatch_message), sockets)) => {
                self.loaded = Some(Loaded {
                    dispatch,
                    dispatch_message,
                    context,
                });
                let mut warnings: Vec<String> = pending
                    .into_iter()
                    .map(|failure| format!("unhandled promise rejection while loading: {failure}"))
                    .collect();
                match sockets.as_slice() {
                    [] => warnings.push(format!(
                        "{name} declares no websocket(): every connection is accepted and messages are ignored"
                    )),
                    [_] => {}
                    [first, ..] => warnings.push(format!(
                        "{name} declares {} websockets; sockscope serves the first, '{first}'",
                        sockets.len()
                    )),
                }
                Ok(LoadReport { sockets, warnings })
            }
            Err(failure) => {
                self.host.borrow_mut().script_name = previous_name;
                Err(failure)
            }
        }
    }

    /// Runs one handler chain. `Ok(accepted)` is the chain's `res.success`;
    /// an error is a throw, a timeout, or a promise that never settles.
    /// Unhandled rejections raised meanwhile are returned alongside.
    pub(crate) fn dispatch(
        &mut self,
        kind: HandlerKind,
        connection_id: ConnectionId,
        query: Option<&Query>,
        payload: Option<&Payload>,
    ) -> (Result<bool, ScriptFailure>, Vec<ScriptFailure>) {
        self.dispatch_through(Entry::for_kind(kind), kind, connection_id, query, payload)
    }

    /// [`JsRuntime::dispatch`] through a chosen entry point (the tests run
    /// messages through both).
    pub(crate) fn dispatch_through(
        &mut self,
        entry: Entry,
        kind: HandlerKind,
        connection_id: ConnectionId,
        query: Option<&Query>,
        payload: Option<&Payload>,
    ) -> (Result<bool, ScriptFailure>, Vec<ScriptFailure>) {
        let Some(loaded) = &self.loaded else {
            if kind == HandlerKind::Disconnect {
                self.connection_ids.get_mut().remove(&connection_id);
            }
            return (Ok(true), Vec::new());
        };
        loaded.context.with(|ctx| {
            let dispatch = loaded.entry(entry).clone().restore(&ctx);
            self.dispatch_in(&ctx, (dispatch, entry), kind, connection_id, query, payload)
        })
    }

    /// Runs the message chain for each of `messages`, in order, entering the
    /// context once for all of them; `done` gets each one's outcome as
    /// [`JsRuntime::dispatch`] would return it, before the next one runs.
    pub(crate) fn dispatch_messages(
        &mut self,
        messages: &[(ConnectionId, Payload)],
        mut done: impl FnMut(ConnectionId, (Result<bool, ScriptFailure>, Vec<ScriptFailure>)),
    ) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        loaded.context.with(|ctx| {
            let restored = loaded.dispatch_message.clone().restore(&ctx);
            for (connection_id, payload) in messages {
                // A failed restore is reported per message, as it would be
                // one message at a time.
                let dispatch = match &restored {
                    Ok(function) => Ok(function.clone()),
                    Err(_) => loaded.dispatch_message.clone().restore(&ctx),
                };
                let outcome = self.dispatch_in(
                    &ctx,
                    (dispatch, Entry::Message),
                    HandlerKind::Message,
                    *connection_id,
                    None,
                    Some(payload),
                );
                done(*connection_id, outcome);
            }
        });
    }

    fn dispatch_in<'js>(
        &self,
        ctx: &Ctx<'js>,
        (dispatch, entry): (rquickjs::Result<Function<'js>>, Entry),
        kind: HandlerKind,
        connection_id: ConnectionId,
        query: Option<&Query>,
        payload: Option<&Payload>,
    ) -> (Result<bool, ScriptFailure>, Vec<ScriptFailure>) {
        self.host.borrow_mut().current_connection = Some(connection_id);
        self.deadline
            .set(Some(Instant::now() + self.handler_timeout));
        let called = (|| -> rquickjs::Result<bool> {
            let dispatch = dispatch?;
            // Only connect has a query; the SDK gives the others `{}`.
            let query_value: Value = match query {
                Some(query) => {
                    let query_object = Object::new(ctx.clone())?;
                    for (key, values) in query {
                        query_object.set(key.as_str(), values.clone())?;
                    }
                    query_object.into_value()
                }
                None => Value::new_undefined(ctx.clone()),
            };
            let connection_value = self.connection_string(ctx, kind, connection_id)?;
            let mut text_value = None;
            let data: Value = match payload {
                None => rquickjs::String::from_str(ctx.clone(), "")?.into_value(),
                Some(Payload::Text(text)) => {
                    let string = rquickjs::String::from_str(ctx.clone(), text)?;
                    text_value = Some((string.clone(), text.clone()));
                    string.into_value()
                }
                Some(Payload::Binary(bytes)) => {
                    TypedArray::<u8>::new_copy(ctx.clone(), bytes)?.into_value()
                }
            };
            // `echo_alive` keeps both strings (and so their identities) alive
            // until this handler has settled.
            self.host.borrow_mut().echo = Some(EchoArgs {
                connection_key: host::string_key(&connection_value),
                text: text_value
                    .as_ref()
                    .map(|(string, text)| (host::string_key(string), text.clone())),
            });
            let echo_alive = (connection_value.clone(), text_value);
            let outcome: Value = match entry {
                Entry::Message => dispatch.call((connection_value, data))?,
                Entry::Generic => {
                    dispatch.call((kind.as_str(), connection_value, query_value, data))?
                }
            };
            let settled = match outcome.as_promise() {
                Some(promise) => self.settle(ctx, promise),
                None => Ok(outcome.as_bool().unwrap_or(true)),
            };
            self.host.borrow_mut().echo = None;
            drop(echo_alive);
            settled
        })();
        let result = called.catch(ctx).map_err(|caught| {
            let script_name = self.host.borrow().script_name.clone();
            self.failure_from(ctx, caught, &script_name)
        });
        self.deadline.set(None);
        let mut host = self.host.borrow_mut();
        host.current_connection = None;
        host.echo = None;
        drop(host);
        let mut rejections = self.take_rejections();
        if let Err(failure) = &result {
            // The awaited promise is forgotten by `settle`; but stack overflow
            // and out-of-memory also unwind through the SDK's own promise
            // plumbing, whose inner promises then stay unhandled: the same
            // failure would be reported twice.
            rejections.retain(|rejection| {
                rejection.location != failure.location
                    || !rejection.message.ends_with(&failure.message)
            });
        }
        (result, rejections)
    }

    /// The connection's id as a JS string: cached from its first message
    /// until its disconnect. A connect makes its own, since a refused
    /// connection gets no disconnect that would drop it.
    fn connection_string<'js>(
        &self,
        ctx: &Ctx<'js>,
        kind: HandlerKind,
        connection_id: ConnectionId,
    ) -> rquickjs::Result<rquickjs::String<'js>> {
        let mut cache = self.connection_ids.borrow_mut();
        let cached = match kind {
            HandlerKind::Message => cache.get(&connection_id).cloned(),
            HandlerKind::Disconnect => cache.remove(&connection_id),
            HandlerKind::Connect => None,
        };
        if let Some(string) = cached {
            return string.restore(ctx);
        }
        let mut id_buffer = uuid::Uuid::encode_buffer();
        let connection_text = connection_id.hyphenated().encode_lower(&mut id_buffer);
        let string = rquickjs::String::from_str(ctx.clone(), connection_text)?;
        if kind == HandlerKind::Message {
            if cache.len() >= MAX_CACHED_CONNECTION_IDS {
                cache.clear();
            }
            cache.insert(connection_id, Persistent::save(ctx, string.clone()));
        }
        Ok(string)
    }

    /// Drives `promise` to completion. Its rejection is ours to report, so it
    /// is not also reported as an unhandled rejection.
    fn settle<'js, T: rquickjs::FromJs<'js>>(
        &self,
        ctx: &Ctx<'js>,
        promise: &rquickjs::Promise<'js>,
    ) -> rquickjs::Result<T> {
        let result = promise.finish::<T>();
        if result.is_err() {
            let settled = promise.clone().into_value();
            self.rejections.borrow_mut().retain(|rejection| {
                rejection
                    .promise
                    .clone()
                    .restore(ctx)
                    .map(|known| known != settled)
                    .unwrap_or(false)
            });
        }
        result
    }

    /// Names a failure, recognising timeouts and never-settling promises.
    fn failure_from<'js>(
        &self,
        ctx: &Ctx<'js>,
        caught: CaughtError<'js>,
        script_name: &str,
    ) -> ScriptFailure {
        let timed_out = self
            .deadline
            .get()
            .is_some_and(|deadline| Instant::now() >= deadline);
        let would_block = matches!(caught, CaughtError::Error(rquickjs::Error::WouldBlock));
        let mut failure = describe_caught(ctx, caught, script_name);
        let budget_ms = self.handler_timeout.as_millis();
        if timed_out {
            failure.message =
                format!("handler ran longer than its {budget_ms} ms budget and was stopped");
        } else if would_block {
            failure.message =
                "handler's promise never settled: it awaits something that never resolves"
                    .to_owned();
        }
        if failure.message.contains("out of memory") {
            // Give the memory back before the next handler runs.
            ctx.run_gc();
        }
        failure
    }

    fn take_rejections(&self) -> Vec<ScriptFailure> {
        self.rejections
            .borrow_mut()
            .drain(..)
            .map(|rejection| ScriptFailure {
                message: format!("unhandled promise rejection: {}", rejection.failure.message),
                ..rejection.failure
            })
            .collect()
    }

    /// Logs a warning about the script as if the script had said it.
    pub(crate) fn warn(&self, message: String) {
        self.host.borrow().log(LogLevel::Warn, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bus::EventBus;
    use crate::core::config::KvLocation;
    use crate::kv::KvStore;
    use crate::script::host::HostState;

    /// Succeeds only if the handler sees a connection id and, for messages,
    /// the same id as the text it was sent.
    const CHECKS_ITS_ID: &str = "import { websocket } from '@nitric/sdk';
const socket = websocket('t');
const check = (ctx) => {
  ctx.res.success = /^[0-9a-f-]{36}$/.test(ctx.req.connectionId)
    && (ctx.req.eventType !== 'message' || ctx.req.connectionId === ctx.req.data);
};
socket.on('connect', check);
socket.on('message', check);
socket.on('disconnect', check);";

    fn runtime() -> JsRuntime {
        let bus = EventBus::new(64);
        let kv = KvStore::open(&KvLocation::Memory, bus.clone()).expect("in-memory kv");
        let host = Rc::new(RefCell::new(HostState::new(kv, bus, String::new())));
        let mut runtime =
            JsRuntime::new(host, 16 << 20, Duration::from_secs(1)).expect("a runtime");
        runtime
            .load("t.js", CHECKS_ITS_ID)
            .expect("the script loads");
        runtime
    }

    fn accepted(runtime: &mut JsRuntime, kind: HandlerKind, id: ConnectionId) -> bool {
        let text = Payload::Text(id.hyphenated().to_string().into());
        let payload = (kind == HandlerKind::Message).then_some(&text);
        let (result, rejections) = runtime.dispatch(kind, id, None, payload);
        assert!(rejections.is_empty(), "{rejections:?}");
        result.expect("the handler runs")
    }

    #[test]
    fn connection_id_strings_live_from_the_first_message_to_the_disconnect() {
        let mut runtime = runtime();
        let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert!(accepted(&mut runtime, HandlerKind::Connect, first));
        assert_eq!(
            runtime.connection_ids.borrow().len(),
            0,
            "a connect may be refused"
        );
        for id in [first, second, first, second] {
            assert!(
                accepted(&mut runtime, HandlerKind::Message, id),
                "each sees its own id"
            );
        }
        assert_eq!(runtime.connection_ids.borrow().len(), 2);
        assert!(accepted(&mut runtime, HandlerKind::Disconnect, first));
        assert_eq!(runtime.connection_ids.borrow().len(), 1);
        assert!(accepted(&mut runtime, HandlerKind::Message, second));
        assert!(accepted(&mut runtime, HandlerKind::Disconnect, second));
        assert_eq!(runtime.connection_ids.borrow().len(), 0);
    }
}
