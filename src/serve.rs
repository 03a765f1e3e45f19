//! `sockscope serve`: the engine without a window.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::core::bus::{BusMessage, Subscription};
use crate::core::logging::{MESSAGE_LINES_PER_SECOND, SampledLog};
use crate::engine::{EngineError, EngineHandle};
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
    let script_path = (options.config.services.is_none() && options.config.proxy.is_none())
        .then(|| options.config.script.path.clone());
    let target = options
        .config
        .proxy
        .as_ref()
        .map(|proxy| proxy.target.url().to_owned());
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
            let mut header = Header::new(if target.is_some() {
                "proxy"
            } else {
                "recorded"
            });
            header.target = target.clone();
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
        match &target {
            Some(target) => tracing::warn!(
                target: "sockscope",
                "listening on {bind}: {target} is reachable through this proxy from the network"
            ),
            None => tracing::warn!(
                target: "sockscope",
                "listening on {bind}: handlers and the kv store are reachable from the network"
            ),
        }
    }

    // Quiet without a recording, nobody subscribes, so frames cost no
    // events at all; problems are then logged by the bus itself. With a
    // recording the events exist anyway: log them (the filter keeps only
    // warnings and errors when quiet).
    let log = (!options.quiet || recording.is_some()).then(|| {
        let stop = CancellationToken::new();
        // Subscribed here, not in the task: nothing published before the
        // task first runs is lost to the log.
        let subscription = engine.subscribe_sampled();
        let task = tokio::spawn(log_events(subscription, engine.clone(), stop.clone()));
        (task, stop)
    });
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
    // The disconnects of the shutdown are on the bus: log them first.
    if let Some((task, stop)) = log {
        stop.cancel();
        let _ = task.await;
    }
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

/// Least time between two wake-ups of the log.
///
/// Waiting on the bus, the log task was woken by every event: a task
/// wake-up (often a parked worker thread's futex) for each message in and
/// out. So after each wake-up it takes everything queued, then sleeps this
/// long before it waits again: at most 100 wake-ups a second whatever the
/// traffic, and a quiet server's lines still come at once. The bus holds
/// 65,536 events, hundreds of such pauses' worth at the rates seen here.
const LOG_PAUSE: Duration = Duration::from_millis(10);

/// Logs the events from `subscription` until the engine goes away or `stop`
/// (then what is queued first), with per-message lines sampled (see
/// [`SampledLog`]); the frames `engine`'s bus left out (nothing else watches
/// them) join the summary lines.
async fn log_events(mut subscription: Subscription, engine: EngineHandle, stop: CancellationToken) {
    let mut log = SampledLog::new(MESSAGE_LINES_PER_SECOND, Instant::now());
    let roll = |log: &mut SampledLog| {
        log.add_hidden(engine.take_hidden_frames());
        log.roll(Instant::now());
    };
    loop {
        let first = tokio::select! {
            message = subscription.recv() => message,
            // Sums up the last busy second when no event follows it.
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                roll(&mut log);
                continue;
            }
            () = stop.cancelled() => break,
        };
        let Some(first) = first else { break };
        handle(&mut log, first);
        while let Some(message) = subscription.try_recv() {
            handle(&mut log, message);
        }
        roll(&mut log);
        tokio::select! {
            () = tokio::time::sleep(LOG_PAUSE) => {}
            () = stop.cancelled() => break,
        }
    }
    while let Some(message) = subscription.try_recv() {
        handle(&mut log, message);
    }
    log.add_hidden(engine.take_hidden_frames());
    log.flush();
}

fn handle(log: &mut SampledLog, message: BusMessage) {
    match message {
        BusMessage::Event(event) => {
            log.log(&event, Instant::now);
        }
        BusMessage::Missed(count) => {
            tracing::warn!(target: "sockscope", "{count} events not logged: the log could not keep up");
        }
    }
}
