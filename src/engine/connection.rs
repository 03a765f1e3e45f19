//! One accepted websocket connection: a reader loop that feeds the script
//! thread and a writer task that drains the outbound queue.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::registry::LiveConnection;
use super::shared::EngineShared;
use crate::core::close_code;
use crate::core::events::{ClosedBy, ConnectionId, Event, FrameDirection, Payload};
use crate::core::outbound::{CloseRequest, Closing, Control, OutboundReceiver, Outgoing};

/// Longest close reason that fits a control frame (125 bytes minus the code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// How the reading side of a connection ended.
enum ReadEnd {
    /// The client sent a close frame (and we replied).
    ClientClosed(Option<CloseFrame>),
    /// The server asked to close (see the outbound close request).
    ServerClosed,
    /// The client violated the protocol or a limit; the server closes with this.
    Violation(CloseRequest),
    /// The TCP connection ended without a close handshake.
    Dropped(String),
}

/// Runs a connection until it ends, then fires disconnect exactly once.
pub(crate) async fn run_connection<S>(
    shared: Arc<EngineShared>,
    websocket: WebSocketStream<S>,
    live: Arc<LiveConnection>,
    outbound_receiver: OutboundReceiver,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection_id = live.connection_id;
    let closing = outbound_receiver.closing();
    let (sink, mut stream) = websocket.split();
    let writer = tokio::spawn(write_loop(
        Arc::clone(&shared),
        Arc::clone(&live),
        sink,
        outbound_receiver,
    ));

    let read_end = read_loop(&shared, &live, &mut stream, &closing).await;
    let (code, reason, by) = match read_end {
        ReadEnd::ClientClosed(frame) => {
            closing.cancel();
            match frame {
                Some(frame) => (
                    Some(u16::from(frame.code)),
                    frame.reason.to_string(),
                    ClosedBy::Client,
                ),
                None => (Some(close_code::NO_STATUS), String::new(), ClosedBy::Client),
            }
        }
        ReadEnd::ServerClosed => {
            let request = live.outbound.close_request();
            match request {
                Some(request) if request.code == close_code::ABNORMAL => {
                    (None, request.reason, request.by)
                }
                Some(request) => (Some(request.code), request.reason, request.by),
                None => (None, "closed".to_owned(), ClosedBy::Server),
            }
        }
        ReadEnd::Violation(request) => {
            live.outbound.request_close(request.clone());
            // The first close request wins: report the one that was sent.
            let sent = live.outbound.close_request().unwrap_or(request);
            (Some(sent.code), sent.reason, sent.by)
        }
        ReadEnd::Dropped(why) => {
            closing.cancel();
            (None, why, ClosedBy::Client)
        }
    };
    // The writer may be blocked on a client that does not read; give it the
    // close timeout to send its close frame, then drop the socket regardless.
    let close_timeout = shared.config.limits.close_timeout;
    let mut writer = writer;
    if tokio::time::timeout(close_timeout, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }

    finish_connection(&shared, connection_id, code, reason, by).await;
}

/// The end of an accepted connection, however it ended: it leaves the
/// registry, its disconnect handlers run (once), and its close is reported.
pub(crate) async fn finish_connection(
    shared: &EngineShared,
    connection_id: ConnectionId,
    code: Option<u16>,
    reason: String,
    by: ClosedBy,
) {
    let traffic = shared
        .registry
        .remove(&connection_id)
        .map(|connection| connection.traffic.snapshot())
        .unwrap_or_default();
    shared
        .runtime
        .connection_closed(connection_id, code, &reason, by);
    shared.runtime.disconnect(connection_id).await;
    shared.bus.publish(Event::ConnectionClosed {
        connection_id,
        code,
        reason,
        by,
        traffic,
        at: Utc::now(),
    });
}

async fn read_loop<S>(
    shared: &EngineShared,
    live: &LiveConnection,
    stream: &mut SplitStream<WebSocketStream<S>>,
    closing: &Closing,
) -> ReadEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &shared.config.limits;
    let mut client_close: Option<Option<CloseFrame>> = None;
    let mut close_deadline: Option<Instant> = None;
    // One wait for the closing signal per connection, polled only when no
    // frame is ready; the flag checked before each read keeps a close ahead
    // of frames already received (lifecycle test
    // a_server_close_wins_over_frames_already_received). A new wait per
    // frame took the token's and its Notify's mutexes three times: this
    // saves 340 of 18,300 instructions per proxied round trip
    // (benches/proxy_callgrind.sh).
    let cancelled = closing.cancelled();
    tokio::pin!(cancelled);
    loop {
        // Once a close is under way only the close handshake matters, and it
        // gets a deadline; before that, the idle timeout (if any) applies.
        let wait = match close_deadline {
            Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            None => limits.idle_timeout,
        };
        let next = if close_deadline.is_none() && closing.is_cancelled() {
            None
        } else {
            tokio::select! {
                biased;
                next = next_or_timeout(stream, wait) => Some(next),
                () = &mut cancelled, if close_deadline.is_none() => None,
            }
        };
        let Some(next) = next else {
            if live
                .outbound
                .close_request()
                .is_some_and(|request| request.code == close_code::ABNORMAL)
            {
                // No close handshake to wait for: the socket is dropped.
                return ReadEnd::ServerClosed;
            }
            close_deadline = Some(Instant::now() + limits.close_timeout);
            continue;
        };
        let message = match next {
            Some(Some(Ok(message))) => message,
            Some(Some(Err(error))) => {
                if let Some(frame) = client_close {
                    return ReadEnd::ClientClosed(frame);
                }
                if close_deadline.is_some() {
                    return ReadEnd::ServerClosed;
                }
                return classify_error(error);
            }
            Some(None) => {
                return match (client_close, close_deadline) {
                    (Some(frame), _) => ReadEnd::ClientClosed(frame),
                    (None, Some(_)) => ReadEnd::ServerClosed,
                    (None, None) => {
                        ReadEnd::Dropped("connection dropped without a close frame".to_owned())
                    }
                };
            }
            None if close_deadline.is_some() => return ReadEnd::ServerClosed,
            None => {
                return ReadEnd::Violation(CloseRequest {
                    code: close_code::GOING_AWAY,
                    reason: "idle timeout".to_owned(),
                    by: ClosedBy::Server,
                });
            }
        };
        let payload = match message {
            Message::Text(text) => Payload::Text(text),
            Message::Binary(bytes) => Payload::Binary(bytes),
            Message::Close(frame) => {
                // tungstenite queues the reply; the next read flushes it and
                // then reports the end of the stream.
                if close_deadline.is_some() {
                    return ReadEnd::ServerClosed;
                }
                client_close = Some(frame);
                continue;
            }
            Message::Ping(data) => {
                if close_deadline.is_none() && client_close.is_none() {
                    shared.runtime.ping(live.connection_id, data).await;
                }
                continue;
            }
            Message::Pong(data) => {
                if close_deadline.is_none() && client_close.is_none() {
                    shared.runtime.pong(live.connection_id, data).await;
                }
                continue;
            }
            Message::Frame(_) => continue,
        };
        if close_deadline.is_some() || client_close.is_some() {
            // RFC 6455 §1.4: data after a close frame is discarded.
            continue;
        }
        let payload = if shared
            .breakpoints
            .holds(live.connection_id, FrameDirection::In, &payload)
        {
            // This connection's next frames wait behind this one; a close
            // (by the user, or shutdown) drops it.
            let held = shared.breakpoints.hold(
                &shared.bus,
                live.connection_id,
                FrameDirection::In,
                payload,
            );
            let released = tokio::select! {
                released = held => released,
                () = closing.cancelled() => None,
            };
            match released {
                Some(payload) => payload,
                None => continue,
            }
        } else {
            payload
        };
        shared.registry.record_in(live, payload.len_bytes());
        shared
            .bus
            .publish_frame(FrameDirection::In, || Event::FrameIn {
                connection_id: live.connection_id,
                payload: payload.clone(),
                at: Utc::now(),
            });
        shared.runtime.message(live.connection_id, payload).await;
    }
}

/// `Some(next)` from the stream, or `None` when `wait` ran out.
async fn next_or_timeout<S>(
    stream: &mut SplitStream<WebSocketStream<S>>,
    wait: Option<Duration>,
) -> Option<Option<Result<Message, tungstenite::Error>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match wait {
        Some(wait) => tokio::time::timeout(wait, stream.next()).await.ok(),
        None => Some(stream.next().await),
    }
}

fn classify_error(error: tungstenite::Error) -> ReadEnd {
    use tungstenite::Error;
    let violation = |code: u16, reason: String| {
        ReadEnd::Violation(CloseRequest {
            code,
            reason,
            by: ClosedBy::Server,
        })
    };
    match error {
        Error::Capacity(capacity) => violation(close_code::MESSAGE_TOO_BIG, capacity.to_string()),
        Error::Utf8(detail) => violation(
            close_code::INVALID_PAYLOAD,
            format!("invalid UTF-8 in text message: {detail}"),
        ),
        Error::Protocol(protocol) => violation(close_code::PROTOCOL_ERROR, protocol.to_string()),
        Error::ConnectionClosed | Error::AlreadyClosed => {
            ReadEnd::Dropped("connection closed".to_owned())
        }
        Error::Io(io) => ReadEnd::Dropped(format!("connection error: {io}")),
        other => violation(close_code::PROTOCOL_ERROR, other.to_string()),
    }
}

async fn write_loop<S>(
    shared: Arc<EngineShared>,
    live: Arc<LiveConnection>,
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut outbound: OutboundReceiver,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let closing = outbound.closing();
    while let Some(first) = outbound.next().await {
        // Everything already queued goes out with one flush.
        let batch = async {
            let mut next = Some(first);
            while let Some(outgoing) = next {
                let payload = match outgoing {
                    Outgoing::Frame(payload) => payload,
                    // A proxied target's ping or pong: in its place, never
                    // held, counted or shown (as the client's own).
                    Outgoing::Control(control) => {
                        sink.feed(control_message(control)).await?;
                        next = outbound.try_next();
                        continue;
                    }
                };
                let payload =
                    if shared
                        .breakpoints
                        .holds(live.connection_id, FrameDirection::Out, &payload)
                    {
                        // What is written already goes out while this one waits.
                        sink.flush().await?;
                        let held = shared.breakpoints.hold(
                            &shared.bus,
                            live.connection_id,
                            FrameDirection::Out,
                            payload,
                        );
                        // Until what queued behind it is written, a full
                        // queue is the hold's doing, not the client's.
                        outbound.set_held(true);
                        match held.await {
                            Some(payload) => payload,
                            None => {
                                next = outbound.try_next();
                                continue;
                            }
                        }
                    } else {
                        payload
                    };
                shared.registry.record_out(&live, payload.len_bytes());
                shared
                    .bus
                    .publish_frame(FrameDirection::Out, || Event::FrameOut {
                        connection_id: live.connection_id,
                        payload: payload.clone(),
                        at: Utc::now(),
                    });
                sink.feed(into_message(payload)).await?;
                next = outbound.try_next();
            }
            sink.flush().await
        };
        let written = tokio::select! {
            written = batch => written,
            // A client that stopped reading blocks the flush; a close
            // request (1008 from the queue limit) must still get through.
            () = closing.cancelled() => break,
        };
        if written.is_err() {
            closing.cancel();
            return;
        }
        outbound.set_held(false);
    }
    if let Some(request) = outbound
        .close_request()
        .filter(|request| request.code != close_code::ABNORMAL)
    {
        let frame = CloseFrame {
            code: CloseCode::from(request.code),
            reason: truncate_reason(&request.reason).into(),
        };
        let _ = tokio::time::timeout(
            shared.config.limits.close_timeout,
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

fn into_message(payload: Payload) -> Message {
    match payload {
        Payload::Text(text) => Message::Text(text),
        Payload::Binary(bytes) => Message::Binary(bytes),
    }
}

fn control_message(control: Control) -> Message {
    match control {
        Control::Ping(data) => Message::Ping(data),
        Control::Pong(data) => Message::Pong(data),
    }
}

/// Cuts a close reason to what a control frame holds, on a char boundary.
fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Asks every live connection to close with 1001 (server shutting down).
pub(crate) fn close_all_going_away(shared: &EngineShared) {
    for connection in shared.registry.all() {
        connection.outbound.request_close(CloseRequest {
            code: close_code::GOING_AWAY,
            reason: "server shutting down".to_owned(),
            by: ClosedBy::Server,
        });
    }
}
