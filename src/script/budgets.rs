//! The handlers' budgets: when a waiting chain counts as never settling,
//! what restarts its budget, and the failure it gets.

use std::time::Instant;

use super::answer::Outcome;
use super::races::InvocationId;
use super::runtime::{JsRuntime, never_settled};
use super::turns::{Finished, StepResult};
use crate::core::events::ScriptFailure;

impl JsRuntime {
    /// When the next waiting chain would be reported as never settling, at
    /// the earliest (asked on every loop of the script thread, so it is a
    /// bound kept as chains come and go, not a scan of every chain), or
    /// when sends waiting for room look again, if sooner.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let chains = self.deadline_floor.filter(|_| !self.pending.is_empty());
        let sends = self.host.borrow().parked.retry_at();
        chains.into_iter().chain(sends).min()
    }

    /// A chain whose send waits on a client that reads is waiting on the
    /// network, not on something that never comes: its budget starts again.
    pub(super) fn extend_progressing(&mut self) {
        if self.progressing.is_empty() {
            return;
        }
        let deadline = Instant::now() + self.handler_timeout;
        for invocation in self.progressing.drain(..) {
            if let Some(pending) = self.pending.get_mut(&invocation) {
                pending.deadline = deadline;
            }
        }
    }

    /// Chains that waited past their budget on something that never came.
    pub(super) fn expire(&mut self, out: &mut StepResult) {
        let now = Instant::now();
        if self.deadline_floor.is_none_or(|floor| floor > now) {
            return;
        }
        let expired: Vec<InvocationId> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(invocation, _)| *invocation)
            .collect();
        self.deadline_floor = self
            .pending
            .values()
            .map(|pending| pending.deadline)
            .filter(|deadline| *deadline > now)
            .min();
        for invocation in expired {
            if let Some(pending) = self.pending.remove(&invocation) {
                self.host.borrow_mut().races.end(invocation);
                out.finished.push(Finished {
                    connection_id: pending.connection_id,
                    kind: pending.kind,
                    outcome: Outcome::Failed(ScriptFailure {
                        message: never_settled().to_owned(),
                        location: None,
                        stack: None,
                    }),
                });
            }
        }
    }

    pub(super) fn is_over_budget(&self) -> bool {
        self.deadline
            .get()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    pub(super) fn budget_failure(&self) -> ScriptFailure {
        ScriptFailure {
            message: self.over_budget(),
            location: None,
            stack: None,
        }
    }
}
