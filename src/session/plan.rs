//! Turns a session into per-connection plans: the client actions to
//! perform (in recorded order) and the steps each connection should see.

use super::compare::{Step, StepKind};
use super::format::{Frame, Session, SessionEvent};
use crate::core::events::ClosedBy;
use crate::core::query::path_and_query;

/// A client action with its place in the recorded order.
pub(super) struct Action {
    /// Position among all client actions of the session.
    pub(super) sequence: usize,
    pub(super) t_ms: u64,
    /// Messages this connection received before the action, in the recording.
    pub(super) recvs_before: usize,
    pub(super) kind: ActionKind,
}

pub(super) enum ActionKind {
    Send(Frame),
    Close(Option<u16>),
}

pub(super) struct ConnectionPlan {
    pub(super) label: String,
    pub(super) path_and_query: String,
    pub(super) connect: Action,
    pub(super) actions: Vec<Action>,
    pub(super) expected: Vec<Step>,
}

impl ConnectionPlan {
    pub(super) fn expected_recvs(&self) -> usize {
        self.expected
            .iter()
            .filter(|step| matches!(step.kind, StepKind::Recv(_)))
            .count()
    }
}

pub(super) fn plan(session: &Session) -> Vec<ConnectionPlan> {
    let mut plans: Vec<ConnectionPlan> = Vec::new();
    let mut sequence = 0;
    for line in &session.lines {
        let index = match plans.iter().position(|plan| plan.label == line.conn) {
            Some(index) => index,
            None => {
                let SessionEvent::Connect { path, query } = &line.event else {
                    // The reader guarantees a connect first; skip otherwise.
                    continue;
                };
                plans.push(ConnectionPlan {
                    label: line.conn.clone(),
                    path_and_query: path_and_query(path, query),
                    connect: Action {
                        sequence,
                        t_ms: line.t,
                        recvs_before: 0,
                        kind: ActionKind::Close(None),
                    },
                    actions: Vec::new(),
                    expected: Vec::new(),
                });
                sequence += 1;
                continue;
            }
        };
        let plan = &mut plans[index];
        let recvs_before = plan.expected_recvs();
        let step = |kind| Step { t_ms: line.t, kind };
        let mut push_action = |kind| {
            plan.actions.push(Action {
                sequence,
                t_ms: line.t,
                recvs_before,
                kind,
            });
            sequence += 1;
        };
        match &line.event {
            SessionEvent::Connect { .. } => {}
            SessionEvent::Send(frame) => push_action(ActionKind::Send(frame.clone())),
            // The UI's close cannot be repeated from outside: the client closes instead.
            SessionEvent::Close {
                code,
                by: ClosedBy::Client | ClosedBy::User,
            } => push_action(ActionKind::Close(*code)),
            SessionEvent::Close { code, .. } => plan.expected.push(step(StepKind::Closed(*code))),
            SessionEvent::Accepted { .. } => plan.expected.push(step(StepKind::Accepted)),
            SessionEvent::Rejected { status } => {
                plan.expected.push(step(StepKind::Rejected(*status)))
            }
            SessionEvent::Recv(frame) => plan.expected.push(step(StepKind::Recv(frame.clone()))),
        }
    }
    plans
}
