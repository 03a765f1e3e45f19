//! The embedded lane: a dedicated thread that owns a QuickJS runtime with an
//! emulation of `@nitric/sdk`, and runs the handler chains turn by turn (as
//! Node would: interleaved at each `await`), fed through a bounded job queue. [`EmbeddedRuntime`] puts it behind the
//! engine's [`crate::runtime::HandlerRuntime`] seam.

mod answer;
mod budgets;
pub mod bundled;
mod deferred;
mod exports;
mod failure;
mod group_commit;
mod host;
mod host_api;
mod host_kv;
mod job_loop;
mod job_wait;
mod lane;
mod load;
mod load_failure;
mod modules;
mod parked_sends;
mod races;
mod runtime;
mod scheduler;
#[cfg(test)]
mod sdk_invariants;
#[cfg(test)]
mod thread_tests;
mod topic_queue;
mod topics;
#[cfg(test)]
mod turn_tests;
mod turns;
mod watch;

pub use host::Gateway;
pub use lane::{EmbeddedLauncher, EmbeddedRuntime, ScriptConfig, script_module_name};

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::core::bus::EventBus;
use crate::core::events::{ConnectionId, Event, HandlerKind, LogLevel, Payload, ScriptFailure};
use crate::core::query::Query;
use crate::kv::KvStore;
use crate::runtime::{ConnectVerdict, ConnectionDirectory};
use answer::Outcome;
use host::HostState;
use job_wait::{JobWait, Waiting};
use modules::ServiceSource;
use runtime::JsRuntime;
use scheduler::{EventJob, Scheduler};
use topic_queue::TopicQueue;
use turns::{StepResult, TurnOrder};

/// Jobs waiting for the script thread before readers feel back-pressure.
const JOB_QUEUE_CAPACITY: usize = 4096;

/// Events taken off the job queue but not started yet, at most: past this
/// the queue fills and readers feel back-pressure again.
const MAX_WAITING_EVENTS: usize = 4096;

/// Steps whose replies are held back and then woken together while work
/// keeps coming: each connection's event waits for its calls' turn, so one
/// step holds at most one reply per connection, and a wake-up per reply
/// doubled the socket threads' work.
const STEPS_PER_RELEASE: u32 = 16;

/// ... but a reply waits no longer than this for the steps after it (under
/// load a step of 50 connections takes about half a millisecond).
const MAX_REPLY_HOLD: Duration = Duration::from_millis(2);

/// The script thread's stack: QuickJS's recursion guard plus headroom.
const THREAD_STACK_BYTES: usize = runtime::JS_STACK_BYTES + 12 * 1024 * 1024;

enum ScriptJob {
    Connect {
        connection_id: ConnectionId,
        /// The socket (listener) the client connected to.
        socket: Arc<str>,
        query: Query,
        reply: oneshot::Sender<ConnectVerdict>,
    },
    Message {
        connection_id: ConnectionId,
        payload: Payload,
    },
    Disconnect {
        connection_id: ConnectionId,
    },
    Load {
        services: Vec<ServiceSource>,
        reply: oneshot::Sender<Result<ScriptLoaded, ScriptFailure>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
    /// A delayed topic message is due.
    Wake,
}

/// Settings of the script thread.
pub(crate) struct ScriptSettings {
    /// Time one handler chain may run.
    pub handler_timeout: Duration,
    pub memory_limit_bytes: usize,
    /// `ws://host:port`, returned by `socket.url()`.
    pub url: String,
    /// The server's upgraded connections: what `socket.send` can reach.
    pub directory: Arc<dyn ConnectionDirectory>,
    pub gateway: Gateway,
    /// The order in which a turn's calls settle.
    pub order: TurnOrder,
    /// `--low-cpu`: the sockets run on the script thread.
    pub shares_thread_with_sockets: bool,
}

/// Errors starting the script thread.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScriptStartError {
    #[error("cannot start the script thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot start the JavaScript runtime: {0}")]
    Runtime(ScriptFailure),
}

/// Async handle to the script thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct ScriptHost {
    jobs: mpsc::Sender<ScriptJob>,
    sockets_runtime: Option<tokio::runtime::Handle>,
}

fn engine_stopped() -> ScriptFailure {
    ScriptFailure {
        message: "the script engine has stopped".to_owned(),
        location: None,
        stack: None,
    }
}

impl ScriptHost {
    /// Starts the script thread with no script loaded (every connection is
    /// accepted until [`ScriptHost::load`] succeeds).
    pub fn start(
        settings: ScriptSettings,
        kv: KvStore,
        bus: EventBus,
    ) -> Result<Self, ScriptStartError> {
        let (jobs, receiver) = mpsc::channel(JOB_QUEUE_CAPACITY);
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let server_runtime = tokio::runtime::Handle::try_current().ok();
        let weak_jobs = jobs.downgrade();
        std::thread::Builder::new()
            .name("sockscope-script".to_owned())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                run_thread(
                    settings,
                    kv,
                    bus,
                    receiver,
                    weak_jobs,
                    server_runtime,
                    ready_sender,
                );
            })
            .map_err(ScriptStartError::Thread)?;
        match ready.recv() {
            Ok(Ok(sockets_runtime)) => Ok(Self {
                jobs,
                sockets_runtime,
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ScriptStartError::Runtime(engine_stopped())),
        }
    }

    /// The runtime the engine must run the sockets on when they share the
    /// script thread (`--low-cpu`); `None` when the script has a thread of
    /// its own.
    pub fn sockets_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.sockets_runtime.clone()
    }

    /// Runs the connect chain for a client that wants to upgrade. The
    /// connection becomes reachable by `socket.send` once the server has
    /// upgraded it (as under `nitric start`), not when the chain accepts.
    pub async fn connect(
        &self,
        connection_id: ConnectionId,
        socket: Arc<str>,
        query: Query,
    ) -> ConnectVerdict {
        let (reply, verdict) = oneshot::channel();
        let job = ScriptJob::Connect {
            connection_id,
            socket,
            query,
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            return ConnectVerdict::Failed(engine_stopped());
        }
        verdict
            .await
            .unwrap_or_else(|_| ConnectVerdict::Failed(engine_stopped()))
    }

    /// Queues a message for the message chain; waits only when the queue is
    /// full (back-pressure to the reading socket).
    pub async fn message(&self, connection_id: ConnectionId, payload: Payload) {
        let _ = self
            .jobs
            .send(ScriptJob::Message {
                connection_id,
                payload,
            })
            .await;
    }

    /// Runs the disconnect chain and forgets the connection.
    pub async fn disconnect(&self, connection_id: ConnectionId) {
        let _ = self
            .jobs
            .send(ScriptJob::Disconnect { connection_id })
            .await;
    }

    /// Loads a new version of the service files (each with its text, the
    /// editor's buffer or the file's) and the modules they import; the old
    /// version keeps running if this fails. Its warnings are logged.
    pub(crate) async fn load(
        &self,
        services: Vec<ServiceSource>,
    ) -> Result<ScriptLoaded, ScriptFailure> {
        let (reply, result) = oneshot::channel();
        if self
            .jobs
            .send(ScriptJob::Load { services, reply })
            .await
            .is_err()
        {
            return Err(engine_stopped());
        }
        result.await.unwrap_or_else(|_| Err(engine_stopped()))
    }

    /// Runs every job queued so far (disconnect handlers included), then
    /// stops the thread and frees the runtime. Later calls do nothing.
    pub async fn stop(&self) {
        let (reply, stopped) = oneshot::channel();
        if self.jobs.send(ScriptJob::Stop { reply }).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

/// What the script thread tells [`ScriptHost::start`]: the runtime for the
/// sockets when they share the thread, or why it could not start.
type ThreadStarted = Result<Option<tokio::runtime::Handle>, ScriptStartError>;

/// The script thread: its runtimes, then the job loop until a stop.
fn run_thread(
    settings: ScriptSettings,
    kv: KvStore,
    bus: EventBus,
    receiver: mpsc::Receiver<ScriptJob>,
    weak_jobs: mpsc::WeakSender<ScriptJob>,
    server_runtime: Option<tokio::runtime::Handle>,
    ready_sender: std::sync::mpsc::Sender<ThreadStarted>,
) {
    let sockets = if settings.shares_thread_with_sockets {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(sockets) => Some(sockets),
            Err(error) => {
                let _ = ready_sender.send(Err(ScriptStartError::Thread(error)));
                return;
            }
        }
    } else {
        None
    };
    let sockets_handle = sockets.as_ref().map(|sockets| sockets.handle().clone());
    let timer = sockets_handle.clone().or(server_runtime);
    let host = Rc::new(RefCell::new(HostState::new(
        kv,
        bus.clone(),
        settings.url,
        settings.directory,
        settings.gateway,
        settings.memory_limit_bytes,
    )));
    host.borrow_mut().topics = TopicQueue::new(timer.map(|timer| wake_after((timer, weak_jobs))));
    let runtime = match JsRuntime::new(
        host.clone(),
        settings.memory_limit_bytes,
        settings.handler_timeout,
    ) {
        Ok(runtime) => runtime,
        Err(failure) => {
            let _ = ready_sender.send(Err(ScriptStartError::Runtime(failure)));
            return;
        }
    };
    let _ = ready_sender.send(Ok(sockets_handle));
    let order = settings.order;
    // The stop request is answered (dropped) once the JavaScript
    // runtime, and the sockets' runtime with it, are gone.
    let _stopped = match sockets {
        Some(sockets) => {
            let stopped = sockets.block_on(job_loop::run_jobs(
                runtime,
                host,
                bus,
                receiver,
                order,
                Waiting::Shared,
            ));
            drop(sockets);
            stopped
        }
        None => job_wait::run_on_own_thread(job_loop::run_jobs(
            runtime,
            host,
            bus,
            receiver,
            order,
            Waiting::Own(JobWait::default()),
        )),
    };
}

/// A script that loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptLoaded {
    /// `websocket(name)` names, in declaration order.
    pub sockets: Vec<String>,
    /// The project's files it is made of (the entry and what it imports,
    /// not packages): what a change to reloads it.
    pub files: Vec<PathBuf>,
}

/// A job that waits until every event queued before it has run.
enum Control {
    Load {
        services: Vec<ServiceSource>,
        reply: oneshot::Sender<Result<ScriptLoaded, ScriptFailure>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// Hands an event job to the scheduler; a control job is returned.
fn accept(job: ScriptJob, scheduler: &mut Scheduler) -> Option<Control> {
    match job {
        ScriptJob::Connect {
            connection_id,
            socket,
            query,
            reply,
        } => scheduler.submit(
            connection_id,
            EventJob::Connect {
                socket,
                query,
                reply,
            },
        ),
        ScriptJob::Message {
            connection_id,
            payload,
        } => scheduler.submit(connection_id, EventJob::Message { payload }),
        ScriptJob::Disconnect { connection_id } => {
            scheduler.submit(connection_id, EventJob::Disconnect);
        }
        ScriptJob::Load { services, reply } => {
            return Some(Control::Load { services, reply });
        }
        ScriptJob::Stop { reply } => return Some(Control::Stop { reply }),
        ScriptJob::Wake => {}
    }
    None
}

/// Wakes the script thread after a delay with a timer on the server's
/// runtime. The timer holds no sender while it sleeps, so it keeps no
/// stopped lane alive.
fn wake_after(
    (runtime, jobs): (tokio::runtime::Handle, mpsc::WeakSender<ScriptJob>),
) -> topic_queue::WakeAfter {
    Box::new(move |delay| {
        let jobs = jobs.clone();
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(jobs) = jobs.upgrade() {
                let _ = jobs.send(ScriptJob::Wake).await;
            }
        });
    })
}

/// Answers and reports what a step finished.
fn deliver(
    step: &mut StepResult,
    scheduler: &mut Scheduler,
    host: &Rc<RefCell<HostState>>,
    bus: &EventBus,
) {
    let report = |connection_id: Option<ConnectionId>,
                  handler: Option<HandlerKind>,
                  failure: ScriptFailure| {
        bus.publish(Event::ScriptError {
            connection_id,
            handler,
            failure,
            at: Utc::now(),
        });
    };
    for stray in step.reports.drain(..) {
        report(stray.connection_id, stray.handler, stray.failure);
    }
    for finished in step.finished.drain(..) {
        let connection_id = finished.connection_id;
        let running = scheduler.finished(connection_id);
        match finished.kind {
            HandlerKind::Connect => {
                let verdict = match finished.outcome {
                    Outcome::Handled(true) => ConnectVerdict::Accept,
                    Outcome::Handled(false) => ConnectVerdict::Deny,
                    Outcome::Unhandled => ConnectVerdict::Unavailable(
                        "the script registers no connect handler for this socket (nitric start answers HTTP 200 without upgrading)".to_owned(),
                    ),
                    Outcome::Failed(failure) => {
                        report(Some(connection_id), Some(HandlerKind::Connect), failure.clone());
                        ConnectVerdict::Failed(failure)
                    }
                };
                if verdict != ConnectVerdict::Accept {
                    // A refused connection gets no disconnect that would forget it.
                    scheduler.forget(connection_id);
                }
                if let Some(reply) = running.and_then(|running| running.reply) {
                    host.borrow_mut()
                        .group
                        .verdict(connection_id, reply, verdict);
                }
            }
            kind => {
                if let Outcome::Failed(failure) = finished.outcome {
                    report(Some(connection_id), Some(kind), failure);
                }
                if kind == HandlerKind::Disconnect {
                    host.borrow_mut().outbound.remove(&connection_id);
                    scheduler.forget(connection_id);
                }
            }
        }
    }
}

/// Commits the pending kv writes and releases what waited for them; a
/// failure is logged in words and the connections it affected are told.
fn commit(host: &Rc<RefCell<HostState>>) {
    let result = host.borrow_mut().group.commit();
    if let Err(failed) = result {
        let mut state = host.borrow_mut();
        for connection_id in &failed.refused_connections {
            state.outbound.remove(connection_id);
        }
        state.log(
            LogLevel::Error,
            format!(
                "{} ({} write(s)); {} handshake(s) answered 500, {} connection(s) with replies waiting for it closed with 1011",
                failed.error,
                failed.writes,
                failed.refused_connections.len(),
                failed.closed_connections
            ),
        );
    }
}
