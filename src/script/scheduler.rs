//! Which events may start. As the gateway awaits each event of a
//! connection before it reads the next frame, one connection's events run
//! one at a time, in order; connections run concurrently.

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::races::InvocationId;
use super::runtime::Entry;
use super::turns::Start;
use crate::core::events::{ConnectionId, HandlerKind, Payload};
use crate::core::query::Query;
use crate::runtime::ConnectVerdict;

/// An event of one connection, waiting for its turn.
pub(super) enum EventJob {
    Connect {
        socket: Arc<str>,
        query: Query,
        reply: oneshot::Sender<ConnectVerdict>,
    },
    Message {
        payload: Payload,
    },
    Disconnect,
}

/// The event of a connection that is running, and who waits for it.
pub(super) struct Running {
    /// A connect's verdict goes here.
    pub reply: Option<oneshot::Sender<ConnectVerdict>>,
}

#[derive(Default)]
struct Lane {
    running: Option<Running>,
    waiting: VecDeque<EventJob>,
}

/// Every connection's running event and the ones behind it.
#[derive(Default)]
pub(super) struct Scheduler {
    lanes: FxHashMap<ConnectionId, Lane>,
    /// Connections whose next event may start.
    ready: VecDeque<ConnectionId>,
    waiting_events: usize,
    next_invocation: InvocationId,
    /// The socket each connection connected to, from its connect to its
    /// disconnect (or refusal).
    sockets: FxHashMap<ConnectionId, Arc<str>>,
}

impl Scheduler {
    /// Queues `job` behind the connection's earlier events.
    pub(super) fn submit(&mut self, connection_id: ConnectionId, job: EventJob) {
        if let EventJob::Connect { socket, .. } = &job {
            self.sockets.insert(connection_id, Arc::clone(socket));
        }
        let lane = self.lanes.entry(connection_id).or_default();
        lane.waiting.push_back(job);
        self.waiting_events += 1;
        if lane.running.is_none() && lane.waiting.len() == 1 {
            self.ready.push_back(connection_id);
        }
    }

    /// Events not started yet.
    pub(super) fn waiting_events(&self) -> usize {
        self.waiting_events
    }

    /// Whether an event could start now.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Whether no event is running or waiting.
    pub(super) fn is_quiet(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Starts the next event of every ready connection.
    pub(super) fn take_starts(&mut self, starts: &mut Vec<Start>) {
        while let Some(connection_id) = self.ready.pop_front() {
            let Some(lane) = self.lanes.get_mut(&connection_id) else {
                continue;
            };
            let Some(job) = lane.waiting.pop_front() else {
                continue;
            };
            self.waiting_events -= 1;
            self.next_invocation += 1;
            let invocation = self.next_invocation;
            let (kind, query, payload, reply) = match job {
                EventJob::Connect { query, reply, .. } => {
                    (HandlerKind::Connect, Some(query), None, Some(reply))
                }
                EventJob::Message { payload } => (HandlerKind::Message, None, Some(payload), None),
                EventJob::Disconnect => (HandlerKind::Disconnect, None, None, None),
            };
            lane.running = Some(Running { reply });
            starts.push(Start {
                invocation,
                connection_id,
                socket: self.sockets.get(&connection_id).cloned(),
                kind,
                query,
                payload,
                entry: Entry::for_kind(kind),
            });
        }
    }

    /// The connection is gone (disconnected or refused): its socket too.
    pub(super) fn forget(&mut self, connection_id: ConnectionId) {
        self.sockets.remove(&connection_id);
    }

    /// The connection's running event ended; its next one becomes ready.
    pub(super) fn finished(&mut self, connection_id: ConnectionId) -> Option<Running> {
        let lane = self.lanes.get_mut(&connection_id)?;
        let running = lane.running.take();
        if lane.waiting.is_empty() {
            self.lanes.remove(&connection_id);
        } else {
            self.ready.push_back(connection_id);
        }
        running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connections_events_run_in_order_while_connections_run_side_by_side() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut scheduler = Scheduler::default();
        let message = |text: &str| EventJob::Message {
            payload: Payload::Text(text.to_owned().into()),
        };
        scheduler.submit(a, message("a1"));
        scheduler.submit(a, message("a2"));
        scheduler.submit(b, message("b1"));
        let mut starts = Vec::new();
        scheduler.take_starts(&mut starts);
        let started: Vec<_> = starts.iter().map(|start| start.connection_id).collect();
        assert_eq!(started, [a, b], "one event per connection");
        starts.clear();
        scheduler.take_starts(&mut starts);
        assert!(starts.is_empty(), "a2 waits for a1");
        assert!(scheduler.finished(a).is_some());
        scheduler.take_starts(&mut starts);
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].payload, Some(Payload::Text("a2".into())));
        scheduler.finished(a);
        scheduler.finished(b);
        assert!(scheduler.is_quiet());
        assert_eq!(scheduler.waiting_events(), 0);
    }
}
