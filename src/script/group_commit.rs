//! Group commit on the script thread: kv writes of the jobs already queued
//! share one durable commit, and whatever those handlers did that a client
//! could see (replies, closes, handshake verdicts) is held back until the
//! commit succeeds. Nothing that depends on a write leaves the process
//! before the write is on disk, yet a burst of connects pays one fsync.
//!
//! Replies are also held (without kv writes, only) until the end of the job
//! or message batch that made them: each connection's writer is then woken
//! once per batch and flushes its replies in one write, instead of once per
//! reply while the script thread is still working through the batch.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::core::close_code;
use crate::core::events::{ClosedBy, ConnectionId, Payload, ScriptFailure};
use crate::core::outbound::{CloseRequest, Outbound, QueueError, Reserved};
use crate::kv::{KvBatch, KvError, KvStore};
use crate::runtime::ConnectVerdict;

/// A batch is committed once it is this old even if jobs keep coming, so a
/// steady stream cannot hold replies back for long.
const MAX_BATCH_AGE: Duration = Duration::from_millis(4);

/// ... or once it holds this many writes.
const MAX_BATCH_WRITES: usize = 2048;

enum Held {
    Send {
        outbound: Outbound,
        reserved: Reserved,
        payload: Payload,
    },
    Close {
        outbound: Outbound,
        request: CloseRequest,
    },
    Verdict {
        connection_id: ConnectionId,
        reply: oneshot::Sender<ConnectVerdict>,
        verdict: ConnectVerdict,
    },
}

/// What a failed commit undid, for the script thread to report.
#[derive(Debug)]
pub(crate) struct CommitFailed {
    /// Why redb refused.
    pub error: KvError,
    /// Writes that were lost.
    pub writes: usize,
    /// Accepted connects turned into failures: no longer reachable.
    pub refused_connections: Vec<ConnectionId>,
    /// Connections closed with 1011 because replies waited for the commit.
    pub closed_connections: usize,
}

/// The open batch (if any) and the effects waiting for it.
pub(crate) struct GroupCommit {
    kv: KvStore,
    batch: Option<(KvBatch, Instant)>,
    held: Vec<Held>,
}

impl GroupCommit {
    pub(crate) fn new(kv: KvStore) -> Self {
        Self {
            kv,
            batch: None,
            held: Vec::new(),
        }
    }

    /// Whether the open batch is old or large enough to commit now.
    pub(crate) fn is_due(&self) -> bool {
        self.batch.as_ref().is_some_and(|(batch, opened)| {
            opened.elapsed() >= MAX_BATCH_AGE || batch.len() >= MAX_BATCH_WRITES
        })
    }

    fn batch(&mut self) -> Result<&mut KvBatch, KvError> {
        let (batch, _) = match &mut self.batch {
            Some(open) => open,
            none => none.insert((self.kv.begin_batch()?, Instant::now())),
        };
        Ok(batch)
    }

    pub(crate) fn get(&self, store: &str, key: &str) -> Result<Option<String>, KvError> {
        match &self.batch {
            Some((batch, _)) => batch.get(store, key),
            None => self.kv.get(store, key),
        }
    }

    pub(crate) fn keys(&self, store: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        match &self.batch {
            Some((batch, _)) => batch.keys(store, prefix),
            None => self.kv.keys(store, prefix),
        }
    }

    pub(crate) fn set(
        &mut self,
        store: &str,
        key: &str,
        json: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<(), KvError> {
        self.batch()?.set(store, key, json, connection_id)
    }

    pub(crate) fn delete(
        &mut self,
        store: &str,
        key: &str,
        connection_id: Option<ConnectionId>,
    ) -> Result<bool, KvError> {
        self.batch()?.delete(store, key, connection_id)
    }

    /// Holds `payload` (charged against the queue limit, so errors surface
    /// now) until [`GroupCommit::release`] or the commit; gives it back if
    /// the client's queue has no room for it yet.
    pub(crate) fn send(
        &mut self,
        outbound: &Outbound,
        payload: Payload,
    ) -> Result<Option<Payload>, QueueError> {
        match outbound.try_reserve(payload.len_bytes())? {
            Some(reserved) => {
                self.hold_reserved(outbound, reserved, payload);
                Ok(None)
            }
            None => Ok(Some(payload)),
        }
    }

    /// Holds a frame whose bytes are already charged, as [`GroupCommit::send`].
    pub(crate) fn hold_reserved(
        &mut self,
        outbound: &Outbound,
        reserved: Reserved,
        payload: Payload,
    ) {
        self.held.push(Held::Send {
            outbound: outbound.clone(),
            reserved,
            payload,
        });
    }

    /// Holds a close, in order after the replies held before it.
    pub(crate) fn close(&mut self, outbound: &Outbound, request: CloseRequest) {
        self.held.push(Held::Close {
            outbound: outbound.clone(),
            request,
        });
    }

    /// Lets held replies and closes go, unless they wait for a commit.
    pub(crate) fn release(&mut self) {
        if self.batch.is_none() {
            for effect in self.held.drain(..) {
                release(effect);
            }
        }
    }

    /// Answers a handshake, or holds the answer until the pending writes
    /// commit.
    pub(crate) fn verdict(
        &mut self,
        connection_id: ConnectionId,
        reply: oneshot::Sender<ConnectVerdict>,
        verdict: ConnectVerdict,
    ) {
        if self.batch.is_none() {
            let _ = reply.send(verdict);
        } else {
            self.held.push(Held::Verdict {
                connection_id,
                reply,
                verdict,
            });
        }
    }

    /// Commits the open batch (if any) and releases what waited for it. On
    /// failure the writes are gone, so what depended on them does not go
    /// out as if they had succeeded: accepted handshakes fail (HTTP 500)
    /// and connections with held replies close with 1011.
    pub(crate) fn commit(&mut self) -> Result<usize, Box<CommitFailed>> {
        let Some((batch, _)) = self.batch.take() else {
            self.release();
            return Ok(0);
        };
        let writes = batch.len();
        let held = std::mem::take(&mut self.held);
        match batch.commit() {
            Ok(count) => {
                for effect in held {
                    release(effect);
                }
                Ok(count)
            }
            Err(error) => {
                let (refused_connections, closed_connections) = fail(held, &error);
                Err(Box::new(CommitFailed {
                    error,
                    writes,
                    refused_connections,
                    closed_connections,
                }))
            }
        }
    }
}

fn release(effect: Held) {
    match effect {
        Held::Send {
            outbound,
            reserved,
            payload,
        } => {
            // A connection that closed meanwhile just does not get it, as
            // if it had closed a moment before the send.
            let _ = outbound.send_reserved(reserved, payload);
        }
        Held::Close { outbound, request } => outbound.request_close(request),
        Held::Verdict { reply, verdict, .. } => {
            let _ = reply.send(verdict);
        }
    }
}

/// Fails what waited for a commit that failed; returns the refused
/// handshakes and how many connections were closed.
fn fail(held: Vec<Held>, error: &KvError) -> (Vec<ConnectionId>, usize) {
    let reason = "kv write failed; see the server log".to_owned();
    let mut refused = Vec::new();
    let mut closed = std::collections::HashSet::new();
    for effect in held {
        match effect {
            Held::Send {
                outbound, reserved, ..
            } => {
                outbound.unreserve(reserved);
                closed.insert(outbound.identity());
                outbound.request_close(CloseRequest {
                    code: close_code::INTERNAL_ERROR,
                    reason: reason.clone(),
                    by: ClosedBy::Server,
                });
            }
            Held::Close { outbound, request } => outbound.request_close(request),
            Held::Verdict {
                connection_id,
                reply,
                verdict,
            } => {
                let verdict = match verdict {
                    ConnectVerdict::Accept => {
                        refused.push(connection_id);
                        ConnectVerdict::Failed(ScriptFailure {
                            message: format!("the connect handler's kv writes failed: {error}"),
                            location: None,
                            stack: None,
                        })
                    }
                    other => other,
                };
                let _ = reply.send(verdict);
            }
        }
    }
    (refused, closed.len())
}
