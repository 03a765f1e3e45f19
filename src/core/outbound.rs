//! A connection's outbound side: a byte-bounded queue of frames plus a
//! one-shot close request, shared by the script thread, commands and the
//! connection's writer task. Pings and pongs that a proxied connection's
//! target sent travel in the same queue, in order with its frames.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::close_code;
use super::events::{ClosedBy, Payload};

/// Per-frame bookkeeping charged against the queue limit, so that a flood of
/// empty frames is bounded too.
const FRAME_OVERHEAD_BYTES: usize = 64;

/// A ping or pong passed on to the client from the far side of a proxied
/// connection (the engine's own answers to the client's pings are not
/// queued: the websocket library sends them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Ping(Bytes),
    Pong(Bytes),
}

/// What the writer takes out of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A data frame: held by breakpoints, counted, shown and recorded.
    Frame(Payload),
    /// Written as it is, in its place among the frames.
    Control(Control),
}

impl Outgoing {
    fn len_bytes(&self) -> usize {
        match self {
            Outgoing::Frame(payload) => payload.len_bytes(),
            Outgoing::Control(Control::Ping(data) | Control::Pong(data)) => data.len(),
        }
    }
}

/// Why and how a connection should be closed by the server side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseRequest {
    /// Close code sent to the client.
    pub code: u16,
    /// Close reason sent to the client (at most 123 bytes are sent).
    pub reason: String,
    pub by: ClosedBy,
}

/// Why a frame could not be queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// The connection is closing or closed.
    #[error("connection is closed")]
    Closed,
    /// The client is not reading; the connection is being closed with 1008.
    #[error("outbound queue full ({limit_bytes} bytes): client is not reading; closing with 1008")]
    Full { limit_bytes: usize },
    /// The queue filled behind a frame held at a breakpoint: the client is
    /// not to blame, so this frame is refused and the connection stays.
    #[error(
        "outbound queue full ({limit_bytes} bytes) behind a message held at a breakpoint; this message is refused, the connection stays open"
    )]
    FullWhileHeld { limit_bytes: usize },
}

/// Cloneable handle that queues frames to one client.
#[derive(Clone)]
pub struct Outbound {
    frames: mpsc::UnboundedSender<Outgoing>,
    shared: Arc<OutboundShared>,
}

struct OutboundShared {
    queued_bytes: AtomicUsize,
    limit_bytes: usize,
    close: OnceLock<CloseRequest>,
    /// For waiting. Cancelled only through [`OutboundShared::mark_closing`],
    /// which sets `is_closing` first.
    closing: CancellationToken,
    /// Mirrors `closing` for the checks made on every frame: one atomic load,
    /// where the token's `is_cancelled` takes a mutex that the script thread
    /// and the socket thread then contend for (1.3% of the script thread's
    /// samples in a trickle echo profile).
    is_closing: AtomicBool,
    /// The writer waits on a frame held at a breakpoint.
    is_held: AtomicBool,
}

impl OutboundShared {
    fn mark_closing(&self) {
        self.is_closing.store(true, Ordering::Release);
        self.closing.cancel();
    }

    fn is_closing(&self) -> bool {
        self.is_closing.load(Ordering::Acquire)
    }
}

/// A connection's closing signal, for its reader and writer: cancelling it
/// stops senders from queueing and the writer from writing.
#[derive(Clone)]
pub struct Closing {
    shared: Arc<OutboundShared>,
}

impl Closing {
    pub fn cancel(&self) {
        self.shared.mark_closing();
    }

    pub fn is_cancelled(&self) -> bool {
        self.shared.is_closing()
    }

    /// Completes once the connection is closing.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.shared.closing.cancelled()
    }
}

/// Bytes charged by [`Outbound::reserve`] for one frame not yet queued.
#[derive(Debug)]
#[must_use = "a reservation holds queue bytes until its frame is sent"]
pub struct Reserved {
    charge: usize,
}

/// The writer task's end of an [`Outbound`].
pub struct OutboundReceiver {
    frames: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<OutboundShared>,
}

/// A new outbound queue holding at most `limit_bytes` of unsent frames.
pub fn outbound_queue(limit_bytes: usize) -> (Outbound, OutboundReceiver) {
    let (frames, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(OutboundShared {
        queued_bytes: AtomicUsize::new(0),
        limit_bytes,
        close: OnceLock::new(),
        closing: CancellationToken::new(),
        is_closing: AtomicBool::new(false),
        is_held: AtomicBool::new(false),
    });
    (
        Outbound {
            frames,
            shared: Arc::clone(&shared),
        },
        OutboundReceiver {
            frames: receiver,
            shared,
        },
    )
}

impl Outbound {
    /// Queues a frame without waiting. Past the byte limit the connection is
    /// asked to close with 1008 and the frame is refused.
    pub fn send(&self, payload: Payload) -> Result<(), QueueError> {
        let reserved = self.reserve(payload.len_bytes())?;
        self.send_reserved(reserved, payload)
    }

    /// Charges a frame of `len_bytes` against the limit now, to be queued
    /// later with [`Outbound::send_reserved`] (a reply held back until the
    /// writes it depends on are durable). Fails as [`Outbound::send`] would.
    ///
    /// The limit bounds a backlog, not a message: a frame that finds the
    /// queue empty is always taken, however large, so a client that reads is
    /// never closed for one reply bigger than the limit (a 16 MiB echo under
    /// the default 16 MiB limit, whose frame overhead tips it over). Memory
    /// stays bounded by the limit plus one message: the next frame is
    /// refused while that one waits.
    pub fn reserve(&self, len_bytes: usize) -> Result<Reserved, QueueError> {
        if self.shared.is_closing() {
            return Err(QueueError::Closed);
        }
        let charge = len_bytes + FRAME_OVERHEAD_BYTES;
        let before = self.shared.queued_bytes.fetch_add(charge, Ordering::AcqRel);
        if before > 0 && before + charge > self.shared.limit_bytes {
            self.shared.queued_bytes.fetch_sub(charge, Ordering::AcqRel);
            let limit_bytes = self.shared.limit_bytes;
            if self.shared.is_held.load(Ordering::Acquire) {
                return Err(QueueError::FullWhileHeld { limit_bytes });
            }
            self.request_close(CloseRequest {
                code: close_code::POLICY_VIOLATION,
                reason: "client is not reading: outbound queue full".to_owned(),
                by: ClosedBy::Server,
            });
            return Err(QueueError::Full { limit_bytes });
        }
        Ok(Reserved { charge })
    }

    /// Queues a ping or pong for the client, behind the frames queued
    /// before it; bounded by the same limit.
    pub fn send_control(&self, control: Control) -> Result<(), QueueError> {
        let outgoing = Outgoing::Control(control);
        let reserved = self.reserve(outgoing.len_bytes())?;
        self.queue(reserved, outgoing)
    }

    /// Queues a frame whose bytes [`Outbound::reserve`] already charged.
    pub fn send_reserved(&self, reserved: Reserved, payload: Payload) -> Result<(), QueueError> {
        self.queue(reserved, Outgoing::Frame(payload))
    }

    fn queue(&self, reserved: Reserved, outgoing: Outgoing) -> Result<(), QueueError> {
        debug_assert_eq!(reserved.charge, outgoing.len_bytes() + FRAME_OVERHEAD_BYTES);
        self.frames.send(outgoing).map_err(|_| {
            self.shared
                .queued_bytes
                .fetch_sub(reserved.charge, Ordering::AcqRel);
            QueueError::Closed
        })
    }

    /// Gives back the bytes of a reservation whose frame will not be sent.
    pub fn unreserve(&self, reserved: Reserved) {
        self.shared
            .queued_bytes
            .fetch_sub(reserved.charge, Ordering::AcqRel);
    }

    /// Asks the writer to send a close frame and end the connection. The
    /// first request wins; later ones are ignored.
    pub fn request_close(&self, request: CloseRequest) {
        let _ = self.shared.close.set(request);
        self.shared.mark_closing();
    }

    /// Whether a close was requested (by anyone) or the writer is gone.
    pub fn is_closing(&self) -> bool {
        self.shared.is_closing()
    }

    /// The close that was requested, if any.
    pub fn close_request(&self) -> Option<CloseRequest> {
        self.shared.close.get().cloned()
    }

    /// Tells connections apart: equal for clones of one connection's handle.
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Bytes waiting to be written to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Relaxed)
    }
}

impl OutboundReceiver {
    /// The next frame to write, or `None` once a close was requested and
    /// the caller should send [`OutboundReceiver::close_request`].
    pub async fn next(&mut self) -> Option<Outgoing> {
        // A frame already queued needs no waiting (nor the token's mutex).
        if let Some(outgoing) = self.try_next() {
            return Some(outgoing);
        }
        tokio::select! {
            biased;
            () = self.shared.closing.cancelled() => None,
            outgoing = self.frames.recv() => {
                let outgoing = outgoing?;
                self.release(&outgoing);
                Some(outgoing)
            }
        }
    }

    /// A frame that is already queued, without waiting (for write batching).
    pub fn try_next(&mut self) -> Option<Outgoing> {
        if self.shared.is_closing() {
            return None;
        }
        let outgoing = self.frames.try_recv().ok()?;
        self.release(&outgoing);
        Some(outgoing)
    }

    fn release(&self, outgoing: &Outgoing) {
        self.shared.queued_bytes.fetch_sub(
            outgoing.len_bytes() + FRAME_OVERHEAD_BYTES,
            Ordering::AcqRel,
        );
    }

    /// The close that was requested, if any.
    pub fn close_request(&self) -> Option<&CloseRequest> {
        self.shared.close.get()
    }

    /// While the writer holds a frame at a breakpoint, a full queue refuses
    /// frames instead of closing the connection as one that does not read.
    pub fn set_held(&self, is_held: bool) {
        self.shared.is_held.store(is_held, Ordering::Release);
    }

    /// Marks the connection as closing from the reader's side (client
    /// closed or errored), so senders stop queueing and the writer stops.
    pub fn closing(&self) -> Closing {
        Closing {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Payload {
        Payload::Text("x".repeat(len).into())
    }

    fn frame(len: usize) -> Option<Outgoing> {
        Some(Outgoing::Frame(text(len)))
    }

    #[tokio::test]
    async fn behind_a_held_frame_a_full_queue_refuses_without_closing() {
        let (outbound, receiver) = outbound_queue(1000);
        receiver.set_held(true);
        outbound.send(text(600)).expect("the first frame fits");
        assert_eq!(
            outbound.send(text(600)),
            Err(QueueError::FullWhileHeld { limit_bytes: 1000 })
        );
        assert!(
            receiver.close_request().is_none(),
            "the client is not to blame"
        );
        receiver.set_held(false);
        assert_eq!(
            outbound.send(text(600)),
            Err(QueueError::Full { limit_bytes: 1000 })
        );
        assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
    }

    #[tokio::test]
    async fn full_queue_requests_close_1008_and_refuses() {
        let (outbound, mut receiver) = outbound_queue(1000);
        outbound.send(text(500)).expect("first frame fits");
        let refused = outbound.send(text(500));
        assert_eq!(refused, Err(QueueError::Full { limit_bytes: 1000 }));
        assert!(outbound.is_closing());
        assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
        assert_eq!(
            receiver.next().await,
            None,
            "closing wins over queued frames"
        );
        assert_eq!(outbound.send(text(1)), Err(QueueError::Closed));
    }

    #[tokio::test]
    async fn reserved_bytes_count_until_sent_or_given_back() {
        let (outbound, mut receiver) = outbound_queue(1000);
        let held = outbound.reserve(500).expect("fits");
        assert_eq!(outbound.queued_bytes(), 500 + FRAME_OVERHEAD_BYTES);
        let other = outbound.reserve(300).expect("fits");
        outbound.unreserve(other);
        assert_eq!(outbound.queued_bytes(), 500 + FRAME_OVERHEAD_BYTES);
        outbound.send_reserved(held, text(500)).expect("queued");
        assert_eq!(receiver.next().await, frame(500));
        assert_eq!(outbound.queued_bytes(), 0);
        let _held = outbound.reserve(500).expect("fits");
        assert_eq!(
            outbound.reserve(500).map(|_| ()),
            Err(QueueError::Full { limit_bytes: 1000 }),
            "a held frame counts against the limit"
        );
    }

    #[tokio::test]
    async fn one_frame_larger_than_the_limit_is_taken_when_nothing_waits() {
        let (outbound, receiver) = outbound_queue(1000);
        outbound
            .send(text(5000))
            .expect("an empty queue takes any one frame");
        assert!(!outbound.is_closing());
        assert_eq!(
            outbound.send(text(1)),
            Err(QueueError::Full { limit_bytes: 1000 }),
            "behind it, the limit holds"
        );
        assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
    }

    #[tokio::test]
    async fn a_large_frame_after_the_previous_was_written_is_taken() {
        let (outbound, mut receiver) = outbound_queue(1000);
        for _ in 0..3 {
            outbound.send(text(5000)).expect("the queue was drained");
            assert_eq!(receiver.next().await, frame(5000));
        }
        assert_eq!(outbound.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn cancelling_the_closing_signal_stops_senders_and_the_writer() {
        let (outbound, mut receiver) = outbound_queue(1000);
        outbound.send(text(10)).expect("open");
        let closing = receiver.closing();
        assert!(!closing.is_cancelled());
        closing.cancel();
        assert!(closing.is_cancelled() && outbound.is_closing());
        assert_eq!(outbound.send(text(10)), Err(QueueError::Closed));
        assert_eq!(
            receiver.next().await,
            None,
            "closing wins over queued frames"
        );
        closing.cancelled().await;
    }

    #[tokio::test]
    async fn written_frames_free_their_bytes() {
        let (outbound, mut receiver) = outbound_queue(1000);
        for _ in 0..10 {
            outbound
                .send(text(500))
                .expect("fits after the previous was written");
            assert!(receiver.next().await.is_some());
        }
        assert_eq!(outbound.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn pings_and_pongs_keep_their_place_among_frames_and_count() {
        let (outbound, mut receiver) = outbound_queue(1000);
        outbound.send(text(3)).expect("open");
        let ping = Control::Ping(Bytes::from_static(b"p"));
        outbound.send_control(ping.clone()).expect("open");
        outbound.send(text(4)).expect("open");
        assert_eq!(
            outbound.queued_bytes(),
            3 + 1 + 4 + 3 * FRAME_OVERHEAD_BYTES
        );
        assert_eq!(receiver.next().await, frame(3));
        assert_eq!(receiver.next().await, Some(Outgoing::Control(ping)));
        assert_eq!(receiver.next().await, frame(4));
        assert_eq!(outbound.queued_bytes(), 0);
        receiver.closing().cancel();
        assert_eq!(
            outbound.send_control(Control::Pong(Bytes::new())),
            Err(QueueError::Closed)
        );
    }
}
