//! The embedded lane: a dedicated thread that owns a QuickJS runtime with an
//! emulation of `@nitric/sdk`, and runs the handler chains one at a time, fed
//! through a bounded job queue. [`EmbeddedRuntime`] puts it behind the
//! engine's [`crate::runtime::HandlerRuntime`] seam.

pub mod bundled;
mod failure;
mod group_commit;
mod host;
mod host_api;
mod job_wait;
mod lane;
mod loader;
mod runtime;
#[cfg(test)]
mod sdk_invariants;
mod watch;

pub use lane::{EmbeddedLauncher, EmbeddedRuntime, ScriptConfig, script_module_name};

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::core::bus::EventBus;
use crate::core::events::{ConnectionId, Event, HandlerKind, LogLevel, Payload, ScriptFailure};
use crate::core::outbound::Outbound;
use crate::core::query::Query;
use crate::kv::KvStore;
use crate::runtime::ConnectVerdict;
use host::HostState;
use job_wait::JobWait;
use runtime::JsRuntime;

/// Jobs waiting for the script thread before readers feel back-pressure.
const JOB_QUEUE_CAPACITY: usize = 4096;

/// Most queued messages run in one entry into the JavaScript context.
const MESSAGE_BATCH: usize = 64;

/// The script thread's stack: QuickJS's recursion guard plus headroom.
const THREAD_STACK_BYTES: usize = runtime::JS_STACK_BYTES + 12 * 1024 * 1024;

enum ScriptJob {
    Connect {
        connection_id: ConnectionId,
        query: Query,
        outbound: Outbound,
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
        name: String,
        source: String,
        reply: oneshot::Sender<Result<Vec<String>, ScriptFailure>>, // the sockets
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// Settings of the script thread.
pub(crate) struct ScriptSettings {
    /// Time one handler chain may run.
    pub handler_timeout: Duration,
    pub memory_limit_bytes: usize,
    /// `ws://host:port`, returned by `socket.url()`.
    pub url: String,
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
        std::thread::Builder::new()
            .name("sockscope-script".to_owned())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                let host = Rc::new(RefCell::new(HostState::new(kv, bus.clone(), settings.url)));
                match JsRuntime::new(
                    host.clone(),
                    settings.memory_limit_bytes,
                    settings.handler_timeout,
                ) {
                    Ok(runtime) => {
                        let _ = ready_sender.send(Ok(()));
                        run_jobs(runtime, host, bus, receiver);
                    }
                    Err(failure) => {
                        let _ = ready_sender.send(Err(failure));
                    }
                }
            })
            .map_err(ScriptStartError::Thread)?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self { jobs }),
            Ok(Err(failure)) => Err(ScriptStartError::Runtime(failure)),
            Err(_) => Err(ScriptStartError::Runtime(engine_stopped())),
        }
    }

    /// Runs the connect chain for a client that wants to upgrade. If it
    /// accepts, `outbound` becomes reachable by `socket.send` at once: frames
    /// sent before the upgrade completes are written right after it.
    pub async fn connect(
        &self,
        connection_id: ConnectionId,
        query: Query,
        outbound: Outbound,
    ) -> ConnectVerdict {
        let (reply, verdict) = oneshot::channel();
        let job = ScriptJob::Connect {
            connection_id,
            query,
            outbound,
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

    /// Loads a new script version; the old one keeps running if this fails.
    /// Returns the sockets it declares (its warnings are logged).
    pub async fn load(&self, name: String, source: String) -> Result<Vec<String>, ScriptFailure> {
        let (reply, result) = oneshot::channel();
        if self
            .jobs
            .send(ScriptJob::Load {
                name,
                source,
                reply,
            })
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

/// Runs jobs until a stop request (returned, so it is answered after the
/// runtime was dropped) or until every sender is gone.
fn run_jobs(
    mut runtime: JsRuntime,
    host: Rc<RefCell<HostState>>,
    bus: EventBus,
    mut jobs: mpsc::Receiver<ScriptJob>,
) -> Option<oneshot::Sender<()>> {
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
    let mut messages: Vec<(ConnectionId, Payload)> = Vec::with_capacity(MESSAGE_BATCH);
    let mut held: Option<ScriptJob> = None;
    let mut wait = JobWait::default();
    loop {
        let job = match held.take() {
            Some(job) => job,
            // Writes are pending: keep going while work is already queued,
            // so its writes share the commit; commit the moment it is not.
            None if host.borrow().group.is_pending() => match jobs.try_recv() {
                Ok(job) => job,
                Err(_) => {
                    commit(&host);
                    continue;
                }
            },
            None => match wait.next(&mut jobs) {
                Some(job) => job,
                None => break,
            },
        };
        match job {
            ScriptJob::Connect {
                connection_id,
                query,
                outbound,
                reply,
            } => {
                let (result, rejections) =
                    runtime.dispatch(HandlerKind::Connect, connection_id, Some(&query), None);
                for failure in rejections {
                    report(Some(connection_id), Some(HandlerKind::Connect), failure);
                }
                let verdict = match result {
                    Ok(true) => {
                        // Reachable by `socket.send` at once, even while its
                        // verdict waits for a commit.
                        host.borrow_mut().outbound.insert(connection_id, outbound);
                        ConnectVerdict::Accept
                    }
                    Ok(false) => ConnectVerdict::Deny,
                    Err(failure) => {
                        report(
                            Some(connection_id),
                            Some(HandlerKind::Connect),
                            failure.clone(),
                        );
                        ConnectVerdict::Failed(failure)
                    }
                };
                host.borrow_mut()
                    .group
                    .verdict(connection_id, reply, verdict);
            }
            ScriptJob::Message {
                connection_id,
                payload,
            } => {
                // Messages already queued run in one entry into the context
                // (in queue order); the first other job waits its turn.
                messages.push((connection_id, payload));
                while messages.len() < MESSAGE_BATCH {
                    match jobs.try_recv() {
                        Ok(ScriptJob::Message {
                            connection_id,
                            payload,
                        }) => messages.push((connection_id, payload)),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                runtime.dispatch_messages(&messages, |connection_id, (result, rejections)| {
                    for failure in rejections.into_iter().chain(result.err()) {
                        report(Some(connection_id), Some(HandlerKind::Message), failure);
                    }
                });
                messages.clear();
            }
            ScriptJob::Disconnect { connection_id } => {
                let (result, rejections) =
                    runtime.dispatch(HandlerKind::Disconnect, connection_id, None, None);
                for failure in rejections.into_iter().chain(result.err()) {
                    report(Some(connection_id), Some(HandlerKind::Disconnect), failure);
                }
                host.borrow_mut().outbound.remove(&connection_id);
            }
            ScriptJob::Load {
                name,
                source,
                reply,
            } => {
                let result = runtime.load(&name, &source).map(|report| {
                    for warning in report.warnings {
                        runtime.warn(warning);
                    }
                    report.sockets
                });
                let _ = reply.send(result);
            }
            ScriptJob::Stop { reply } => {
                commit(&host);
                jobs.close();
                drop(runtime);
                return Some(reply);
            }
        }
        let mut state = host.borrow_mut();
        if state.group.is_due() {
            drop(state);
            commit(&host);
        } else {
            state.group.release();
        }
    }
    commit(&host);
    None
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
