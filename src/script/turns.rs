//! Running handler chains turn by turn, as Node runs them: a step starts
//! the events that are ready, then settles the kv and socket calls made
//! before it (their "responses"), then collects the chains that finished.
//! So a chain that awaits a call lets every event that arrived meanwhile
//! run first, and chains of different connections interleave at each
//! `await`.

use std::sync::Arc;
use std::time::Instant;

use rquickjs::promise::PromiseState;
use rquickjs::{CatchResultExt, Ctx, Function, Persistent, Value};

use super::answer::{Answer, Outcome, awaited_answer, success_of};
use super::deferred::Deferred;
use super::host::{EchoArgs, value_key};
use super::races::InvocationId;
use super::runtime::{Awaited, Entry, JsRuntime, Loaded, Pending, settle_deferred};
use crate::core::events::{ConnectionId, HandlerKind, Payload, ScriptFailure};
use crate::core::query::Query;

/// Past this many cached connection-id strings the cache starts over; it only
/// grows past the open connections if a disconnect never reached the script.
const MAX_CACHED_CONNECTION_IDS: usize = 1 << 17;

/// A `Uint8Array` of a copy of `bytes`, made directly: rquickjs's
/// `TypedArray::new_copy` goes through the `Uint8Array` constructor with an
/// `ArrayBuffer` argument (about 1,400 instructions per message).
fn uint8_array_copy<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<Value<'js>> {
    // SAFETY: the context is live for 'js; QuickJS copies `bytes` before it
    // returns, and the new value's reference is handed to the `Value`.
    let value = unsafe {
        let raw = rquickjs::qjs::JS_NewUint8ArrayCopy(
            ctx.as_raw().as_ptr(),
            bytes.as_ptr(),
            bytes.len() as _,
        );
        Value::from_raw(ctx.clone(), raw)
    };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(value)
}

/// An event to run.
pub(crate) struct Start {
    pub invocation: InvocationId,
    pub connection_id: ConnectionId,
    /// The socket the connection connected to (the first one if unknown).
    pub socket: Option<Arc<str>>,
    pub kind: HandlerKind,
    /// Only connect has one.
    pub query: Option<Query>,
    /// Only message has one.
    pub payload: Option<Payload>,
    pub entry: Entry,
}

/// A chain that ended this step.
pub(crate) struct Finished {
    pub connection_id: ConnectionId,
    pub kind: HandlerKind,
    pub outcome: Outcome,
}

/// A failure beside a chain's own outcome (an unhandled rejection, a
/// continuation whose caller was gone).
pub(crate) struct Report {
    pub connection_id: Option<ConnectionId>,
    pub handler: Option<HandlerKind>,
    pub failure: ScriptFailure,
}

/// What one step did.
#[derive(Default)]
pub(crate) struct StepResult {
    pub finished: Vec<Finished>,
    pub reports: Vec<Report>,
}

/// The order in which a turn's calls settle: as they were made, or shuffled
/// by a seed (`replay --interleavings`), the same for the same seed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TurnOrder {
    state: Option<u64>,
}

impl TurnOrder {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self { state: Some(seed) }
    }

    fn next(state: &mut u64) -> u64 {
        // splitmix64
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn arrange(&mut self, due: &mut [Deferred]) {
        let Some(state) = &mut self.state else {
            return;
        };
        for index in (1..due.len()).rev() {
            let other = (Self::next(state) % (index as u64 + 1)) as usize;
            due.swap(index, other);
        }
    }
}

impl JsRuntime {
    /// Starts `starts`, settles the calls made before this step, and
    /// collects the chains that ended into `out`.
    pub(crate) fn step(
        &mut self,
        starts: &mut Vec<Start>,
        order: &mut TurnOrder,
        out: &mut StepResult,
    ) {
        let mut due = {
            let mut host = self.host.borrow_mut();
            // Sends that waited for room and now fit settle with this turn.
            host.retry_parked(&mut self.progressing);
            std::mem::take(&mut host.deferred)
        };
        self.extend_progressing();
        if self.loaded.is_empty() {
            // No script yet: every event is accepted and does nothing.
            out.finished.extend(starts.drain(..).map(|start| Finished {
                connection_id: start.connection_id,
                kind: start.kind,
                outcome: Outcome::Handled(true),
            }));
            return;
        }
        let services = std::mem::take(&mut self.loaded);
        order.arrange(&mut due);
        if let [only] = services.as_slice() {
            only.context.clone().with(|ctx| {
                for start in starts.drain(..) {
                    self.start_in(&ctx, only, start, out);
                }
                let provider_error = only.provider_error.clone().restore(&ctx).ok();
                for deferred in due {
                    self.resolve_in(&ctx, &provider_error, deferred, out);
                }
                self.poll_in(&ctx, out);
            });
        } else {
            // A project: each event runs in its socket's service, each call
            // settles in the context that made it (its values are that
            // context's objects, as in a process of its own).
            for start in starts.drain(..) {
                let service = &services[self.service_of(start.socket.as_deref())];
                service
                    .context
                    .clone()
                    .with(|ctx| self.start_in(&ctx, service, start, out));
            }
            for deferred in due {
                let service = services
                    .iter()
                    .find(|service| service.realm == deferred.realm)
                    .unwrap_or(&services[0]);
                service.context.clone().with(|ctx| {
                    let provider_error = service.provider_error.clone().restore(&ctx).ok();
                    self.resolve_in(&ctx, &provider_error, deferred, out);
                });
            }
            services[0]
                .context
                .clone()
                .with(|ctx| self.poll_in(&ctx, out));
        }
        self.deliver_topics(&services, out);
        self.loaded = services;
        self.expire(out);
    }

    /// The service that serves `socket` (the first when it is unknown).
    fn service_of(&self, socket: Option<&str>) -> usize {
        socket
            .and_then(|socket| self.socket_services.get(socket).copied())
            .unwrap_or(0)
    }

    /// Whether a chain is waiting for something.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether calls wait for the next turn.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.host.borrow().deferred.is_empty()
    }

    fn start_in<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        loaded: &Loaded,
        start: Start,
        out: &mut StepResult,
    ) {
        let Start {
            invocation,
            connection_id,
            socket,
            kind,
            query,
            payload,
            entry,
        } = start;
        {
            let mut host = self.host.borrow_mut();
            host.current_connection = Some(connection_id);
            host.current_invocation = Some(invocation);
            host.races.begin(invocation, connection_id);
        }
        self.deadline
            .set(Some(Instant::now() + self.handler_timeout));
        let called = (|| -> rquickjs::Result<Answer<'js>> {
            let dispatch = loaded.entry(entry).clone().restore(ctx)?;
            let query_value: Value = match &query {
                Some(query) => {
                    let object = rquickjs::Object::new(ctx.clone())?;
                    for (key, values) in query {
                        object.set(key.as_str(), values.clone())?;
                    }
                    object.into_value()
                }
                None => Value::new_undefined(ctx.clone()),
            };
            let connection_value = self.connection_string(ctx, kind, connection_id)?;
            // The SDK gives message events the body as a Uint8Array, and
            // an empty body (and every other event) as "". With
            // --binary-frames an empty binary frame stays bytes, so it
            // echoes as one.
            let binary_frames = self.host.borrow().gateway.frames.binary;
            let data: Value = match &payload {
                Some(payload)
                    if payload.len_bytes() > 0
                        || (binary_frames && matches!(payload, Payload::Binary(_))) =>
                {
                    uint8_array_copy(ctx, payload.as_bytes())?
                }
                _ => rquickjs::String::from_str(ctx.clone(), "")?.into_value(),
            };
            self.host.borrow_mut().echo = Some(EchoArgs {
                connection_key: value_key(connection_value.as_value()),
                data: payload
                    .filter(|_| data.is_object())
                    .map(|payload| (value_key(&data), payload)),
            });
            // Both stay alive (and so keep their identities) until the
            // handler's synchronous part and its microtasks have run.
            let _alive = (connection_value.clone(), data.clone());
            let socket_value = self.socket_string(ctx, socket.as_deref())?;
            let outcome: Value = match entry {
                Entry::Message => dispatch.call((connection_value, data, socket_value))?,
                Entry::Generic => dispatch.call((
                    kind.as_str(),
                    connection_value,
                    query_value,
                    data,
                    socket_value,
                ))?,
            };
            let answer = awaited_answer(ctx, loaded, outcome);
            while ctx.execute_pending_job() {}
            answer
        })();
        // A continuation that ran past the budget is stopped by an uncatchable
        // interrupt, which leaves the chain's promise pending for ever.
        let over_budget = self.is_over_budget();
        let outcome = match called.catch(ctx) {
            Err(caught) => Some(Outcome::Failed(self.failure_from(ctx, caught))),
            Ok(Answer::Done(outcome)) => Some(outcome),
            Ok(Answer::Wait(promise, _))
                if over_budget && promise.state() == PromiseState::Pending =>
            {
                Some(Outcome::Failed(self.budget_failure()))
            }
            Ok(Answer::Wait(promise, awaited)) if promise.state() == PromiseState::Pending => {
                let deadline = Instant::now() + self.handler_timeout;
                // Deadlines only move later, so the floor stays a lower bound.
                self.deadline_floor = Some(
                    self.deadline_floor
                        .map_or(deadline, |floor| floor.min(deadline)),
                );
                self.pending.insert(
                    invocation,
                    Pending {
                        connection_id,
                        kind,
                        promise: Persistent::save(ctx, promise),
                        awaited,
                        deadline,
                    },
                );
                None
            }
            Ok(Answer::Wait(promise, awaited)) => {
                Some(self.settled_outcome(ctx, &promise, awaited.as_ref()))
            }
        };
        self.deadline.set(None);
        let mut host = self.host.borrow_mut();
        host.current_connection = None;
        host.current_invocation = None;
        host.echo = None;
        if outcome.is_some() {
            host.races.end(invocation);
        }
        drop(host);
        self.report_strays(ctx, Some(connection_id), Some(kind), out);
        if let Some(outcome) = outcome {
            out.finished.push(Finished {
                connection_id,
                kind,
                outcome,
            });
        }
    }

    /// Settles one call made before this step, and runs what it wakes.
    fn resolve_in<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        provider_error: &Option<Function<'js>>,
        deferred: Deferred,
        out: &mut StepResult,
    ) {
        let now = Instant::now();
        let owner = deferred
            .invocation
            .and_then(|invocation| Some((invocation, self.pending.get_mut(&invocation)?)))
            .map(|(invocation, pending)| {
                pending.deadline = now + self.handler_timeout;
                (invocation, pending.connection_id, pending.kind)
            });
        {
            let mut host = self.host.borrow_mut();
            host.current_invocation = owner.map(|(invocation, ..)| invocation);
            host.current_connection = owner.map(|(_, connection_id, _)| connection_id);
        }
        self.deadline.set(Some(now + self.handler_timeout));
        let settled = (|| -> rquickjs::Result<()> {
            let provider_error = provider_error.as_ref().ok_or_else(|| {
                rquickjs::Exception::throw_internal(ctx, "the SDK's error factory is gone")
            })?;
            settle_deferred(ctx, provider_error, deferred)?;
            while ctx.execute_pending_job() {}
            Ok(())
        })();
        let connection_id = owner.map(|(_, connection_id, _)| connection_id);
        let kind = owner.map(|(.., kind)| kind);
        if let Some((invocation, ..)) = owner.filter(|_| self.is_over_budget())
            && let Some(pending) = self.pending.remove(&invocation)
        {
            self.host.borrow_mut().races.end(invocation);
            out.finished.push(Finished {
                connection_id: pending.connection_id,
                kind: pending.kind,
                outcome: Outcome::Failed(self.budget_failure()),
            });
        }
        if let Err(caught) = settled.catch(ctx) {
            out.reports.push(Report {
                connection_id,
                handler: kind,
                failure: self.failure_from(ctx, caught),
            });
        }
        self.deadline.set(None);
        {
            let mut host = self.host.borrow_mut();
            host.current_invocation = None;
            host.current_connection = None;
        }
        self.report_strays(ctx, connection_id, kind, out);
    }

    /// Collects the waiting chains that have settled.
    fn poll_in<'js>(&mut self, ctx: &Ctx<'js>, out: &mut StepResult) {
        let settled: Vec<InvocationId> = self
            .pending
            .iter()
            .filter(|(_, pending)| {
                pending
                    .promise
                    .clone()
                    .restore(ctx)
                    .map_or(true, |promise| promise.state() != PromiseState::Pending)
            })
            .map(|(invocation, _)| *invocation)
            .collect();
        for invocation in settled {
            let Some(pending) = self.pending.remove(&invocation) else {
                continue;
            };
            let outcome = match pending.promise.restore(ctx) {
                Ok(promise) => self.settled_outcome(ctx, &promise, pending.awaited.as_ref()),
                Err(error) => Outcome::Failed(ScriptFailure {
                    message: error.to_string(),
                    location: None,
                    stack: None,
                }),
            };
            self.host.borrow_mut().races.end(invocation);
            out.finished.push(Finished {
                connection_id: pending.connection_id,
                kind: pending.kind,
                outcome,
            });
        }
    }

    /// The outcome of a chain whose promise has settled: its success flag,
    /// or (speed trick 4 in sdk.js) read from the chain's own result and
    /// `ctx` as `successOf` reads it.
    fn settled_outcome<'js>(
        &self,
        ctx: &Ctx<'js>,
        promise: &rquickjs::Promise<'js>,
        awaited: Option<&Awaited>,
    ) -> Outcome {
        let success = self
            .settle::<Value>(ctx, promise)
            .and_then(|settled| match awaited {
                None => Ok(settled.as_bool().unwrap_or(true)),
                Some(awaited) => success_of(ctx, awaited, settled),
            });
        match success.catch(ctx) {
            Ok(success) => Outcome::Handled(success),
            Err(caught) => Outcome::Failed(self.failure_from(ctx, caught)),
        }
    }

    /// Unhandled rejections so far, except those of waiting chains (their
    /// rejection is their outcome, collected by the poll).
    pub(super) fn report_strays<'js>(
        &self,
        ctx: &Ctx<'js>,
        connection_id: Option<ConnectionId>,
        handler: Option<HandlerKind>,
        out: &mut StepResult,
    ) {
        if self.rejections.borrow().is_empty() {
            return;
        }
        let waiting: Vec<Value<'js>> = self
            .pending
            .values()
            .filter_map(|pending| pending.promise.clone().restore(ctx).ok())
            .map(|promise| promise.into_value())
            .collect();
        let mut kept = Vec::new();
        let mut rejections = self.rejections.borrow_mut();
        for rejection in rejections.drain(..) {
            let is_waiting = rejection
                .promise
                .clone()
                .restore(ctx)
                .is_ok_and(|promise| waiting.contains(&promise));
            if is_waiting {
                kept.push(rejection);
            } else {
                out.reports.push(Report {
                    connection_id,
                    handler,
                    failure: ScriptFailure {
                        message: format!(
                            "unhandled promise rejection: {}",
                            rejection.failure.message
                        ),
                        ..rejection.failure
                    },
                });
            }
        }
        *rejections = kept;
    }

    /// A socket's name as a JS string (cached: every message passes one), or
    /// undefined for the first declared socket.
    fn socket_string<'js>(
        &self,
        ctx: &Ctx<'js>,
        socket: Option<&str>,
    ) -> rquickjs::Result<Value<'js>> {
        let Some(socket) = socket else {
            return Ok(Value::new_undefined(ctx.clone()));
        };
        let mut cache = self.socket_names.borrow_mut();
        if let Some((_, string)) = cache.iter().find(|(name, _)| name.as_ref() == socket) {
            return Ok(string.clone().restore(ctx)?.into_value());
        }
        let string = rquickjs::String::from_str(ctx.clone(), socket)?;
        if cache.len() < 64 {
            cache.push((Arc::from(socket), Persistent::save(ctx, string.clone())));
        }
        Ok(string.into_value())
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
}
