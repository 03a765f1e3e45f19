//! What a chain's entry point answers and how a chain ended. The engine's
//! side of speed trick 4 in `sdk.js` lives here: a chain still running
//! answers its own result (its ctx left in the SDK's `awaiting[0]`), and
//! the engine awaits it and reads the success as the SDK's `successOf`
//! would, with no `.then`, derived promise or reaction job per event.

use rquickjs::{Ctx, Object, Persistent, Value};

use super::runtime::{Awaited, Loaded};
use crate::core::events::ScriptFailure;

/// How a chain ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It ran; `res.success` (for connect: accepted).
    Handled(bool),
    /// No chain is registered for the event.
    Unhandled,
    /// It threw, rejected, ran past its budget, or never settled.
    Failed(ScriptFailure),
}

/// What a chain's entry point answered.
pub(super) enum Answer<'js> {
    Done(Outcome),
    /// A promise to watch; with the chain's `ctx` when it is the chain's own
    /// result (speed trick 4 in sdk.js).
    Wait(rquickjs::Promise<'js>, Option<Awaited>),
}

/// Reads an entry point's answer: a success flag, `null` (no handler), or
/// the result of a chain still running, its ctx left in `awaiting[0]`.
pub(super) fn awaited_answer<'js>(
    ctx: &Ctx<'js>,
    loaded: &Loaded,
    result: Value<'js>,
) -> rquickjs::Result<Answer<'js>> {
    if let Some(success) = result.as_bool() {
        return Ok(Answer::Done(Outcome::Handled(success)));
    }
    if result.is_null() {
        return Ok(Answer::Done(Outcome::Unhandled));
    }
    let awaiting = loaded.awaiting.clone().restore(ctx)?;
    let chain_ctx: Object = awaiting.get(0)?;
    awaiting.set(0, Value::new_undefined(ctx.clone()))?;
    if let Some(promise) = result.as_promise() {
        let awaited = Awaited {
            ctx: Persistent::save(ctx, chain_ctx),
            success_of: loaded.success_of.clone(),
        };
        return Ok(Answer::Wait(promise.clone(), Some(awaited)));
    }
    let await_thenable = loaded.await_thenable.clone().restore(ctx)?;
    let promise: rquickjs::Promise = await_thenable.call((result, chain_ctx))?;
    Ok(Answer::Wait(promise, None))
}

/// `successOf(ctx, settled)`: for the usual results (`undefined`, `ctx`)
/// read here, `!!ctx.response.success`; anything else through the SDK's own.
pub(super) fn success_of<'js>(
    ctx: &Ctx<'js>,
    awaited: &Awaited,
    settled: Value<'js>,
) -> rquickjs::Result<bool> {
    let chain_ctx = awaited.ctx.clone().restore(ctx)?;
    if settled.is_undefined() || settled == *chain_ctx.as_value() {
        let response: Value = chain_ctx.get("response")?;
        if let Some(response) = response.as_object() {
            let success: rquickjs::convert::Coerced<bool> = response.get("success")?;
            return Ok(success.0);
        }
    }
    let success_of = awaited.success_of.clone().restore(ctx)?;
    success_of.call((chain_ctx, settled))
}
