//! The script thread's loop: takes jobs, runs the turns they start, and
//! releases the replies and kv writes they made.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::host::HostState;
use super::job_wait::{Waited, Waiting};
use super::runtime::JsRuntime;
use super::scheduler::Scheduler;
use super::turns::{StepResult, TurnOrder};
use super::{
    Control, MAX_REPLY_HOLD, MAX_WAITING_EVENTS, STEPS_PER_RELEASE, ScriptJob, ScriptLoaded,
    accept, commit, deliver,
};
use crate::core::bus::EventBus;

/// Runs jobs until a stop request (returned, so it is answered after the
/// runtime was dropped) or until every sender is gone.
pub(super) async fn run_jobs(
    mut runtime: JsRuntime,
    host: Rc<RefCell<HostState>>,
    bus: EventBus,
    mut jobs: mpsc::Receiver<ScriptJob>,
    mut order: TurnOrder,
    mut waiting: Waiting,
) -> Option<oneshot::Sender<()>> {
    let mut scheduler = Scheduler::default();
    let mut starts = Vec::new();
    let mut step = StepResult::default();
    let mut control: Option<Control> = None;
    let mut closed = false;
    let mut steps_held = 0;
    let mut held: Option<Instant> = None;
    loop {
        while control.is_none() && !closed && scheduler.waiting_events() < MAX_WAITING_EVENTS {
            match jobs.try_recv() {
                Ok(job) => control = accept(job, &mut scheduler),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        scheduler.take_starts(&mut starts);
        let overdue = runtime
            .next_deadline()
            .is_some_and(|deadline| deadline <= Instant::now());
        let topics_due = runtime.has_due_topics();
        if !starts.is_empty() || runtime.has_deferred() || overdue || topics_due {
            runtime.step(&mut starts, &mut order, &mut step);
            deliver(&mut step, &mut scheduler, &host, &bus);
        }
        let busy = scheduler.has_ready() || runtime.has_deferred() || runtime.has_due_topics();
        if busy {
            let held_since = *held.get_or_insert_with(Instant::now);
            steps_held += 1;
            let is_due = host.borrow().group.is_due();
            if is_due {
                commit(&host);
                (steps_held, held) = (0, None);
            } else if steps_held >= STEPS_PER_RELEASE || held_since.elapsed() >= MAX_REPLY_HOLD {
                // A connection's replies of several steps leave in one write.
                host.borrow_mut().group.release();
                (steps_held, held) = (0, None);
            }
            waiting.between_steps().await;
            continue;
        }
        (steps_held, held) = (0, None);
        // Nothing can run before a job comes: what waited for the writes
        // may go.
        commit(&host);
        let quiet = scheduler.is_quiet() && !runtime.has_pending();
        match control.take() {
            Some(Control::Load { services, reply }) if quiet => {
                let result = runtime.load(&services).map(|report| {
                    for warning in report.warnings {
                        runtime.warn(warning);
                    }
                    ScriptLoaded {
                        sockets: report.sockets,
                        files: report.files,
                    }
                });
                let _ = reply.send(result);
                continue;
            }
            Some(Control::Stop { reply }) if quiet => {
                jobs.close();
                drop(runtime);
                return Some(reply);
            }
            waiting => control = waiting,
        }
        if let Some(deadline) = runtime.next_deadline() {
            // A chain waits for something no turn will bring (another
            // connection's event, or nothing): look for jobs until it is
            // overdue.
            if control.is_none() && !closed {
                match waiting.until(&mut jobs, deadline).await {
                    Waited::Job(job) => control = accept(job, &mut scheduler),
                    Waited::Closed => closed = true,
                    Waited::Deadline => {}
                }
            } else {
                waiting.sleep_until(deadline).await;
            }
            continue;
        }
        if control.is_some() {
            waiting.between_steps().await;
            continue;
        }
        if closed {
            break;
        }
        match waiting.next(&mut jobs).await {
            Some(job) => control = accept(job, &mut scheduler),
            None => closed = true,
        }
    }
    commit(&host);
    None
}
