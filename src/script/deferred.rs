//! Calls that complete at the next turn. Under Node every kv and socket call
//! is a gRPC round trip, so other connections' handlers run before its
//! promise settles; here the work is done at once (so the group commit and
//! the ordering of effects stay as they were) and only the promise waits
//! for the script thread's next turn.

use rquickjs::{Ctx, Function, Persistent, Promise, Value};

use super::races::InvocationId;

/// How a deferred call's promise settles.
pub(crate) enum Settlement {
    Undefined,
    /// A stored kv value, parsed at the turn (keys sorted, as a Struct).
    Json(String),
    Keys(Vec<String>),
    /// A value the SDK handed over (`host.defer`).
    Value(Persistent<Value<'static>>),
    /// A rejection the SDK made (`host.deferReject`).
    Reject(Persistent<Value<'static>>),
    /// A gRPC status, made into the SDK's error class at the turn.
    Status(Status),
}

/// A failed call as the provider answers it.
pub(crate) struct Status {
    pub code: u8,
    pub details: String,
    /// The status detail's `cause`, when the provider sends one.
    pub cause: Option<&'static str>,
    /// The call site's stack, so the error points at the user's line.
    pub stack: Option<String>,
}

impl Status {
    pub(crate) fn unknown(details: String, stack: Option<String>) -> Self {
        Self {
            code: 2,
            details,
            cause: None,
            stack,
        }
    }

    pub(crate) fn not_found(details: &str, stack: Option<String>) -> Self {
        Self {
            code: 5,
            details: details.to_owned(),
            cause: Some("not found"),
            stack,
        }
    }

    pub(crate) fn internal(details: String, stack: Option<String>) -> Self {
        Self {
            code: 13,
            details,
            cause: None,
            stack,
        }
    }
}

/// One call waiting for the turn.
pub(crate) struct Deferred {
    /// The handler that made the call (its continuation runs as it).
    pub invocation: Option<InvocationId>,
    /// The context (service) that made the call: its values are made there.
    pub realm: usize,
    pub resolve: Persistent<Function<'static>>,
    pub reject: Persistent<Function<'static>>,
    pub settlement: Settlement,
}

/// A promise for `settlement`, queued for the next turn.
pub(crate) fn defer<'js>(
    ctx: &Ctx<'js>,
    queue: &mut Vec<Deferred>,
    invocation: Option<InvocationId>,
    settlement: Settlement,
) -> rquickjs::Result<Promise<'js>> {
    let (promise, deferred) = promise_for(ctx, invocation, settlement)?;
    queue.push(deferred);
    Ok(promise)
}

/// A promise and its handle, to be queued when it is due.
pub(crate) fn promise_for<'js>(
    ctx: &Ctx<'js>,
    invocation: Option<InvocationId>,
    settlement: Settlement,
) -> rquickjs::Result<(Promise<'js>, Deferred)> {
    let (promise, resolve, reject) = ctx.promise()?;
    let deferred = Deferred {
        invocation,
        realm: realm_of(ctx),
        resolve: Persistent::save(ctx, resolve),
        reject: Persistent::save(ctx, reject),
        settlement,
    };
    Ok((promise, deferred))
}

/// Which context a host function was called in: each service's context
/// has its own host functions, so this names the service.
pub(crate) fn realm_of(ctx: &Ctx<'_>) -> usize {
    ctx.as_raw().as_ptr() as usize
}

/// The stack of the JavaScript that is calling into the host right now.
pub(crate) fn call_site(ctx: &Ctx<'_>) -> Option<String> {
    rquickjs::Exception::from_message(ctx.clone(), "")
        .ok()?
        .stack()
}
