//! "Hold new connections": a breakpoint on connect. While holding, every
//! connection the connect chain accepted waits here for an explicit Accept
//! or Deny (from the UI or a command), or is denied after a timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::core::bus::EventBus;
use crate::core::events::{ApprovalDecision, PendingApproval};
use crate::core::events::{ConnectionId, Event};
use crate::core::query::Query;

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

struct Waiting {
    details: PendingApproval,
    decide: oneshot::Sender<ApprovalDecision>,
}

/// The approval gate.
pub struct Approvals {
    is_holding: AtomicBool,
    timeout_ms: AtomicU64,
    waiting: Mutex<HashMap<ConnectionId, Waiting>>,
}

/// Asked to decide on a connection that is not waiting.
#[derive(Debug, thiserror::Error)]
#[error("connection {0} is not waiting for approval (already decided or timed out)")]
pub struct NotWaiting(pub ConnectionId);

impl Approvals {
    /// A gate that is open (not holding); held connections time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            is_holding: AtomicBool::new(false),
            timeout_ms: AtomicU64::new(duration_ms(timeout)),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// How long a held connection waits before it is denied.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Acquire))
    }

    /// Changes the wait for connections held from now on.
    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms
            .store(duration_ms(timeout), Ordering::Release);
    }

    /// Whether new connections are held.
    pub fn is_holding(&self) -> bool {
        self.is_holding.load(Ordering::Acquire)
    }

    /// Starts or stops holding. Stopping lets every waiting connection in.
    pub fn set_holding(&self, hold: bool) {
        self.is_holding.store(hold, Ordering::Release);
        if !hold {
            let released: Vec<Waiting> = self
                .waiting
                .lock()
                .drain()
                .map(|(_, waiting)| waiting)
                .collect();
            for waiting in released {
                let _ = waiting.decide.send(ApprovalDecision::Accept);
            }
        }
    }

    /// Decides on a waiting connection.
    pub fn resolve(
        &self,
        connection_id: ConnectionId,
        decision: ApprovalDecision,
    ) -> Result<(), NotWaiting> {
        let waiting = self
            .waiting
            .lock()
            .remove(&connection_id)
            .ok_or(NotWaiting(connection_id))?;
        waiting
            .decide
            .send(decision)
            .map_err(|_| NotWaiting(connection_id))
    }

    /// Connections waiting now, oldest first.
    pub fn pending(&self) -> Vec<PendingApproval> {
        let mut pending: Vec<PendingApproval> = self
            .waiting
            .lock()
            .values()
            .map(|waiting| waiting.details.clone())
            .collect();
        pending.sort_by_key(|details| (details.since, details.connection_id));
        pending
    }

    /// Waits for a decision if holding; accepts at once otherwise.
    pub(crate) async fn decide(
        &self,
        bus: &EventBus,
        connection_id: ConnectionId,
        remote_addr: SocketAddr,
        path: &str,
        query: &Query,
    ) -> ApprovalDecision {
        if !self.is_holding() {
            return ApprovalDecision::Accept;
        }
        let (decide, decision) = oneshot::channel();
        let details = PendingApproval {
            connection_id,
            remote_addr,
            path: path.to_owned(),
            query: query.clone(),
            since: Utc::now(),
        };
        self.waiting.lock().insert(
            connection_id,
            Waiting {
                details: details.clone(),
                decide,
            },
        );
        bus.publish(Event::ApprovalPending { pending: details });
        let timeout = self.timeout();
        let decision = match tokio::time::timeout(timeout, decision).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(_)) => ApprovalDecision::Deny("approval withdrawn".to_owned()),
            Err(_) => {
                self.waiting.lock().remove(&connection_id);
                ApprovalDecision::Deny(format!(
                    "no approval decision within {} s",
                    timeout.as_secs_f32()
                ))
            }
        };
        bus.publish(Event::ApprovalResolved {
            connection_id,
            decision: decision.clone(),
            at: Utc::now(),
        });
        decision
    }
}
