//! Sends that wait for room in a client's queue. Under `nitric start` a
//! send is a write to the client's socket: it waits while the client reads
//! what came before, however much a handler sends at once. Here a send that
//! finds the queue full waits in a line of its connection's own (later
//! sends to it wait behind, so order is kept); its promise settles when the
//! client has taken enough. A client that takes nothing for
//! [`NOT_READING_AFTER`](crate::core::outbound::NOT_READING_AFTER) is
//! closed with 1008 and the waiting sends fail.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::deferred::{Deferred, Settlement, Status};
use super::group_commit::GroupCommit;
use super::races::InvocationId;
use crate::core::events::{ConnectionId, Payload};
use crate::core::outbound::{DrainWatch, Outbound};

/// How often the script thread looks again at queues that were full.
const RETRY_EVERY: Duration = Duration::from_millis(1);

/// One send waiting for room.
pub(crate) struct ParkedSend {
    pub payload: Payload,
    /// Its promise; the settlement is set when it leaves the line.
    pub promise: Deferred,
    /// The call site, for the error if it fails.
    pub stack: Option<String>,
}

/// One connection's line of waiting sends.
struct Line {
    outbound: Outbound,
    drain: DrainWatch,
    sends: VecDeque<ParkedSend>,
}

/// Why a send could not wait.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{waiting_bytes} bytes of sends already wait for clients that read slower than the handlers send (at most {budget_bytes}, the script's memory cap); this send is refused, the connection stays open"
)]
pub(crate) struct OverBudget {
    pub waiting_bytes: usize,
    pub budget_bytes: usize,
}

/// Every connection's waiting sends.
pub(crate) struct ParkedSends {
    lines: FxHashMap<ConnectionId, Line>,
    /// Bytes of the payloads waiting, across connections.
    bytes: usize,
    /// At most this many may wait: a handler that sends faster than its
    /// clients read holds the rest in memory, as a Node service would.
    budget_bytes: usize,
    retry_at: Option<Instant>,
}

impl ParkedSends {
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Self {
            lines: FxHashMap::default(),
            bytes: 0,
            budget_bytes,
            retry_at: None,
        }
    }

    /// Whether sends to `connection_id` wait: a new one must wait behind them.
    pub(crate) fn is_waiting(&self, connection_id: &ConnectionId) -> bool {
        // Asked on every send; an empty map answers without hashing.
        self.lines.contains_key(connection_id)
    }

    /// Puts a send at the end of its connection's line; past the budget its
    /// promise goes to `settled` instead, to fail at the turn.
    pub(crate) fn park(
        &mut self,
        connection_id: ConnectionId,
        outbound: &Outbound,
        mut send: ParkedSend,
        settled: &mut Vec<Deferred>,
    ) {
        let len_bytes = send.payload.len_bytes();
        if self.bytes + len_bytes > self.budget_bytes {
            let over = OverBudget {
                waiting_bytes: self.bytes,
                budget_bytes: self.budget_bytes,
            };
            send.promise.settlement =
                Settlement::Status(Status::unknown(over.to_string(), send.stack));
            settled.push(send.promise);
            return;
        }
        self.bytes += len_bytes;
        let now = Instant::now();
        self.lines
            .entry(connection_id)
            .or_insert_with(|| Line {
                outbound: outbound.clone(),
                drain: DrainWatch::new(outbound, now),
                sends: VecDeque::new(),
            })
            .sends
            .push_back(send);
        self.retry_at.get_or_insert(now + RETRY_EVERY);
    }

    /// When to look at the full queues again, if any send waits.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Sends what now fits into `group` (in each line's order) and moves
    /// the promises of sends that left their line to `settled`: resolved,
    /// or rejected when the connection closed or its client stopped reading.
    /// The handlers whose sends still wait on clients that read go to
    /// `progressing`: a send to a slow client is slow, not stuck.
    pub(crate) fn retry(
        &mut self,
        group: &mut GroupCommit,
        settled: &mut Vec<Deferred>,
        progressing: &mut Vec<InvocationId>,
    ) {
        // Asked on every step: no clock read while nothing waits.
        let Some(retry_at) = self.retry_at else {
            return;
        };
        let now = Instant::now();
        if retry_at > now {
            return;
        }
        let mut freed = 0;
        self.lines.retain(|_, line| {
            let failure = loop {
                let Some(send) = line.sends.pop_front() else {
                    break None;
                };
                match line.outbound.try_reserve(send.payload.len_bytes()) {
                    Ok(Some(reserved)) => {
                        freed += send.payload.len_bytes();
                        group.hold_reserved(&line.outbound, reserved, send.payload);
                        settled.push(send.promise);
                    }
                    Ok(None) => {
                        line.sends.push_front(send);
                        if line.drain.is_stalled(&line.outbound, now) {
                            break Some(line.outbound.close_as_not_reading());
                        }
                        let owners = line.sends.iter().filter_map(|send| send.promise.invocation);
                        for owner in owners {
                            if progressing.last() != Some(&owner) {
                                progressing.push(owner);
                            }
                        }
                        return true;
                    }
                    Err(error) => {
                        line.sends.push_front(send);
                        break Some(error);
                    }
                }
            };
            if let Some(error) = failure {
                for mut send in line.sends.drain(..) {
                    freed += send.payload.len_bytes();
                    send.promise.settlement =
                        Settlement::Status(Status::unknown(error.to_string(), send.stack));
                    settled.push(send.promise);
                }
            }
            false
        });
        self.bytes -= freed;
        self.retry_at = (!self.lines.is_empty()).then(|| now + RETRY_EVERY);
    }

    /// Forgets every waiting send (their promises belong to a runtime that
    /// is going away).
    pub(crate) fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
        self.retry_at = None;
    }
}
