//! "Hold new connections": a breakpoint on connect. While holding, every
//! new connection waits here — before its connect handler runs (the
//! default), or after the handler accepted it — for an explicit Accept or
//! Deny (from the UI or a command), or is denied after a timeout. A client
//! that leaves while it waits is resolved as "client left".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::core::bus::EventBus;
use crate::core::events::{
    ApprovalDecider, ApprovalDecision, ApprovalOutcome, ApprovalResolution, ApprovalStage,
    ConnectionId, Event, PendingApproval,
};
use crate::core::query::Query;

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

struct Waiting {
    details: PendingApproval,
    decide: oneshot::Sender<(ApprovalDecision, ApprovalDecider)>,
}

/// The approval gate.
pub struct Approvals {
    is_holding: AtomicBool,
    is_after_handler: AtomicBool,
    timeout_ms: AtomicU64,
    waiting: Mutex<HashMap<ConnectionId, Waiting>>,
}

/// Asked to decide on a connection that is not waiting.
#[derive(Debug, thiserror::Error)]
#[error("connection {0} is not waiting for approval (already decided, timed out or left)")]
pub struct NotWaiting(pub ConnectionId);

/// A connection about to wait, as the handshake knows it.
pub(crate) struct ApprovalRequest<'a> {
    pub connection_id: ConnectionId,
    pub remote_addr: SocketAddr,
    pub path: &'a str,
    pub query: &'a Query,
    pub stage: ApprovalStage,
}

impl Approvals {
    /// A gate that is open (not holding, holding before the connect handler
    /// once it holds); held connections time out after `timeout`.
    pub fn new(timeout: Duration, stage: ApprovalStage) -> Self {
        let approvals = Self {
            is_holding: AtomicBool::new(false),
            is_after_handler: AtomicBool::new(false),
            timeout_ms: AtomicU64::new(duration_ms(timeout)),
            waiting: Mutex::new(HashMap::new()),
        };
        approvals.set_stage(stage);
        approvals
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

    /// Where new connections are held: before or after their connect handler.
    pub fn stage(&self) -> ApprovalStage {
        if self.is_after_handler.load(Ordering::Acquire) {
            ApprovalStage::AfterConnectHandler
        } else {
            ApprovalStage::BeforeConnectHandler
        }
    }

    /// Changes where connections arriving from now on are held.
    pub fn set_stage(&self, stage: ApprovalStage) {
        self.is_after_handler.store(
            stage == ApprovalStage::AfterConnectHandler,
            Ordering::Release,
        );
    }

    /// Whether new connections are held.
    pub fn is_holding(&self) -> bool {
        self.is_holding.load(Ordering::Acquire)
    }

    /// Starts or stops holding. Stopping lets every waiting connection in.
    pub fn set_holding(&self, hold: bool) {
        self.is_holding.store(hold, Ordering::Release);
        if !hold {
            self.release_all(ApprovalDecider::HoldingOff);
        }
    }

    /// Lets every waiting connection in ("Accept all").
    pub fn accept_all(&self) {
        self.release_all(ApprovalDecider::AcceptAll);
    }

    fn release_all(&self, by: ApprovalDecider) {
        let released: Vec<Waiting> = self
            .waiting
            .lock()
            .drain()
            .map(|(_, waiting)| waiting)
            .collect();
        for waiting in released {
            let _ = waiting.decide.send((ApprovalDecision::Accept, by));
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
            .send((decision, ApprovalDecider::User))
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

    /// Waits for a decision if holding; accepts at once otherwise. When the
    /// caller stops waiting (hyper drops the request's future because its
    /// client closed the TCP connection), the wait ends as "client left".
    pub(crate) async fn decide(
        &self,
        bus: &EventBus,
        request: ApprovalRequest<'_>,
    ) -> ApprovalDecision {
        if !self.is_holding() {
            return ApprovalDecision::Accept;
        }
        let (decide, decision) = oneshot::channel();
        let timeout = self.timeout();
        let since = Utc::now();
        let details = PendingApproval {
            connection_id: request.connection_id,
            remote_addr: request.remote_addr,
            path: request.path.to_owned(),
            query: request.query.clone(),
            stage: request.stage,
            since,
            deadline: since + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX),
        };
        self.waiting.lock().insert(
            request.connection_id,
            Waiting {
                details: details.clone(),
                decide,
            },
        );
        bus.publish(Event::ApprovalPending {
            pending: details.clone(),
        });
        let mut report = Report {
            approvals: self,
            bus,
            pending: Some(details),
        };
        let (decision, by) = match tokio::time::timeout(timeout, decision).await {
            Ok(Ok(decided)) => decided,
            Ok(Err(_)) => (
                ApprovalDecision::Deny("approval withdrawn".to_owned()),
                ApprovalDecider::HoldingOff,
            ),
            Err(_) => {
                self.waiting.lock().remove(&request.connection_id);
                (
                    ApprovalDecision::Deny(format!(
                        "no approval decision within {} s",
                        timeout.as_secs_f32()
                    )),
                    ApprovalDecider::Timeout,
                )
            }
        };
        let outcome = match &decision {
            ApprovalDecision::Accept => ApprovalOutcome::Accepted,
            ApprovalDecision::Deny(reason) => ApprovalOutcome::Denied(reason.clone()),
        };
        report.resolved(ApprovalResolution { outcome, by });
        decision
    }
}

/// Reports a wait's end exactly once: as decided, or — when the wait is
/// dropped undecided — as "client left", taking it off the pending list.
struct Report<'a> {
    approvals: &'a Approvals,
    bus: &'a EventBus,
    pending: Option<PendingApproval>,
}

impl Report<'_> {
    fn resolved(&mut self, resolution: ApprovalResolution) {
        if let Some(pending) = self.pending.take() {
            self.bus.publish(Event::ApprovalResolved {
                pending,
                resolution,
                at: Utc::now(),
            });
        }
    }
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        if let Some(pending) = &self.pending {
            self.approvals.waiting.lock().remove(&pending.connection_id);
            self.resolved(ApprovalResolution {
                outcome: ApprovalOutcome::ClientLeft,
                by: ApprovalDecider::Client,
            });
        }
    }
}
