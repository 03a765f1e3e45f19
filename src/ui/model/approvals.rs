//! The Intercept panel's decision history: how each held connection's wait
//! ended (accepted, denied, timed out, client left), newest first, bounded.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::core::events::{ApprovalResolution, ApprovalStage, ConnectionId, Event};
use crate::core::query::format_query;

/// Decisions kept.
pub const MAX_DECISIONS: usize = 200;

/// One held connection's end.
#[derive(Clone, Debug)]
pub struct ApprovalRecord {
    pub connection_id: ConnectionId,
    pub path: String,
    /// The query as the client sent it (`name=ann`).
    pub query: String,
    pub stage: ApprovalStage,
    pub resolution: ApprovalResolution,
    pub at: DateTime<Utc>,
}

/// The bounded history.
#[derive(Default)]
pub struct ApprovalHistory {
    records: VecDeque<ApprovalRecord>,
}

impl ApprovalHistory {
    /// Keeps each resolved approval.
    pub fn on_event(&mut self, event: &Event) {
        let Event::ApprovalResolved {
            pending,
            resolution,
            at,
        } = event
        else {
            return;
        };
        self.records.push_front(ApprovalRecord {
            connection_id: pending.connection_id,
            path: pending.path.clone(),
            query: format_query(&pending.query),
            stage: pending.stage,
            resolution: resolution.clone(),
            at: *at,
        });
        self.records.truncate(MAX_DECISIONS);
    }

    /// Newest first.
    pub fn records(&self) -> impl ExactSizeIterator<Item = &ApprovalRecord> {
        self.records.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::{ApprovalDecider, ApprovalOutcome, PendingApproval};

    fn resolved(path: &str, outcome: ApprovalOutcome, by: ApprovalDecider) -> Event {
        let now = Utc::now();
        Event::ApprovalResolved {
            pending: PendingApproval {
                connection_id: ConnectionId::new_v4(),
                remote_addr: "127.0.0.1:1".parse().expect("an address"),
                path: path.to_owned(),
                query: crate::core::query::parse_query("name=ann"),
                stage: ApprovalStage::BeforeConnectHandler,
                since: now,
                deadline: now,
            },
            resolution: ApprovalResolution { outcome, by },
            at: now,
        }
    }

    #[test]
    fn decisions_are_kept_newest_first_and_bounded() {
        let mut history = ApprovalHistory::default();
        history.on_event(&resolved(
            "/first",
            ApprovalOutcome::Accepted,
            ApprovalDecider::User,
        ));
        history.on_event(&resolved(
            "/second",
            ApprovalOutcome::Denied("no approval decision within 60 s".to_owned()),
            ApprovalDecider::Timeout,
        ));
        let records: Vec<_> = history.records().collect();
        assert_eq!(records[0].path, "/second");
        assert_eq!(records[0].query, "name=ann");
        assert_eq!(
            records[0].resolution.to_string(),
            "denied by timeout: no approval decision within 60 s"
        );
        assert_eq!(records[1].resolution.to_string(), "accepted by you");
        for _ in 0..MAX_DECISIONS {
            history.on_event(&resolved(
                "/more",
                ApprovalOutcome::ClientLeft,
                ApprovalDecider::Client,
            ));
        }
        assert_eq!(history.records().len(), MAX_DECISIONS);
        assert!(history.records().all(|record| record.path == "/more"));
    }
}
