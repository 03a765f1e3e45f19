//! Replays a session against a server and compares what comes back.
//!
//! Every recorded connection becomes a real websocket client on its own task.
//! Client actions (`connect`, `send`, a client `close`) happen either at the
//! recorded times divided by the speed, or — `fast` — in recorded order, each
//! as soon as the earlier actions are done and the messages its connection
//! received before it (in the recording) have arrived, or the step timeout
//! passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::compare::{IdMap, IgnoreRules, RuleError, Step, StepKind};
use super::diff::{Divergence, StepPair, find_divergences};
use super::format::{Frame, Session, SessionEvent};
use super::plan::{Action, ActionKind, ConnectionPlan, plan};

/// When client actions happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// At the recorded times, divided by the speed factor.
    Recorded,
    /// As soon as what was recorded before them has happened.
    Fast,
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// `ws://host:port` of the server; the session's paths are appended.
    pub url: String,
    /// When actions happen.
    pub timing: Timing,
    /// Playback speed for [`Timing::Recorded`] (2.0 = twice as fast).
    pub speed: f64,
    /// Longest wait for one expected step (a message, a close, a handshake).
    pub step_timeout: Duration,
}

impl ReplayOptions {
    /// Fast timing, speed 1, 2 s step timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timing: Timing::Fast,
            speed: 1.0,
            step_timeout: Duration::from_secs(2),
        }
    }
}

/// Progress of a running replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Actions performed plus messages received so far.
    pub steps_done: usize,
    /// Actions plus expected messages in the session.
    pub steps_total: usize,
}

/// One connection's expected and actual steps, for a side-by-side view.
#[derive(Clone, Debug)]
pub struct ConnectionReport {
    /// Label from the session file.
    pub label: String,
    /// Path and query the connection used.
    pub path_and_query: String,
    /// What the recording says it saw (times from the session start).
    pub expected: Vec<Step>,
    /// What the replay saw (times from the replay start).
    pub actual: Vec<Step>,
    /// The first difference, if any.
    pub divergence: Option<Divergence>,
}

/// The outcome of one replay.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// Every connection, in order of first appearance in the session.
    pub connections: Vec<ConnectionReport>,
    /// The earliest divergence (in recorded time) of any connection.
    pub divergence: Option<Divergence>,
    /// `send` plus `recv` lines in the session.
    pub messages: usize,
    /// Wall time of the replay.
    pub elapsed_ms: u64,
    /// Recorded connection id → id the replay server used, where learned.
    pub id_mappings: Vec<(String, String)>,
    /// Lost-update warnings the handlers raised meanwhile (a fresh embedded
    /// engine's only).
    pub lost_updates: Vec<String>,
    /// Handler failures meanwhile (a fresh embedded engine's only), first
    /// lines, as the log words them.
    pub handler_failures: Vec<String>,
}

impl ReplayReport {
    /// Whether nothing diverged.
    pub fn passed(&self) -> bool {
        self.divergence.is_none()
    }
}

/// Why a replay could not run (as opposed to running and mismatching).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An ignore rule in the header is unusable.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The server could not be reached.
    #[error("cannot reach {url}: {problem}")]
    Unreachable {
        /// The URL tried.
        url: String,
        problem: String,
    },
    /// A replay task failed.
    #[error("replay task failed: {0}")]
    Task(String),
}

/// How often the caller hears how far a replay got. Per step was too often:
/// a fast replay completes tens of thousands of steps a second.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// Messages one connection has received so far.
struct Arrivals {
    count: watch::Receiver<usize>,
    /// A wait for an expected message ran out. The replay has diverged
    /// then, and later waits on this connection return at once: a handler
    /// that stopped answering would otherwise cost a step timeout for every
    /// message left in the session (hours, for a long one).
    ran_dry: bool,
}

/// What all connection tasks share.
struct Shared {
    options: ReplayOptions,
    started_at: Instant,
    performed: watch::Sender<usize>,
    /// Steps done so far, read by the calling task every [`PROGRESS_EVERY`].
    steps_done: AtomicUsize,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started_at.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Waits until `action` may run.
    async fn wait_turn(&self, action: &Action, received: &mut Arrivals) {
        match self.options.timing {
            Timing::Recorded => {
                let speed = if self.options.speed > 0.0 {
                    self.options.speed
                } else {
                    1.0
                };
                let offset = Duration::from_secs_f64(action.t_ms as f64 / 1000.0 / speed);
                tokio::time::sleep_until(self.started_at + offset).await;
            }
            Timing::Fast => {
                // Checked first: often the turn has come already, and then
                // subscribing and arming a timeout are wasted work.
                if *self.performed.borrow() < action.sequence {
                    let mut performed = self.performed.subscribe();
                    let _ = performed
                        .wait_for(|&performed| performed >= action.sequence)
                        .await;
                }
                self.wait_received(received, action.recvs_before).await;
            }
        }
    }

    /// Waits (bounded by the step timeout) until `count` messages arrived.
    async fn wait_received(&self, received: &mut Arrivals, count: usize) {
        if *received.count.borrow() >= count || received.ran_dry {
            return;
        }
        let waited = tokio::time::timeout(
            self.options.step_timeout,
            received.count.wait_for(|&received| received >= count),
        )
        .await;
        if waited.is_err() {
            received.ran_dry = true;
        }
    }

    fn mark_performed(&self) {
        self.performed.send_modify(|performed| *performed += 1);
        self.steps_done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Replays `session` against `options.url` and compares the results.
/// `progress` is called from the calling task every [`PROGRESS_EVERY`]
/// while steps complete, and once more at the end.
pub async fn replay_session(
    session: &Session,
    options: &ReplayOptions,
    mut progress: impl FnMut(ReplayProgress) + Send,
) -> Result<ReplayReport, ReplayError> {
    let rules = IgnoreRules::compile(&session.header.ignore)?;
    let plans = plan(session);
    let steps_total = plans
        .iter()
        .map(|plan| 1 + plan.actions.len() + plan.expected_recvs())
        .sum();
    let started_at = Instant::now();
    let shared = Arc::new(Shared {
        options: options.clone(),
        started_at,
        performed: watch::Sender::new(0),
        steps_done: AtomicUsize::new(0),
    });

    let mut tasks = tokio::task::JoinSet::new();
    let mut expected_by_label = Vec::new();
    for (index, plan) in plans.into_iter().enumerate() {
        expected_by_label.push((
            plan.label.clone(),
            plan.path_and_query.clone(),
            plan.expected.clone(),
        ));
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { (index, run_connection(plan, shared).await) });
    }

    let mut actual: Vec<Vec<Step>> = vec![Vec::new(); expected_by_label.len()];
    let mut first_error = None;
    let mut steps_reported = 0;
    let mut report_progress = |steps_done: usize| {
        if steps_done != steps_reported {
            steps_reported = steps_done;
            progress(ReplayProgress {
                steps_done: steps_done.min(steps_total),
                steps_total,
            });
        }
    };
    let mut progress_tick = tokio::time::interval(PROGRESS_EVERY);
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = progress_tick.tick() => report_progress(shared.steps_done.load(Ordering::Relaxed)),
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((index, Ok(steps)))) => actual[index] = steps,
                Some(Ok((_, Err(error)))) => {
                    first_error.get_or_insert(error);
                }
                Some(Err(error)) => {
                    first_error.get_or_insert(ReplayError::Task(error.to_string()));
                }
            },
        }
    }
    report_progress(shared.steps_done.load(Ordering::Relaxed));
    if let Some(error) = first_error {
        return Err(error);
    }

    let recorded_ids = session.lines.iter().filter_map(|line| match &line.event {
        SessionEvent::Accepted { id } => id.clone(),
        _ => None,
    });
    let mut ids = IdMap::new(recorded_ids);
    let pairs: Vec<StepPair<'_>> = expected_by_label
        .iter()
        .zip(&actual)
        .map(|((label, _, expected), actual)| StepPair {
            label,
            expected,
            actual,
        })
        .collect();
    let (divergences, first) = find_divergences(&pairs, &rules, &mut ids);
    let divergence = first.and_then(|index| divergences[index].clone());
    let connections = expected_by_label
        .into_iter()
        .zip(actual)
        .zip(divergences)
        .map(
            |(((label, path_and_query, expected), actual), divergence)| ConnectionReport {
                label,
                path_and_query,
                expected,
                actual,
                divergence,
            },
        )
        .collect();
    Ok(ReplayReport {
        connections,
        divergence,
        messages: session.message_count(),
        elapsed_ms: u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        id_mappings: ids.mappings(),
        lost_updates: Vec::new(),
        handler_failures: Vec::new(),
    })
}

/// Runs one connection's actions; returns what it saw.
async fn run_connection(
    plan: ConnectionPlan,
    shared: Arc<Shared>,
) -> Result<Vec<Step>, ReplayError> {
    let steps = Arc::new(Mutex::new(Vec::new()));
    let (received_sender, count) = watch::channel(0usize);
    let mut received = Arrivals {
        count,
        ran_dry: false,
    };
    shared.wait_turn(&plan.connect, &mut received).await;

    let url = format!(
        "{}{}",
        shared.options.url.trim_end_matches('/'),
        plan.path_and_query
    );
    let unreachable = |problem: String| ReplayError::Unreachable {
        url: url.clone(),
        problem,
    };
    let connected = tokio::time::timeout(
        shared.options.step_timeout.max(Duration::from_secs(5)),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await;
    let websocket = match connected {
        Err(_) => return Err(unreachable("the handshake timed out".into())),
        Ok(Ok((websocket, _))) => {
            steps.lock().push(Step {
                t_ms: shared.now_ms(),
                kind: StepKind::Accepted,
            });
            Some(websocket)
        }
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            steps.lock().push(Step {
                t_ms: shared.now_ms(),
                kind: StepKind::Rejected(status),
            });
            None
        }
        Ok(Err(error)) => return Err(unreachable(error.to_string())),
    };
    shared.mark_performed();

    let Some(websocket) = websocket else {
        // Nothing to send on a refused connection; keep the order moving.
        for action in &plan.actions {
            shared.wait_turn(action, &mut received).await;
            shared.mark_performed();
        }
        return Ok(take(&steps));
    };

    let (mut sink, mut stream) = websocket.split();
    let client_closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let steps = Arc::clone(&steps);
        let shared = Arc::clone(&shared);
        let client_closed = Arc::clone(&client_closed);
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let kind = match message {
                    Message::Text(text) => StepKind::Recv(Frame::Text(text.as_str().to_owned())),
                    Message::Binary(bytes) => StepKind::Recv(Frame::Binary(bytes.to_vec())),
                    Message::Close(frame) => {
                        if !client_closed.load(std::sync::atomic::Ordering::SeqCst) {
                            let code = frame.map(|frame| u16::from(frame.code));
                            steps.lock().push(Step {
                                t_ms: shared.now_ms(),
                                kind: StepKind::Closed(code),
                            });
                        }
                        continue;
                    }
                    _ => continue,
                };
                steps.lock().push(Step {
                    t_ms: shared.now_ms(),
                    kind,
                });
                received_sender.send_modify(|count| *count += 1);
                shared.steps_done.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let mut closed = false;
    for action in &plan.actions {
        shared.wait_turn(action, &mut received).await;
        match &action.kind {
            ActionKind::Send(frame) => {
                let message = match frame {
                    Frame::Text(text) => Message::text(text.as_str()),
                    Frame::Binary(bytes) => Message::binary(bytes.clone()),
                };
                // A failed send shows up as a missing reply or a close.
                let _ = sink.send(message).await;
            }
            ActionKind::Close(code) => {
                // Messages recorded before the close must not be cut off.
                shared
                    .wait_received(&mut received, action.recvs_before)
                    .await;
                client_closed.store(true, std::sync::atomic::Ordering::SeqCst);
                let frame = code.map(|code| CloseFrame {
                    code: code.into(),
                    reason: "".into(),
                });
                let _ = sink.send(Message::Close(frame)).await;
                closed = true;
            }
        }
        shared.mark_performed();
    }
    if !closed {
        let expects_server_close = plan
            .expected
            .iter()
            .any(|step| matches!(step.kind, StepKind::Closed(_)));
        shared
            .wait_received(&mut received, plan.expected_recvs())
            .await;
        if !expects_server_close {
            client_closed.store(true, std::sync::atomic::Ordering::SeqCst);
            let frame = CloseFrame {
                code: crate::core::close_code::NORMAL.into(),
                reason: "replay finished".into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
    }
    // The reader ends when the server's close (or its reply to ours) arrives.
    let abort = reader.abort_handle();
    if tokio::time::timeout(shared.options.step_timeout, reader)
        .await
        .is_err()
    {
        abort.abort();
    }
    Ok(take(&steps))
}

fn take(steps: &Mutex<Vec<Step>>) -> Vec<Step> {
    std::mem::take(&mut *steps.lock())
}
