//! The accept loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::handshake::serve_http;
use super::shared::EngineShared;

/// Pause after an accept error so that running out of file descriptors
/// does not turn into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections for `socket` until the engine shuts down.
pub(crate) async fn accept_loop(
    shared: Arc<EngineShared>,
    listener: TcpListener,
    socket: Arc<str>,
) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote_addr)) => {
                // Handlers answer small messages; Nagle would add up to 40 ms.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_http(
                    Arc::clone(&shared),
                    Arc::clone(&socket),
                    stream,
                    remote_addr,
                ));
            }
            Err(error) => {
                tracing::warn!(target: "sockscope::server", "accept failed: {error}");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}
