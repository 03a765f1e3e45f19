//! Bus events as `tracing` lines on stderr (what `sockscope serve` prints).

use super::events::{Event, KvChange, LogLevel, Payload, close_summary, reload_failed_summary};

/// Characters of a message shown in a log line.
const PREVIEW_CHARS: usize = 80;

fn size_and_preview(payload: &Payload) -> String {
    format!(
        "{} {} B: {}",
        payload.kind(),
        payload.len_bytes(),
        payload.preview(PREVIEW_CHARS)
    )
}

/// Logs one event at a level that matches its seriousness.
pub fn log_event(event: &Event) {
    const TARGET: &str = "sockscope";
    match event {
        Event::Listening { local_addr } => {
            tracing::info!(target: TARGET, "listening on ws://{local_addr}")
        }
        Event::ConnectionOpened {
            connection_id,
            remote_addr,
            path,
            query,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, %remote_addr, "connect accepted: {path} query={query:?}")
        }
        Event::ConnectionDenied {
            connection_id,
            remote_addr,
            path,
            query,
            status,
            reason,
            ..
        } => tracing::warn!(
            target: TARGET, %connection_id, %remote_addr,
            "connect denied with {status}: {path} query={query:?}: {reason}"
        ),
        Event::ConnectionClosed {
            connection_id,
            code,
            reason,
            by,
            ..
        } => {
            let summary = close_summary(*code, reason, *by);
            tracing::info!(target: TARGET, %connection_id, "disconnect: {summary}");
        }
        Event::FrameIn {
            connection_id,
            payload,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, "message in, {}", size_and_preview(payload))
        }
        Event::FrameOut {
            connection_id,
            payload,
            ..
        } => {
            tracing::info!(target: TARGET, %connection_id, "message out, {}", size_and_preview(payload))
        }
        Event::KvChanged {
            store, key, change, ..
        } => match change {
            KvChange::Set(value) => {
                let preview = Payload::Text(value.as_ref().into()).preview(PREVIEW_CHARS);
                tracing::info!(target: TARGET, "kv set {store}/{key} = {preview}");
            }
            KvChange::Deleted => tracing::info!(target: TARGET, "kv delete {store}/{key}"),
        },
        Event::Log {
            connection_id,
            level,
            message,
            ..
        } => {
            let connection = connection_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned());
            match level {
                LogLevel::Debug => {
                    tracing::debug!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Info => {
                    tracing::info!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Warn => {
                    tracing::warn!(target: "sockscope::console", connection, "{message}")
                }
                LogLevel::Error => {
                    tracing::error!(target: "sockscope::console", connection, "{message}")
                }
            }
        }
        Event::ScriptError {
            connection_id,
            handler,
            failure,
            ..
        } => {
            let connection = connection_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let handler = handler.map_or("script", |handler| handler.as_str());
            tracing::error!(target: TARGET, connection, "{handler} handler error: {failure}");
        }
        Event::ScriptReloaded { path, .. } => {
            tracing::info!(target: TARGET, "script reloaded: {path}")
        }
        Event::ScriptReloadFailed { path, failure, .. } => {
            tracing::error!(target: TARGET, "{}", reload_failed_summary(path, failure));
        }
        Event::ApprovalPending { pending } => tracing::info!(
            target: TARGET, connection_id = %pending.connection_id,
            "waiting for approval: {} query={:?}", pending.path, pending.query
        ),
        Event::ApprovalResolved {
            connection_id,
            decision,
            ..
        } => tracing::info!(target: TARGET, %connection_id, "approval: {decision:?}"),
        // `serve` says "server stopped" itself, after the last disconnect handler ran.
        Event::Stopped { .. } => tracing::debug!(target: TARGET, "engine stopped"),
    }
}
