//! One QuickJS runtime and the loaded script. Lives on the script thread.
//! Running handlers, turn by turn, is in `turns`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Promise, Runtime, Value,
};
use rustc_hash::FxHashMap;

use super::deferred::Settlement;
use super::failure::describe_caught;
use super::host::SharedHost;
use super::modules::{GraphLoader, GraphResolver, ModuleGraph, SharedGraph};
use super::races::InvocationId;
use crate::core::events::{ConnectionId, HandlerKind, LogLevel, ScriptFailure};

pub(super) const PRELUDE_JS: &str = include_str!("prelude.js");
const SDK_JS: &str = include_str!("sdk.js");

/// QuickJS's own recursion guard; the thread's stack is larger than this.
pub(crate) const JS_STACK_BYTES: usize = 4 * 1024 * 1024;

/// What a successful load found.
pub(crate) struct LoadReport {
    /// `websocket(name)` names, in declaration order.
    pub sockets: Vec<String>,
    /// Things the user should hear about (no websocket, rejections).
    pub warnings: Vec<String>,
    /// The project's files the script is made of (not packages).
    pub files: Vec<std::path::PathBuf>,
}

/// A rejected promise nobody handled (yet).
pub(super) struct Rejection {
    pub promise: Persistent<Value<'static>>,
    pub failure: ScriptFailure,
}

/// A loaded service: its context and the SDK's entry points.
pub(super) struct Loaded {
    /// Its context's identity, as `deferred::realm_of` gives it.
    pub realm: usize,
    // Field order is drop order: the persistent handles before their context.
    pub dispatch: Persistent<Function<'static>>,
    pub dispatch_message: Persistent<Function<'static>>,
    pub provider_error: Persistent<Function<'static>>,
    /// The SDK's `host.deliverTopic`: runs this service's subscriptions.
    pub deliver_topic: Persistent<Function<'static>>,
    /// The SDK's `successOf(ctx, result)` (speed trick 4 in sdk.js).
    pub success_of: Persistent<Function<'static>>,
    /// The SDK's `host.awaitThenable(result, ctx)`: a thenable that is not
    /// a promise, made into one as the SDK's `await` would.
    pub await_thenable: Persistent<Function<'static>>,
    /// The SDK's `host.awaiting`: `[ctx]` of the chain that just answered
    /// its own result.
    pub awaiting: Persistent<rquickjs::Array<'static>>,
    pub context: Context,
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
    pub(super) fn for_kind(kind: HandlerKind) -> Self {
        match kind {
            HandlerKind::Message => Entry::Message,
            HandlerKind::Connect | HandlerKind::Disconnect => Entry::Generic,
        }
    }
}

impl Loaded {
    pub(super) fn entry(&self, entry: Entry) -> &Persistent<Function<'static>> {
        match entry {
            Entry::Message => &self.dispatch_message,
            Entry::Generic => &self.dispatch,
        }
    }
}

/// A handler chain whose promise has not settled yet.
pub(super) struct Pending {
    pub connection_id: ConnectionId,
    pub kind: HandlerKind,
    pub promise: Persistent<Promise<'static>>,
    /// When `promise` is the chain's own result (not a success flag): its
    /// `ctx`, and the `successOf` that reads the success from both.
    pub awaited: Option<Awaited>,
    /// It is reported as never settling if nothing it waits for settles by then.
    pub deadline: Instant,
}

/// A chain's `ctx` while the engine awaits the chain's result itself.
pub(super) struct Awaited {
    pub ctx: Persistent<rquickjs::Object<'static>>,
    pub success_of: Persistent<Function<'static>>,
}

/// The runtime, the current script, and the handler time budget.
pub(crate) struct JsRuntime {
    /// One per service file, each in a context of its own (services do not
    /// share globals, as separate processes would not); empty before the
    /// first load.
    pub(super) loaded: Vec<Loaded>,
    /// Which service serves each socket.
    pub(super) socket_services: FxHashMap<Arc<str>, usize>,
    pub(super) rejections: Rc<RefCell<Vec<Rejection>>>,
    /// Each open connection's id as a JS string, made at its first message
    /// and dropped at its disconnect: formatting the UUID and copying it into
    /// a new string was about 3% of every message's instructions. (Fx: the
    /// keys are random UUIDs the server made.)
    pub(super) connection_ids:
        RefCell<FxHashMap<ConnectionId, Persistent<rquickjs::String<'static>>>>,
    pub(super) pending: FxHashMap<InvocationId, Pending>,
    /// No waiting chain's deadline is earlier than this.
    pub(super) deadline_floor: Option<Instant>,
    /// Chains whose sends wait on clients that read (filled and emptied
    /// by each step; kept for its allocation).
    pub(super) progressing: Vec<InvocationId>,
    /// Socket names as JS strings, by name.
    pub(super) socket_names:
        RefCell<Vec<(std::sync::Arc<str>, Persistent<rquickjs::String<'static>>)>>,
    pub(super) deadline: Rc<Cell<Option<Instant>>>,
    pub(super) host: SharedHost,
    pub(super) handler_timeout: Duration,
    pub(super) graph: SharedGraph,
    pub(super) runtime: Runtime,
}

impl Drop for JsRuntime {
    fn drop(&mut self) {
        // Every handle into the runtime must go before the runtime itself.
        self.rejections.borrow_mut().clear();
        self.connection_ids.get_mut().clear();
        self.socket_names.get_mut().clear();
        self.pending.clear();
        self.host.borrow_mut().deferred.clear();
        self.host.borrow_mut().parked.clear();
        self.loaded.clear();
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
        let graph = ModuleGraph::new();
        runtime.set_loader(
            GraphResolver(Rc::clone(&graph)),
            GraphLoader {
                graph: Rc::clone(&graph),
                sdk_source: SDK_JS,
            },
        );

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
                let sources = Rc::clone(&tracker_host.borrow().sources);
                let failure = describe_caught(&ctx, caught, &sources.borrow());
                tracked.borrow_mut().push(Rejection {
                    promise: Persistent::save(&ctx, promise),
                    failure,
                });
            },
        )));

        Ok(Self {
            loaded: Vec::new(),
            socket_services: FxHashMap::default(),
            rejections,
            connection_ids: RefCell::default(),
            pending: FxHashMap::default(),
            deadline_floor: None,
            progressing: Vec::new(),
            socket_names: RefCell::default(),
            deadline,
            host,
            handler_timeout,
            graph,
            runtime,
        })
    }

    /// Drives `promise` to completion, giving deferred calls their turns
    /// (the module's top level, which belongs to no handler).
    pub(super) fn finish_with_turns<'js>(
        &self,
        ctx: &Ctx<'js>,
        provider_error: &Function<'js>,
        promise: &Promise<'js>,
    ) -> rquickjs::Result<()> {
        loop {
            while ctx.execute_pending_job() {}
            if promise.state() != rquickjs::promise::PromiseState::Pending {
                break;
            }
            let due = std::mem::take(&mut self.host.borrow_mut().deferred);
            if due.is_empty() {
                break;
            }
            for deferred in due {
                settle_deferred(ctx, provider_error, deferred)?;
            }
        }
        self.settle::<()>(ctx, promise)
    }

    /// The settled result of `promise`. Its rejection is ours to report, so
    /// it is not also reported as an unhandled rejection.
    pub(super) fn settle<'js, T: rquickjs::FromJs<'js>>(
        &self,
        ctx: &Ctx<'js>,
        promise: &Promise<'js>,
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
    pub(super) fn failure_from<'js>(
        &self,
        ctx: &Ctx<'js>,
        caught: CaughtError<'js>,
    ) -> ScriptFailure {
        let timed_out = self
            .deadline
            .get()
            .is_some_and(|deadline| Instant::now() >= deadline);
        let would_block = matches!(caught, CaughtError::Error(rquickjs::Error::WouldBlock));
        let sources = Rc::clone(&self.host.borrow().sources);
        let mut failure = describe_caught(ctx, caught, &sources.borrow());
        super::failure::explain_not_a_function(&mut failure, &sources.borrow());
        if timed_out || failure.message == "InternalError: interrupted" {
            failure.message = self.over_budget();
        } else if would_block {
            failure.message = never_settled().to_owned();
        }
        if failure.message.contains("out of memory") {
            // Give the memory back before the next handler runs.
            ctx.run_gc();
        }
        failure
    }

    pub(super) fn over_budget(&self) -> String {
        format!(
            "handler ran longer than its {} ms budget and was stopped",
            self.handler_timeout.as_millis()
        )
    }

    pub(super) fn take_rejections(&self) -> Vec<ScriptFailure> {
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

pub(super) fn never_settled() -> &'static str {
    "handler's promise never settled: it awaits something that never resolves"
}

/// Settles one deferred call's promise (the caller drains the jobs).
pub(super) fn settle_deferred<'js>(
    ctx: &Ctx<'js>,
    provider_error: &Function<'js>,
    deferred: super::deferred::Deferred,
) -> rquickjs::Result<()> {
    let resolve = deferred.resolve.restore(ctx)?;
    let reject = deferred.reject.restore(ctx)?;
    match deferred.settlement {
        Settlement::Undefined => resolve.call::<_, ()>((Value::new_undefined(ctx.clone()),)),
        Settlement::Json(raw) => {
            let parsed = crate::kv::canonical_json(&raw)
                .map_err(|error| rquickjs::Exception::throw_syntax(ctx, &error.to_string()))
                .and_then(|sorted| ctx.json_parse(sorted));
            match parsed.catch(ctx) {
                Ok(value) => resolve.call::<_, ()>((value,)),
                Err(_) => {
                    let error = rquickjs::Exception::from_message(
                        ctx.clone(),
                        "the stored value is not valid JSON",
                    )?;
                    reject.call::<_, ()>((error,))
                }
            }
        }
        Settlement::Keys(keys) => resolve.call::<_, ()>((keys,)),
        Settlement::Value(value) => resolve.call::<_, ()>((value.restore(ctx)?,)),
        Settlement::Reject(reason) => reject.call::<_, ()>((reason.restore(ctx)?,)),
        Settlement::Status(status) => {
            let error: Value = provider_error.call((status.code, status.details, status.cause))?;
            if let (Some(stack), Some(object)) = (status.stack, error.as_object()) {
                object.set("stack", stack)?;
            }
            reject.call::<_, ()>((error,))
        }
    }
}
