//! Test support for the script thread's turns: one event run alone, and a
//! runtime with a script loaded.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::answer::Outcome;
use super::host::{Gateway, HostState, NoConnections};
use super::races::InvocationId;
use super::runtime::{Entry, JsRuntime};
use super::turns::{Start, StepResult, TurnOrder};
use crate::core::bus::EventBus;
use crate::core::config::KvLocation;
use crate::core::events::{ConnectionId, HandlerKind, Payload, ScriptFailure};
use crate::core::query::Query;
use crate::kv::KvStore;

/// A runtime with `source` loaded as `name`, and its bus.
pub(crate) fn loaded(name: &str, source: &str) -> (JsRuntime, EventBus) {
    let bus = EventBus::new(256);
    let kv = KvStore::open(&KvLocation::Memory, bus.clone()).expect("in-memory kv");
    let host = Rc::new(RefCell::new(HostState::new(
        kv,
        bus.clone(),
        String::new(),
        Arc::new(NoConnections),
        Gateway::default(),
        16 << 20,
    )));
    let mut runtime = JsRuntime::new(host, 16 << 20, Duration::from_secs(1)).expect("a runtime");
    runtime
        .load(&[super::modules::ServiceSource {
            path: name.into(),
            source: source.to_owned(),
        }])
        .expect("the script loads");
    (runtime, bus)
}

impl JsRuntime {
    /// Runs one event alone, turn after turn, until its chain ends: the
    /// outcome and the failures reported beside it.
    pub(crate) fn run_alone(
        &mut self,
        entry: Entry,
        kind: HandlerKind,
        connection_id: ConnectionId,
        query: Option<&Query>,
        payload: Option<&Payload>,
    ) -> (Outcome, Vec<ScriptFailure>) {
        let mut starts = vec![Start {
            invocation: InvocationId::MAX,
            connection_id,
            socket: None,
            kind,
            query: query.cloned(),
            payload: payload.cloned(),
            entry,
        }];
        let mut out = StepResult::default();
        let mut order = TurnOrder::default();
        loop {
            self.step(&mut starts, &mut order, &mut out);
            if let Some(finished) = out.finished.pop() {
                let reports = out.reports.drain(..).map(|report| report.failure).collect();
                return (finished.outcome, reports);
            }
            if !self.has_deferred() && !self.has_pending() {
                let reports = out.reports.drain(..).map(|report| report.failure).collect();
                return (
                    Outcome::Failed(ScriptFailure {
                        message: "the chain vanished".to_owned(),
                        location: None,
                        stack: None,
                    }),
                    reports,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Succeeds only if the handler sees a connection id and, for messages,
    /// the same id as the text it was sent.
    const CHECKS_ITS_ID: &str = "import { websocket } from '@nitric/sdk';
const socket = websocket('t');
const check = (ctx) => {
  ctx.res.success = /^[0-9a-f-]{36}$/.test(ctx.req.connectionId)
    && (ctx.req.eventType !== 'message' || ctx.req.connectionId === ctx.req.text());
};
socket.on('connect', check);
socket.on('message', check);
socket.on('disconnect', check);";

    fn accepted(runtime: &mut JsRuntime, kind: HandlerKind, id: ConnectionId) -> bool {
        let text = Payload::Text(id.hyphenated().to_string().into());
        let payload = (kind == HandlerKind::Message).then_some(&text);
        let (outcome, reports) = runtime.run_alone(Entry::for_kind(kind), kind, id, None, payload);
        assert!(reports.is_empty(), "{reports:?}");
        outcome == Outcome::Handled(true)
    }

    #[test]
    fn connection_id_strings_live_from_the_first_message_to_the_disconnect() {
        let (mut runtime, _bus) = loaded("t.js", CHECKS_ITS_ID);
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
