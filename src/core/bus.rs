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

    /// A subscriber that may lose events when it lags (for displays).
    pub fn subscribe(&self) -> Subscription {
        Subscription::Lossy(self.inner.lossy.subscribe())
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

/// One subscriber's end of the bus.
pub enum Subscription {
    /// May report [`BusMessage::Missed`].
    Lossy(broadcast::Receiver<Arc<Event>>),
    /// Never misses an event.
    Lossless(mpsc::UnboundedReceiver<Arc<Event>>),
}

impl Subscription {
    /// Waits for the next message; `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<BusMessage> {
        match self {
            Subscription::Lossy(receiver) => match receiver.recv().await {
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
            Subscription::Lossy(receiver) => match receiver.try_recv() {
                Ok(event) => Some(BusMessage::Event(event)),
                Err(broadcast::error::TryRecvError::Lagged(count)) => {
                    Some(BusMessage::Missed(count))
                }
                Err(_) => None,
            },
            Subscription::Lossless(receiver) => receiver.try_recv().ok().map(BusMessage::Event),
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
        assert!(matches!(lossy.try_recv(), Some(BusMessage::Missed(6))));
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
