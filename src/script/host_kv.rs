//! The kv host functions: each call is done at once through the group
//! commit, answered at the next turn (as a gRPC round trip), and noted for
//! lost-update detection with the line it was made from.

use std::rc::Rc;

use rquickjs::{Ctx, Function, Object, Promise, Result};

use super::deferred::{Settlement, Status, call_site};
use super::group_commit::GroupCommit;
use super::host::{HostState, SharedHost};
use super::host_api;
use crate::core::events::{ConnectionId, LogLevel, ScriptLocation};

/// Where in the user's script the running call was made, and its stack.
fn site(ctx: &Ctx<'_>, state: &HostState) -> (Option<ScriptLocation>, Option<String>) {
    let stack = call_site(ctx);
    let sources = state.sources.borrow();
    let location = stack
        .as_deref()
        .and_then(|stack| sources.locate(&sources.remap_stack(stack)));
    (location, stack)
}

fn internal(error: crate::kv::KvError, stack: Option<String>) -> Settlement {
    Settlement::Status(Status::internal(error.to_string(), stack))
}

/// A write of `key` by the running handler: checked for a lost update
/// (logged), done by `apply` on the open batch, answered at the next turn.
fn write<'js>(
    ctx: &Ctx<'js>,
    state: &mut HostState,
    (store, key): (&str, &str),
    apply: impl FnOnce(&mut GroupCommit, Option<ConnectionId>, Option<String>) -> Settlement,
) -> Result<Promise<'js>> {
    let (location, stack) = site(ctx, state);
    let invocation = state.current_invocation;
    if let Some(lost) = state.races.write(invocation, store, key, location) {
        state.log(LogLevel::Warn, lost.to_string());
    }
    let connection_id = state.current_connection;
    let settlement = apply(&mut state.group, connection_id, stack);
    state.defer(ctx, settlement)
}

pub(crate) fn install<'js>(ctx: &Ctx<'js>, object: &Object<'js>, host: &SharedHost) -> Result<()> {
    let state = Rc::clone(host);
    object.set(
        host_api::KV_GET,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, key: String| -> Result<Promise<'js>> {
                let mut state = state.borrow_mut();
                let (location, stack) = site(&ctx, &state);
                let invocation = state.current_invocation;
                state.races.read(invocation, &store, &key, location);
                let settlement = match state.group.get(&store, &key) {
                    Ok(Some(json)) => Settlement::Json(json),
                    Ok(None) => Settlement::Status(Status::not_found(
                        "BoltDocService.Get document not found",
                        stack,
                    )),
                    Err(error) => internal(error, stack),
                };
                state.defer(&ctx, settlement)
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_SET,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  store: String,
                  key: String,
                  json: String|
                  -> Result<Promise<'js>> {
                // Stored as the real lane stores a Struct.
                let json = crate::kv::canonical_json(&json).unwrap_or(json);
                let mut state = state.borrow_mut();
                write(
                    &ctx,
                    &mut state,
                    (&store, &key),
                    |group, connection_id, stack| match group.set(
                        &store,
                        &key,
                        &json,
                        connection_id,
                    ) {
                        Ok(()) => Settlement::Undefined,
                        Err(error) => internal(error, stack),
                    },
                )
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_DELETE,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, key: String| -> Result<Promise<'js>> {
                let mut state = state.borrow_mut();
                write(
                    &ctx,
                    &mut state,
                    (&store, &key),
                    |group, connection_id, stack| {
                        match group.delete(&store, &key, connection_id) {
                            Ok(true) => Settlement::Undefined,
                            // As `nitric start`: deleting a missing key is NOT_FOUND.
                            Ok(false) => Settlement::Status(Status::not_found(
                                "BoltDocService.Delete document not found",
                                stack,
                            )),
                            Err(error) => internal(error, stack),
                        }
                    },
                )
            },
        )?,
    )?;

    let state = Rc::clone(host);
    object.set(
        host_api::KV_KEYS,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, store: String, prefix: String| -> Result<Promise<'js>> {
                let mut state = state.borrow_mut();
                let settlement = match state.group.keys(&store, &prefix) {
                    Ok(keys) => Settlement::Keys(keys),
                    Err(error) => internal(error, call_site(&ctx)),
                };
                state.defer(&ctx, settlement)
            },
        )?,
    )?;
    Ok(())
}
