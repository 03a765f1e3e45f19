//! A connection's outbound side: a byte-bounded queue of frames plus a
//! one-shot close request, shared by the script thread, commands and the
//! connection's writer task. Pings and pongs that a proxied connection's
//! target sent travel in the same queue, in order with its frames.
//!
//! The bound is on a backlog, not on a reading client: a sender that finds
//! the queue full may wait while the writer takes frames (as a write under
//! `nitric start` waits for the socket), and only a client that takes
//! nothing for [`NOT_READING_AFTER`] is closed with 1008.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::close_code;
use super::delivery::{Delivery, WriteMeter};
use super::events::{ClosedBy, Payload};

/// Per-frame bookkeeping charged against the queue limit, so that a flood of
/// empty frames is bounded too.
const FRAME_OVERHEAD_BYTES: usize = 64;

/// A send that finds the queue full waits for the client to take frames
/// from it, as a send under `nitric start` waits for its write. A client
/// that takes nothing for this long while the queue is full is not reading,
/// and is closed with 1008. (Shorter than the default handler timeout, so
/// the handler that waited hears why.)
pub const NOT_READING_AFTER: Duration = Duration::from_millis(500);

/// How often a waiting send looks again without being woken (a safety net
/// for a wake-up that raced with the waiter's arrival).
const ROOM_POLL: Duration = Duration::from_millis(5);

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
    /// Frames the writer has taken so far: a waiting send's sign that the
    /// client reads (the queue's size alone can stay level while it does).
    taken_frames: AtomicU64,
    /// What the client has taken from the socket: a client on a slow link
    /// takes a large frame, or a batch of them, over seconds, and reads all
    /// along.
    delivery: Arc<Delivery>,
    /// Frames put in the channel so far; the rest of the queued bytes are
    /// reservations (replies held for a kv commit), not the client's to take.
    sent_frames: AtomicU64,
    /// Sends waiting for room, and their wake-up when the writer takes a frame.
    room_waiters: AtomicUsize,
    room: Notify,
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

/// Bytes charged by [`Outbound::try_reserve`] for one frame not yet queued.
#[derive(Debug)]
#[must_use = "a reservation holds queue bytes until its frame is sent"]
pub struct Reserved {
    charge: usize,
}

/// The writer task's end of an [`Outbound`].
pub struct OutboundReceiver {
    frames: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<OutboundShared>,
    taken_frames: u64,
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
        taken_frames: AtomicU64::new(0),
        delivery: Arc::default(),
        sent_frames: AtomicU64::new(0),
        room_waiters: AtomicUsize::new(0),
        room: Notify::new(),
    });
    (
        Outbound {
            frames,
            shared: Arc::clone(&shared),
        },
        OutboundReceiver {
            frames: receiver,
            shared,
            taken_frames: 0,
        },
    )
}

impl Outbound {
    /// Queues a frame without waiting; a full queue closes the connection
    /// with 1008 at once. (Tests only: every sender waits for room.)
    #[cfg(test)]
    pub fn send(&self, payload: Payload) -> Result<(), QueueError> {
        let reserved = self.reserve(payload.len_bytes())?;
        self.send_reserved(reserved, payload)
    }

    /// [`Outbound::try_reserve`], but a full queue closes the connection
    /// with 1008 at once. (Tests only.)
    #[cfg(test)]
    pub fn reserve(&self, len_bytes: usize) -> Result<Reserved, QueueError> {
        match self.try_reserve(len_bytes)? {
            Some(reserved) => Ok(reserved),
            None => Err(self.close_as_not_reading()),
        }
    }

    /// Charges a frame of `len_bytes` if the queue has room for it now, to
    /// be queued with [`Outbound::send_reserved`] (at once, or once the kv
    /// writes a reply depends on are durable); `None` if it has not
    /// (nothing is charged and nothing closes). Behind a frame held at a
    /// breakpoint a full queue is an error instead: the client is not to
    /// blame, and the wait could be long.
    ///
    /// The limit bounds a backlog, not a message: a frame that finds the
    /// queue empty is always taken, however large, so a client that reads
    /// is never refused one reply bigger than the limit (a 16 MiB echo under
    /// the default 16 MiB limit, whose frame overhead tips it over). Memory
    /// stays bounded by the limit plus one message: the next frame waits
    /// while that one is written.
    pub fn try_reserve(&self, len_bytes: usize) -> Result<Option<Reserved>, QueueError> {
        if self.shared.is_closing() {
            return Err(QueueError::Closed);
        }
        let charge = len_bytes + FRAME_OVERHEAD_BYTES;
        let before = self.shared.queued_bytes.fetch_add(charge, Ordering::AcqRel);
        if before > 0 && before + charge > self.shared.limit_bytes {
            self.shared.queued_bytes.fetch_sub(charge, Ordering::AcqRel);
            if self.shared.is_held.load(Ordering::Acquire) {
                return Err(QueueError::FullWhileHeld {
                    limit_bytes: self.shared.limit_bytes,
                });
            }
            return Ok(None);
        }
        Ok(Some(Reserved { charge }))
    }

    /// Closes the connection with 1008 as one whose client does not read,
    /// and returns the error its senders get.
    pub fn close_as_not_reading(&self) -> QueueError {
        self.request_close(CloseRequest {
            code: close_code::POLICY_VIOLATION,
            reason: "client is not reading: outbound queue full".to_owned(),
            by: ClosedBy::Server,
        });
        QueueError::Full {
            limit_bytes: self.shared.limit_bytes,
        }
    }

    /// Queues a frame, waiting while the queue is full and the client takes
    /// frames from it (a send under `nitric start` waits for its write in
    /// the same way). A client that takes nothing for [`NOT_READING_AFTER`]
    /// is closed with 1008. Behind a frame held at a breakpoint a full queue
    /// refuses at once.
    pub async fn send_when_room(&self, payload: Payload) -> Result<(), QueueError> {
        self.queue_when_room(Outgoing::Frame(payload), WhileHeld::Refuse)
            .await
    }

    /// [`Outbound::send_when_room`] for a relay (the proxy): behind a frame
    /// held at a breakpoint it waits too, for as long as the hold lasts, so
    /// the far side is slowed down instead of losing frames.
    pub async fn relay_when_room(&self, payload: Payload) -> Result<(), QueueError> {
        self.queue_when_room(Outgoing::Frame(payload), WhileHeld::Wait)
            .await
    }

    /// A ping or pong for [`Outbound::relay_when_room`].
    pub async fn relay_control_when_room(&self, control: Control) -> Result<(), QueueError> {
        self.queue_when_room(Outgoing::Control(control), WhileHeld::Wait)
            .await
    }

    async fn queue_when_room(
        &self,
        outgoing: Outgoing,
        while_held: WhileHeld,
    ) -> Result<(), QueueError> {
        let len_bytes = outgoing.len_bytes();
        let room = |outbound: &Self| match (outbound.try_reserve(len_bytes), while_held) {
            (Err(QueueError::FullWhileHeld { .. }), WhileHeld::Wait) => Ok(None),
            (room, _) => room,
        };
        if let Some(reserved) = room(self)? {
            return self.queue(reserved, outgoing);
        }
        let _waiting = RoomWaiter::count(&self.shared);
        let mut drain = DrainWatch::new(self, Instant::now());
        loop {
            let woken = self.shared.room.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(reserved) = room(self)? {
                return self.queue(reserved, outgoing);
            }
            let now = Instant::now();
            // A held frame is the user's doing, not the client's.
            if self.shared.is_held.load(Ordering::Acquire) {
                drain = DrainWatch::new(self, now);
            } else if drain.is_stalled(self, now) {
                return Err(self.close_as_not_reading());
            }
            let look_again = drain.deadline().min(now + ROOM_POLL);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep_until(look_again.into()) => {}
                () = self.shared.closing.cancelled() => return Err(QueueError::Closed),
            }
        }
    }

    /// Queues a ping or pong for the client, behind the frames queued
    /// before it; bounded by the same limit, closing at once when full.
    /// (Tests only.)
    #[cfg(test)]
    pub fn send_control(&self, control: Control) -> Result<(), QueueError> {
        let outgoing = Outgoing::Control(control);
        let reserved = self.reserve(outgoing.len_bytes())?;
        self.queue(reserved, outgoing)
    }

    /// Queues a frame whose bytes [`Outbound::try_reserve`] already charged.
    pub fn send_reserved(&self, reserved: Reserved, payload: Payload) -> Result<(), QueueError> {
        self.queue(reserved, Outgoing::Frame(payload))
    }

    fn queue(&self, reserved: Reserved, outgoing: Outgoing) -> Result<(), QueueError> {
        debug_assert_eq!(reserved.charge, outgoing.len_bytes() + FRAME_OVERHEAD_BYTES);
        // Counted before the writer can take it, so never fewer than taken.
        self.shared.sent_frames.fetch_add(1, Ordering::Relaxed);
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

    /// Frames the writer has taken from the queue so far.
    fn taken_frames(&self) -> u64 {
        self.shared.taken_frames.load(Ordering::Relaxed)
    }

    /// Frames waiting in the channel for the writer (not reservations).
    pub fn frames_waiting(&self) -> u64 {
        self.shared
            .sent_frames
            .load(Ordering::Relaxed)
            .saturating_sub(self.taken_frames())
    }

    /// Whether frames wait in the channel for the writer (and not only
    /// reservations).
    fn has_frames_waiting(&self) -> bool {
        self.frames_waiting() > 0
    }
}

/// What a waiting send does behind a frame held at a breakpoint.
#[derive(Clone, Copy)]
enum WhileHeld {
    Refuse,
    Wait,
}

/// Counts a waiting send for as long as it waits, so the writer wakes it.
struct RoomWaiter<'a>(&'a OutboundShared);

impl<'a> RoomWaiter<'a> {
    fn count(shared: &'a OutboundShared) -> Self {
        shared.room_waiters.fetch_add(1, Ordering::AcqRel);
        Self(shared)
    }
}

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        self.0.room_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a client whose queue is full still reads: it does while the
/// writer keeps taking frames, or the socket keeps taking the bytes of the
/// ones it took (a slow link).
#[derive(Debug)]
pub struct DrainWatch {
    taken_frames: u64,
    delivered_bytes: u64,
    since: Instant,
}

impl DrainWatch {
    /// Starts watching `outbound` at `now`.
    pub fn new(outbound: &Outbound, now: Instant) -> Self {
        Self {
            taken_frames: outbound.taken_frames(),
            delivered_bytes: outbound.shared.delivery.delivered_bytes(),
            since: now,
        }
    }

    /// Whether neither the writer nor the client has taken anything for
    /// [`NOT_READING_AFTER`] while frames waited. (A queue full of replies
    /// held for a slow kv commit is not the client's doing.)
    pub fn is_stalled(&mut self, outbound: &Outbound, now: Instant) -> bool {
        let taken_frames = outbound.taken_frames();
        if taken_frames != self.taken_frames || !outbound.has_frames_waiting() {
            self.taken_frames = taken_frames;
            self.since = now;
        } else {
            // Only asked while frames wait: it may cost a system call.
            let delivered_bytes = outbound.shared.delivery.delivered_bytes();
            if delivered_bytes != self.delivered_bytes {
                self.delivered_bytes = delivered_bytes;
                self.since = now;
            }
        }
        now.duration_since(self.since) >= NOT_READING_AFTER
    }

    /// When the client counts as not reading unless the writer takes a frame.
    pub fn deadline(&self) -> Instant {
        self.since + NOT_READING_AFTER
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

    fn release(&mut self, outgoing: &Outgoing) {
        self.shared.queued_bytes.fetch_sub(
            outgoing.len_bytes() + FRAME_OVERHEAD_BYTES,
            Ordering::AcqRel,
        );
        self.taken_frames += 1;
        self.shared
            .taken_frames
            .store(self.taken_frames, Ordering::Relaxed);
        if self.shared.room_waiters.load(Ordering::Acquire) > 0 {
            self.shared.room.notify_waiters();
        }
    }

    /// What the socket under the writer reports its writes to.
    pub fn write_meter(&self) -> WriteMeter {
        WriteMeter::new(Arc::clone(&self.shared.delivery))
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
#[path = "outbound_tests.rs"]
mod tests;
