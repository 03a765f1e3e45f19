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

use super::events::Event;

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
    /// What was published before anyone listened (a script's top-level
    /// `console.log`, "declared, not served"): displays that subscribe get
    /// it first, so the log starts where the script did.
    before_anyone: parking_lot::Mutex<Vec<Arc<Event>>>,
    lossless: RwLock<Vec<mpsc::UnboundedSender<Arc<Event>>>>,
    lossless_count: AtomicUsize,
}

impl EventBus {
    /// A bus whose lossy subscribers can lag by at most `lossy_capacity` events.
    pub fn new(lossy_capacity: usize) -> Self {
        let (lossy, _) = broadcast::channel(lossy_capacity.max(1));
        Self {
            inner: Arc::new(BusInner {
                lossy,
                before_anyone: parking_lot::Mutex::new(Vec::new()),
                lossless: RwLock::new(Vec::new()),
                lossless_count: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether anyone listens. Publishers check this before building
    /// expensive events (previews, copies) on the hot path.
    pub fn is_observed(&self) -> bool {
        self.inner.lossy.receiver_count() > 0
            || self.inner.lossless_count.load(Ordering::Relaxed) > 0
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
        let receiver = self.inner.lossy.subscribe();
        let early = self.inner.before_anyone.lock().iter().cloned().collect();
        Subscription::Lossy(receiver, early)
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
    Lossy(
        broadcast::Receiver<Arc<Event>>,
        std::collections::VecDeque<Arc<Event>>,
    ),
    /// Never misses an event.
    Lossless(mpsc::UnboundedReceiver<Arc<Event>>),
}

impl Subscription {
    /// Waits for the next message; `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<BusMessage> {
        match self {
            Subscription::Lossy(_, early) if !early.is_empty() => {
                early.pop_front().map(BusMessage::Event)
            }
            Subscription::Lossy(receiver, _) => match receiver.recv().await {
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
            Subscription::Lossy(_, early) if !early.is_empty() => {
                early.pop_front().map(BusMessage::Event)
            }
            Subscription::Lossy(receiver, _) => match receiver.try_recv() {
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
            Subscription::Lossy(receiver, early) => {
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
            Subscription::Lossy(receiver, early) => (receiver.len() + early.len()) as u64,
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
}
