//! `sockscope serve`: the engine without a window.

use std::io::Write;

use crate::engine::config::EngineConfig;
use crate::engine::logging::log_events;
use crate::engine::{EngineError, EngineHandle};

/// Options of `sockscope serve` beyond the engine's configuration.
pub struct ServeOptions {
    /// The engine to run.
    pub config: EngineConfig,
    /// Log only warnings and errors (no per-message lines).
    pub quiet: bool,
}

/// Runs the server until Ctrl-C or SIGTERM, then shuts down cleanly.
///
/// The first line on stdout is `listening on ws://HOST:PORT`, printed once
/// connections are accepted, so scripts can wait for it.
pub async fn run(options: ServeOptions) -> Result<(), EngineError> {
    let bind = options.config.bind;
    let engine = EngineHandle::start(options.config).await?;
    if !bind.is_loopback() {
        tracing::warn!(
            target: "sockscope",
            "listening on {bind}: handlers and the kv store are reachable from the network"
        );
    }
    if !options.quiet {
        tokio::spawn(log_events(engine.subscribe()));
    }
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", engine.url());
        let _ = stdout.flush();
    }
    wait_for_stop_signal().await;
    tracing::info!(target: "sockscope", "stopping: closing connections with 1001");
    engine.shutdown().await;
    tracing::info!(target: "sockscope", "server stopped");
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
