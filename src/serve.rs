//! `sockscope serve`: the engine without a window.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::core::bus::{BusMessage, Subscription};
use crate::core::logging::{MESSAGE_LINES_PER_SECOND, SampledLog};
use crate::engine::EngineError;
use crate::launch::{self, LaunchConfig};
use crate::session::{Header, Recorder, SessionError, script_reference};

/// Why `serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The engine did not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The recording file could not be created.
    #[error("cannot record: {0}")]
    Record(SessionError),
}

impl From<SessionError> for ServeError {
    fn from(error: SessionError) -> Self {
        ServeError::Record(error)
    }
}

/// Options of `sockscope serve` beyond the engine's configuration.
pub struct ServeOptions {
    /// The server and its handlers.
    pub config: LaunchConfig,
    /// Log only warnings and errors (no per-message lines).
    pub quiet: bool,
    /// Record every connection into this session file until the server stops.
    pub record: Option<PathBuf>,
}

/// Runs the server until Ctrl-C or SIGTERM, then shuts down cleanly.
///
/// The first line on stdout is `listening on ws://HOST:PORT`, printed once
/// connections are accepted, so scripts can wait for it.
///
/// With `record`, the session file is finished before connections are
/// closed, so connections still open at the stop have no `close` line.
pub async fn run(options: ServeOptions) -> Result<(), ServeError> {
    let bind = options.config.server.bind;
    let script_path = options
        .config
        .services
        .is_none()
        .then(|| options.config.script.path.clone());
    if let Some(path) = &options.record {
        // Fails before the server listens; and the file must exist before a
        // relative script reference can be made.
        std::fs::File::create(path).map_err(|reason| SessionError::Io {
            path: path.clone(),
            reason,
        })?;
    }
    let engine = launch::start(options.config).await?;
    let recording = match &options.record {
        Some(path) => {
            let mut header = Header::new("recorded");
            header.script = script_path
                .as_deref()
                .map(|script_path| script_reference(path, script_path));
            match Recorder::start(&engine, path, header) {
                Ok(recording) => Some(recording),
                Err(error) => {
                    engine.shutdown().await;
                    return Err(error.into());
                }
            }
        }
        None => None,
    };
    if !bind.is_loopback() {
        tracing::warn!(
            target: "sockscope",
            "listening on {bind}: handlers and the kv store are reachable from the network"
        );
    }
    // Quiet without a recording, nobody subscribes, so frames cost no
    // events at all; problems are then logged by the bus itself. With a
    // recording the events exist anyway: log them (the filter keeps only
    // warnings and errors when quiet).
    if !options.quiet || recording.is_some() {
        tokio::spawn(log_events(engine.subscribe()));
    }
    let stopped = stop_signal();
    {
        let mut stdout = std::io::stdout().lock();
        match engine.sockets() {
            [only] => {
                let _ = writeln!(stdout, "listening on ws://{}", only.local_addr);
            }
            several => {
                for socket in several {
                    let _ = writeln!(
                        stdout,
                        "listening on ws://{} (socket {})",
                        socket.local_addr, socket.socket
                    );
                }
            }
        }
        let _ = stdout.flush();
    }
    stopped.await;
    if let Some(recording) = recording {
        let path = recording.path().display().to_string();
        let status = recording.stop().await;
        // A write failure was already logged when it happened.
        if status.failure.is_none() {
            tracing::info!(
                target: "sockscope",
                "recorded {} connections, {} messages, {} ms to {path}",
                status.connections,
                status.messages,
                status.duration_ms
            );
        }
    }
    tracing::info!(target: "sockscope", "stopping: closing connections with 1001");
    engine.shutdown().await;
    tracing::info!(target: "sockscope", "server stopped");
    Ok(())
}

/// Installs the Ctrl-C and SIGTERM handlers now and returns a future that
/// completes on the first of them. Installed before the server announces
/// itself: a signal sent right after "listening on" must stop it cleanly,
/// not meet the default action (kill) because the handler was installed
/// lazily on first poll.
fn stop_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                    only.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// How often the log takes the events queued for it.
///
/// The log polls instead of waiting on the bus: a waiting subscriber is
/// woken by every event, a task wake-up (often a parked worker thread's
/// futex) for each message in and out, where polling costs one wake-up per
/// tick whatever the traffic. The bus holds 65,536 events, hundreds of
/// ticks' worth at the rates seen here; lines come at most this late.
const LOG_POLL: Duration = Duration::from_millis(10);

/// Logs the events from `subscription` until the engine goes away, with
/// per-message lines sampled (see [`SampledLog`]).
async fn log_events(mut subscription: Subscription) {
    let mut log = SampledLog::new(MESSAGE_LINES_PER_SECOND, Instant::now());
    let mut tick = tokio::time::interval(LOG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Closed is checked before draining: events published before the
        // close are all queued by then, so none is left behind.
        let is_closed = subscription.is_closed();
        while let Some(message) = subscription.try_recv() {
            match message {
                BusMessage::Event(event) => {
                    log.log(&event, Instant::now);
                }
                BusMessage::Missed(count) => {
                    tracing::warn!(target: "sockscope", "{count} events not logged: the log could not keep up");
                }
            }
        }
        if is_closed {
            break;
        }
        // Sums up the last busy second even when no event follows it.
        log.roll(Instant::now());
    }
    log.flush();
}
