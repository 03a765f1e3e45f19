//! The event bus: one publisher (the engine), any number of subscribers.
//!
//! Publishing never waits. A *lossy* subscriber (the UI) reads from a
//! bounded ring; if it falls behind it loses the oldest events and is told
//! how many. A *lossless* subscriber (the recorder) gets every event through
//! an unbounded queue: it must keep up on average, but a burst never blocks
//! the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;
use tokio::sync::{broadcast, mpsc};

use super::events::{Event, FrameDirection};
use super::frame_sampler::FrameSampler;
use super::logging::HiddenMessages;

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum BusMessage {
    /// The next event.
    Event(Arc<Event>),
    /// This subscriber fell behind and this many events were dropped for it.
    Missed(u64),
}

/// Cheaply cloneable handle to publish and subscribe.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    lossy: broadcast::Sender<Arc<Event>>,
    /// Lossy subscribers, counted here: the broadcast's own count takes
    /// its lock, and [`EventBus::is_observed`] is asked for every frame.
    lossy_subscribers: Arc<AtomicUsize>,
    /// What was published before anyone listened (a script's top-level
    /// `console.log`, "declared, not served"): displays that subscribe get
    /// it first, so the log starts where the script did.
    before_anyone: parking_lot::Mutex<Vec<Arc<Event>>>,
    lossless: RwLock<Vec<mpsc::UnboundedSender<Arc<Event>>>>,
    lossless_count: AtomicUsize,
    /// Lossy subscribers that show every frame (all but the sampled log).
    frame_watchers: Arc<AtomicUsize>,
    /// The frames a log-only bus leaves out.
    frames: FrameSampler,
}

impl EventBus {
    /// A bus whose lossy subscribers can lag by at most `lossy_capacity` events.
    pub fn new(lossy_capacity: usize) -> Self {
        let (lossy, _) = broadcast::channel(lossy_capacity.max(1));
        Self {
            inner: Arc::new(BusInner {
                lossy,
                lossy_subscribers: Arc::new(AtomicUsize::new(0)),
                before_anyone: parking_lot::Mutex::new(Vec::new()),
                lossless: RwLock::new(Vec::new()),
                lossless_count: AtomicUsize::new(0),
                frame_watchers: Arc::new(AtomicUsize::new(0)),
                frames: FrameSampler::new(),
            }),
        }
    }

    /// Whether anyone listens. Publishers check this before building
    /// expensive events (previews, copies) on the hot path.
    pub fn is_observed(&self) -> bool {
        self.inner.lossy_subscribers.load(Ordering::Relaxed) > 0
            || self.inner.lossless_count.load(Ordering::Relaxed) > 0
    }

    /// Publishes a frame's event, built only if someone gets it: every
    /// frame when a subscriber shows or records them all, a few a second
    /// (the rest counted, see [`EventBus::take_hidden_frames`]) when only a
    /// sampled log listens, none when nobody does.
    pub fn publish_frame(&self, direction: FrameDirection, event: impl FnOnce() -> Event) {
        let watches_every_frame = self.inner.frame_watchers.load(Ordering::Relaxed) > 0
            || self.inner.lossless_count.load(Ordering::Relaxed) > 0;
        if watches_every_frame || (self.is_observed() && self.inner.frames.admit(direction)) {
            // Someone listens (just checked): no second look under the
            // broadcast's lock, on the path of every frame.
            self.deliver(event());
        }
    }

    /// The frames [`EventBus::publish_frame`] left out since the last call.
    pub fn take_hidden_frames(&self) -> HiddenMessages {
        self.inner.frames.take_hidden()
    }

    /// Delivers `event` to every subscriber without waiting.
    pub fn publish(&self, event: Event) {
        if !self.is_observed() {
            // Nobody displays events (`serve --quiet`), but problems must
            // still reach the log.
            if event.is_problem() {
                super::logging::log_event(&event);
            } else {
                let mut early = self.inner.before_anyone.lock();
                if early.len() < BEFORE_ANYONE_EVENTS {
                    early.push(Arc::new(event));
                }
            }
            return;
        }
        self.deliver(event);
    }

    /// Hands `event` to the subscribers there are.
    fn deliver(&self, event: Event) {
        let event = Arc::new(event);
        if self.inner.lossless_count.load(Ordering::Relaxed) > 0 {
            let mut any_gone = false;
            for sender in self.inner.lossless.read().iter() {
                any_gone |= sender.send(Arc::clone(&event)).is_err();
            }
            if any_gone {
                let mut senders = self.inner.lossless.write();
                senders.retain(|sender| !sender.is_closed());
                self.inner
                    .lossless_count
                    .store(senders.len(), Ordering::Relaxed);
            }
        }
        // An error only means no lossy subscriber right now.
        let _ = self.inner.lossy.send(event);
    }

    /// A subscriber that may lose events when it lags (for displays). It
    /// first gets what was published before anyone listened.
    pub fn subscribe(&self) -> Subscription {
        self.inner.frame_watchers.fetch_add(1, Ordering::Relaxed);
        self.lossy(Some(Arc::clone(&self.inner.frame_watchers)))
    }

    /// A display that gets frames only as a sampled log shows them (a few a
    /// second per direction); the rest are counted by the bus.
    pub fn subscribe_sampled(&self) -> Subscription {
        self.lossy(None)
    }

    fn lossy(&self, counted_in: Option<Arc<AtomicUsize>>) -> Subscription {
        let receiver = self.inner.lossy.subscribe();
        self.inner.lossy_subscribers.fetch_add(1, Ordering::Relaxed);
        let early = self.inner.before_anyone.lock().iter().cloned().collect();
        Subscription::Lossy(LossyReceiver {
            receiver,
            early,
            counted_in,
            subscribers: Arc::clone(&self.inner.lossy_subscribers),
        })
    }

    /// A subscriber that receives every event (for recorders).
    pub fn subscribe_lossless(&self) -> Subscription {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut senders = self.inner.lossless.write();
        senders.push(sender);
        self.inner
            .lossless_count
            .store(senders.len(), Ordering::Relaxed);
        Subscription::Lossless(receiver)
    }
}

/// How many events before the first subscriber are kept for displays.
const BEFORE_ANYONE_EVENTS: usize = 256;

/// One subscriber's end of the bus.
pub enum Subscription {
    /// May report [`BusMessage::Missed`]; starts with the events published
    /// before anyone listened.
    Lossy(LossyReceiver),
    /// Never misses an event.
    Lossless(mpsc::UnboundedReceiver<Arc<Event>>),
}

/// A display's end of the bus.
pub struct LossyReceiver {
    receiver: broadcast::Receiver<Arc<Event>>,
    early: std::collections::VecDeque<Arc<Event>>,
    /// The count of frame watchers it is in, if it watches every frame.
    counted_in: Option<Arc<AtomicUsize>>,
    /// The count of lossy subscribers.
    subscribers: Arc<AtomicUsize>,
}

impl Drop for LossyReceiver {
    fn drop(&mut self) {
        if let Some(watchers) = &self.counted_in {
            watchers.fetch_sub(1, Ordering::Relaxed);
        }
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    /// Waits for the next message; `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<BusMessage> {
        match self {
            Subscription::Lossy(LossyReceiver { early, .. }) if !early.is_empty() => {
                early.pop_front().map(BusMessage::Event)
            }
            Subscription::Lossy(LossyReceiver { receiver, .. }) => match receiver.recv().await {
                Ok(event) => Some(BusMessage::Event(event)),
                Err(broadcast::error::RecvError::Lagged(count)) => Some(BusMessage::Missed(count)),
                Err(broadcast::error::RecvError::Closed) => None,
            },
            Subscription::Lossless(receiver) => receiver.recv().await.map(BusMessage::Event),
        }
    }

    /// The next message if one is ready; never waits (for UI frames).
    pub fn try_recv(&mut self) -> Option<BusMessage> {
        match self {
            Subscription::Lossy(LossyReceiver { early, .. }) if !early.is_empty() => {
                early.pop_front().map(BusMessage::Event)
            }
            Subscription::Lossy(LossyReceiver { receiver, .. }) => match receiver.try_recv() {
                Ok(event) => Some(BusMessage::Event(event)),
                Err(broadcast::error::TryRecvError::Lagged(count)) => {
                    Some(BusMessage::Missed(count))
                }
                Err(_) => None,
            },
            Subscription::Lossless(receiver) => receiver.try_recv().ok().map(BusMessage::Event),
        }
    }

    /// Drops what waits: the subscriber goes on from the next event
    /// published (a display that stopped looking during a flood). Costs
    /// about what taking the waiting events would (the lossy ring counts
    /// each one off), once.
    pub fn skip_waiting(&mut self) {
        match self {
            Subscription::Lossy(LossyReceiver {
                receiver, early, ..
            }) => {
                early.clear();
                *receiver = receiver.resubscribe();
            }
            Subscription::Lossless(receiver) => while receiver.try_recv().is_ok() {},
        }
    }

    /// Events published for this subscriber and not taken yet, those a
    /// lagging lossy subscriber will be told it missed included. Counts
    /// without taking (a display measures how fast events pour in).
    pub fn waiting(&self) -> u64 {
        match self {
            Subscription::Lossy(LossyReceiver {
                receiver, early, ..
            }) => (receiver.len() + early.len()) as u64,
            Subscription::Lossless(receiver) => receiver.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn stopped() -> Event {
        Event::Stopped { at: Utc::now() }
    }

    #[tokio::test]
    async fn lagging_lossy_subscriber_is_told_how_many_it_missed() {
        let bus = EventBus::new(4);
        let mut lossy = bus.subscribe();
        let mut lossless = bus.subscribe_lossless();
        for _ in 0..10 {
            bus.publish(stopped());
        }
        assert_eq!(lossy.waiting(), 10, "the missed ones count as waiting");
        assert_eq!(lossless.waiting(), 10);
        assert!(matches!(lossy.try_recv(), Some(BusMessage::Missed(6))));
        assert_eq!(lossy.waiting(), 4);
        let mut lossy_events = 0;
        while let Some(BusMessage::Event(_)) = lossy.try_recv() {
            lossy_events += 1;
        }
        assert_eq!(lossy_events, 4);
        let mut lossless_events = 0;
        while let Some(BusMessage::Event(_)) = lossless.try_recv() {
            lossless_events += 1;
        }
        assert_eq!(lossless_events, 10);
    }

    #[tokio::test]
    async fn a_skipping_subscriber_goes_on_from_the_next_event_and_others_keep_theirs() {
        let bus = EventBus::new(4);
        let mut skipping = bus.subscribe();
        let mut other = bus.subscribe();
        bus.publish(stopped());
        bus.publish(stopped());
        skipping.skip_waiting();
        assert_eq!(skipping.waiting(), 0);
        assert!(skipping.try_recv().is_none(), "nothing waits after a skip");
        bus.publish(stopped());
        assert!(matches!(skipping.try_recv(), Some(BusMessage::Event(_))));
        assert!(skipping.try_recv().is_none());
        assert_eq!(other.waiting(), 3, "a skip is the skipper's own");
        let mut others = 0;
        while let Some(BusMessage::Event(_)) = other.try_recv() {
            others += 1;
        }
        assert_eq!(others, 3);
    }

    #[tokio::test]
    async fn a_display_gets_what_was_said_before_it_listened() {
        let bus = EventBus::new(4);
        bus.publish(stopped());
        let mut early = bus.subscribe();
        bus.publish(stopped());
        assert!(matches!(early.try_recv(), Some(BusMessage::Event(_))));
        assert!(matches!(early.try_recv(), Some(BusMessage::Event(_))));
        assert!(early.try_recv().is_none());
        let mut recorder = bus.subscribe_lossless();
        assert!(recorder.try_recv().is_none(), "recorders start empty");
    }

    fn frame_in() -> Event {
        Event::FrameIn {
            connection_id: uuid::Uuid::nil(),
            payload: super::super::events::Payload::Text("hi".into()),
            at: Utc::now(),
        }
    }

    fn frames_received(subscription: &mut Subscription) -> usize {
        let mut frames = 0;
        while let Some(BusMessage::Event(event)) = subscription.try_recv() {
            frames += usize::from(matches!(event.as_ref(), Event::FrameIn { .. }));
        }
        frames
    }

    #[tokio::test]
    async fn a_sampled_log_alone_gets_a_few_frames_and_the_rest_are_counted() {
        let bus = EventBus::new(4096);
        let mut log = bus.subscribe_sampled();
        let mut built = 0;
        for _ in 0..1_000 {
            bus.publish_frame(FrameDirection::In, || {
                built += 1;
                frame_in()
            });
        }
        let budget = super::super::logging::MESSAGE_LINES_PER_SECOND as usize;
        assert_eq!(built, budget, "events are built only for what is shown");
        assert_eq!(frames_received(&mut log), budget);
        assert_eq!(bus.take_hidden_frames().in_count, (1_000 - budget) as u64);

        // A display that shows every frame turns the sampling off, for both.
        let mut window = bus.subscribe();
        for _ in 0..1_000 {
            bus.publish_frame(FrameDirection::In, frame_in);
        }
        assert_eq!(frames_received(&mut window), 1_000);
        assert_eq!(frames_received(&mut log), 1_000);
        drop(window);
        bus.publish_frame(FrameDirection::In, frame_in);
        assert_eq!(bus.take_hidden_frames().in_count, 1, "sampling again");
    }

    #[tokio::test]
    async fn dropped_lossless_subscriber_stops_counting() {
        let bus = EventBus::new(4);
        assert!(!bus.is_observed());
        let lossless = bus.subscribe_lossless();
        assert!(bus.is_observed());
        drop(lossless);
        bus.publish(stopped());
        assert!(!bus.is_observed());
    }

    #[tokio::test]
    async fn lossy_subscribers_count_until_dropped_skipping_included() {
        let bus = EventBus::new(4);
        let mut display = bus.subscribe();
        let log = bus.subscribe_sampled();
        display.skip_waiting();
        drop(display);
        assert!(bus.is_observed(), "the sampled log still listens");
        drop(log);
        assert!(!bus.is_observed());
    }
}
