//! The target side of one proxied connection: a writer task that sends the
//! client's frames (and pings, pongs and the close) to the target in order,
//! and a reader task that queues the target's frames, pings and pongs to
//! the client and passes its close on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::pings::{PingLedger, SharedPingLedger};
use super::target::TargetStream;
use crate::core::close_code;
use crate::core::events::{ClosedBy, ConnectionId, Payload};
use crate::core::outbound::{CloseRequest, Control, Outbound};
use crate::runtime::UpstreamError;

/// Frames waiting for the target's writer. The engine reads a client's
/// next frame only once the previous one is in here, so a target that
/// reads slowly slows its client down instead of filling memory.
const FRAMES_IN_FLIGHT: usize = 16;

/// KiB of frames waiting for the target's writer, at most (one larger
/// frame is let through alone): sixteen 16 MiB messages must not queue.
const KIB_IN_FLIGHT: u32 = 1024;

/// A frame for the target's writer, with the KiB it holds of the budget.
type Queued = (Message, Option<OwnedSemaphorePermit>);

/// Longest close reason that fits a control frame (125 bytes minus the code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// How the client's side ended, to pass on to the target.
struct Ending {
    /// `None`: the client's socket dropped without a close frame.
    code: Option<u16>,
    reason: String,
}

/// One connection's target side.
pub(crate) struct Upstream {
    frames: mpsc::Sender<Queued>,
    kib_in_flight: Arc<Semaphore>,
    is_target_closed: Arc<AtomicBool>,
    pings: SharedPingLedger,
    ending: Option<Ending>,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Upstream {
    /// Starts both tasks; the target's frames go to `outbound`.
    pub(crate) fn start(
        connection_id: ConnectionId,
        stream: TargetStream,
        outbound: Outbound,
    ) -> Self {
        let (sink, stream) = stream.split();
        let (frames, receiver) = mpsc::channel(FRAMES_IN_FLIGHT);
        let is_target_closed = Arc::new(AtomicBool::new(false));
        let pings = PingLedger::shared();
        let writer = tokio::spawn(write_target(sink, receiver));
        let reader = tokio::spawn(read_target(
            connection_id,
            stream,
            outbound,
            Arc::clone(&is_target_closed),
            Arc::clone(&pings),
        ));
        Self {
            frames,
            kib_in_flight: Arc::new(Semaphore::new(KIB_IN_FLIGHT as usize)),
            is_target_closed,
            pings,
            ending: None,
            writer,
            reader,
        }
    }

    /// A sender of frames to the target, in order.
    pub(crate) fn sender(&self) -> FrameSender {
        FrameSender {
            frames: self.frames.clone(),
            kib_in_flight: Arc::clone(&self.kib_in_flight),
            is_target_closed: Arc::clone(&self.is_target_closed),
            pings: Arc::clone(&self.pings),
        }
    }

    /// Notes how the client's side ended, for [`Upstream::finish`].
    pub(crate) fn client_ended(&mut self, code: Option<u16>, reason: &str) {
        self.ending = Some(Ending {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Passes the client's close on (unless the target closed first) and
    /// waits, at most `close_timeout` for each, for the target's reply.
    pub(crate) async fn finish(self, close_timeout: Duration) {
        let Self {
            frames,
            is_target_closed,
            kib_in_flight: _,
            pings: _,
            ending,
            mut writer,
            mut reader,
        } = self;
        if !is_target_closed.load(Ordering::Acquire) {
            let frame = match ending {
                // The client dropped its socket: so does the target's side.
                Some(Ending { code: None, .. }) => {
                    writer.abort();
                    reader.abort();
                    return;
                }
                Some(Ending {
                    code: Some(code),
                    reason,
                }) => close_frame(code, &reason),
                // Never upgraded (an approval denied it).
                None => close_frame(close_code::GOING_AWAY, "client went away"),
            };
            let _ = frames.send((Message::Close(frame), None)).await;
        }
        drop(frames);
        if tokio::time::timeout(close_timeout, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
        if tokio::time::timeout(close_timeout, &mut reader)
            .await
            .is_err()
        {
            reader.abort();
        }
    }

    /// Ends both tasks now (the proxy is stopping).
    pub(crate) fn abort(&self) {
        self.writer.abort();
        self.reader.abort();
    }
}

/// Sends one connection's frames to its target, in order.
#[derive(Clone)]
pub(crate) struct FrameSender {
    frames: mpsc::Sender<Queued>,
    kib_in_flight: Arc<Semaphore>,
    is_target_closed: Arc<AtomicBool>,
    pings: SharedPingLedger,
}

impl FrameSender {
    /// Waits for room, then queues the frame for the target's writer.
    pub(crate) async fn send(&self, payload: Payload) -> Result<(), UpstreamError> {
        if self.is_target_closed.load(Ordering::Acquire) {
            return Err(UpstreamError::Closed);
        }
        let kib = u32::try_from(payload.len_bytes() / 1024)
            .unwrap_or(u32::MAX)
            .min(KIB_IN_FLIGHT);
        let permit = match kib {
            0 => None,
            kib => Some(
                Arc::clone(&self.kib_in_flight)
                    .acquire_many_owned(kib)
                    .await
                    .map_err(|_| UpstreamError::Closed)?,
            ),
        };
        self.frames
            .send((into_message(payload), permit))
            .await
            .map_err(|_| UpstreamError::Closed)
    }

    /// Waits for room, then queues the client's ping or pong (at most 125
    /// bytes: no share of the KiB budget). The client's answer to a ping
    /// the proxy passed on is not: the proxy's side already answered it.
    pub(crate) async fn send_control(&self, control: Control) -> Result<(), UpstreamError> {
        if self.is_target_closed.load(Ordering::Acquire) {
            return Err(UpstreamError::Closed);
        }
        let message = match control {
            Control::Ping(data) => {
                self.pings.lock().client_pinged(&data);
                Message::Ping(data)
            }
            Control::Pong(data) if self.pings.lock().answers_target(&data) => return Ok(()),
            Control::Pong(data) => Message::Pong(data),
        };
        self.frames
            .send((message, None))
            .await
            .map_err(|_| UpstreamError::Closed)
    }
}

fn into_message(payload: Payload) -> Message {
    match payload {
        Payload::Text(text) => Message::Text(text),
        Payload::Binary(bytes) => Message::Binary(bytes),
    }
}

/// A close frame with `code` (`1005`: none) and the reason cut to fit.
fn close_frame(code: u16, reason: &str) -> Option<CloseFrame> {
    if code == close_code::NO_STATUS {
        return None;
    }
    let code = if close_code::is_sendable(code) {
        code
    } else {
        close_code::NORMAL
    };
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason[..end].into(),
    })
}

async fn write_target(
    mut sink: SplitSink<TargetStream, Message>,
    mut frames: mpsc::Receiver<Queued>,
) {
    while let Some(first) = frames.recv().await {
        // Everything already queued goes out with one flush.
        let mut next = Some(first);
        let mut is_closing = false;
        while let Some((message, permit)) = next {
            is_closing |= matches!(message, Message::Close(_));
            if sink.feed(message).await.is_err() {
                return;
            }
            // Framed into the write buffer: its KiB are free for the next.
            drop(permit);
            next = if is_closing {
                None
            } else {
                frames.try_recv().ok()
            };
        }
        if sink.flush().await.is_err() || is_closing {
            return;
        }
    }
}

async fn read_target(
    connection_id: ConnectionId,
    mut stream: SplitStream<TargetStream>,
    outbound: Outbound,
    is_target_closed: Arc<AtomicBool>,
    pings: SharedPingLedger,
) {
    let dropped = |why: String| {
        tracing::debug!(target: "sockscope::proxy", %connection_id, "{why}");
        outbound.request_close(CloseRequest {
            code: close_code::ABNORMAL,
            reason: why,
            by: ClosedBy::Server,
        });
    };
    loop {
        let message = match stream.next().await {
            Some(Ok(message)) => message,
            Some(Err(tungstenite::Error::Capacity(capacity))) => {
                // Too big to pass on: the client hears why, as it would
                // from a server with that limit.
                outbound.request_close(CloseRequest {
                    code: close_code::MESSAGE_TOO_BIG,
                    reason: format!("target sent more than the proxy accepts: {capacity}"),
                    by: ClosedBy::Server,
                });
                return;
            }
            Some(Err(error)) => {
                if !is_target_closed.load(Ordering::Acquire) {
                    dropped(target_error(error));
                }
                return;
            }
            None => {
                if !is_target_closed.load(Ordering::Acquire) {
                    dropped("target dropped the connection without a close frame".to_owned());
                }
                return;
            }
        };
        let outgoing = match message {
            Message::Text(text) => Forward::Frame(Payload::Text(text)),
            Message::Binary(bytes) => Forward::Frame(Payload::Binary(bytes)),
            // tungstenite answered the ping already (each hop does), so the
            // client's answer to it stays here; and the target's answer to
            // a ping of the client's, which the proxy answered.
            Message::Ping(data) => {
                pings.lock().target_pinged(&data);
                Forward::Control(Control::Ping(data))
            }
            Message::Pong(data) if pings.lock().answers_client(&data) => continue,
            Message::Pong(data) => Forward::Control(Control::Pong(data)),
            Message::Close(frame) => {
                is_target_closed.store(true, Ordering::Release);
                let (code, reason) = match frame {
                    Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                    None => (close_code::NORMAL, String::new()),
                };
                outbound.request_close(CloseRequest {
                    code,
                    reason,
                    by: ClosedBy::Server,
                });
                // Reading on lets tungstenite send its close reply.
                continue;
            }
            Message::Frame(_) => continue,
        };
        if is_target_closed.load(Ordering::Acquire) {
            continue;
        }
        // While the client's queue is full the target is not read, so it
        // slows down as it would with the client on the line (and while a
        // frame is held at a breakpoint, for as long as the hold lasts). A
        // client that reads nothing is closed with 1008; that close then
        // reaches the target.
        let queued = match outgoing {
            Forward::Frame(payload) => outbound.relay_when_room(payload).await,
            Forward::Control(control) => outbound.relay_control_when_room(control).await,
        };
        if queued.is_err() {
            return;
        }
    }
}

/// What the target sent that goes on to the client.
enum Forward {
    Frame(Payload),
    Control(Control),
}

/// Why the target's side failed, in words.
fn target_error(error: tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Protocol(protocol) => {
            format!("target dropped the connection: {protocol}")
        }
        tungstenite::Error::Io(io) => format!("target dropped the connection: {io}"),
        other => format!("target connection failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_frames_carry_what_can_be_sent() {
        assert_eq!(close_frame(close_code::NO_STATUS, ""), None);
        let frame = close_frame(4001, "bye").expect("a frame");
        assert_eq!(u16::from(frame.code), 4001);
        assert_eq!(frame.reason.as_str(), "bye");
        let frame = close_frame(close_code::ABNORMAL, "").expect("a frame");
        assert_eq!(u16::from(frame.code), close_code::NORMAL);
        let long = "é".repeat(100);
        let frame = close_frame(1000, &long).expect("a frame");
        assert!(frame.reason.len() <= MAX_CLOSE_REASON_BYTES);
    }
}
