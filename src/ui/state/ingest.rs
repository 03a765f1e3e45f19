//! Engine events into the models: drained time boxed (so a flood of frames
//! cannot freeze the window), fanned out to each model's `on_event`, plus
//! the periodic refresh of traffic counters, rates and service states.
//!
//! A flood (events pouring in faster than anyone reads them) paces the
//! window: a few frames a second, each ingesting for a slice of time in
//! proportion to the time since the last one, so the window takes a small
//! share of a CPU the server needs. The UI's subscription is lossy: what the
//! window does not take is overwritten on the bus and counted as skipped
//! (the log, the recorder and `--record` subscribe on their own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::AppState;
use crate::core::bus::{BusMessage, Subscription};
use crate::core::events::Event;
use crate::engine::EngineHandle;
use crate::ui::model::timeline::{Direction, EntryBody};

/// Time one frame may spend ingesting events when no flood pours in.
pub const INGEST_BUDGET: Duration = Duration::from_millis(8);

/// Events a second past which the window is flooded. Rows scroll by faster
/// than a person reads at a tenth of this; the window then shows a sample
/// a few times a second instead of every event 60 times a second.
pub const FLOOD_EVENTS_PER_SECOND: u64 = 1_000;

/// Time between frames during a flood (5 a second). Input (clicks, typing)
/// still wakes the window at once.
pub const FLOOD_FRAME_INTERVAL: Duration = Duration::from_millis(200);

/// The share of the time since the last frame that a frame may spend
/// ingesting during a flood (1/100: 2 ms a frame at 5 frames a second),
/// whatever wakes the frames.
const FLOOD_INGEST_SHARE: u32 = 100;

/// How often live traffic counters and service states are refreshed.
const TRAFFIC_REFRESH: Duration = Duration::from_millis(500);

/// Events between two looks at the clock while ingesting.
const EVENTS_PER_CLOCK_CHECK: usize = 64;

/// How long after the last event counters and rates keep being refreshed:
/// long enough for the rates to fall back to zero and the last traffic
/// figures to arrive, after which an idle window draws nothing.
const SETTLE_AFTER_EVENTS: Duration = Duration::from_millis(2500);

/// How often the waker looks at the services' states (they change without
/// an event on the bus: a process exits or restarts).
const SERVICES_POLL: Duration = Duration::from_secs(1);

/// The longest the waker waits between a wake-up and its next look at the
/// bus: about one frame.
const WAKER_PAUSE: Duration = Duration::from_millis(15);

/// What the frame after this one needs, from the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestPace {
    /// Nothing waits: the next frame comes when something wakes the window.
    Drained,
    /// Events wait, but no longer pour in: the next frame at once, until
    /// they are drained.
    CatchingUp,
    /// Events pour in faster than anyone reads or the window takes them:
    /// the next frame after [`FLOOD_FRAME_INTERVAL`].
    Flood,
}

/// The engine subscription and refresh timers.
#[derive(Default)]
pub struct Ingest {
    subscription: Option<Subscription>,
    last_traffic_refresh: Option<Instant>,
    last_event_at: Option<Instant>,
    /// When the last frame ingested, and how many events still waited
    /// then: what waits now beyond that arrived in between.
    last_frame: Option<(Instant, u64)>,
    /// Shared with the waker, which leaves the frames to the flood's pace.
    is_flooding: Arc<AtomicBool>,
}

impl Ingest {
    /// Follows `engine`'s events from now on, and wakes the UI when they
    /// arrive.
    pub(crate) fn attach(
        &mut self,
        engine: &EngineHandle,
        runtime: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        self.subscription = Some(engine.subscribe());
        self.last_frame = Some((Instant::now(), 0));
        self.is_flooding = Arc::new(AtomicBool::new(false));
        spawn_repaint_waker(
            runtime,
            engine.clone(),
            repaint,
            Arc::clone(&self.is_flooding),
        );
    }

    /// When the next frame is needed for counters and rates to catch up
    /// with recent traffic; `None` once they have settled.
    pub(crate) fn refresh_due_in(&self, now: Instant) -> Option<Duration> {
        let last_event_at = self.last_event_at?;
        (now.duration_since(last_event_at) < SETTLE_AFTER_EVENTS).then_some(TRAFFIC_REFRESH)
    }

    /// Stops following the engine (it stopped).
    pub(crate) fn detach(&mut self) {
        self.subscription = None;
        self.last_frame = None;
        // Lets the stopped engine's waker stop looking away.
        self.is_flooding.store(false, Ordering::Relaxed);
    }

    /// How many events arrived since the last frame and how long that
    /// took; `None` before the first frame of an engine.
    fn arrivals(&self, now: Instant) -> Option<(u64, Duration)> {
        let (at, waiting_then) = self.last_frame?;
        let waiting = self.subscription.as_ref()?.waiting();
        Some((waiting.saturating_sub(waiting_then), now.duration_since(at)))
    }
}

impl AppState {
    /// One frame's ingest: as much as the frame may take given how fast
    /// events pour in, and what the next frame needs.
    pub fn ingest_frame(&mut self, ingest: &mut Ingest, now: Instant) -> IngestPace {
        let (arrived, elapsed) = ingest.arrivals(now).unwrap_or_default();
        let is_pouring_in = arrived as f64 > FLOOD_EVENTS_PER_SECOND as f64 * elapsed.as_secs_f64();
        let budget = if is_pouring_in {
            (elapsed / FLOOD_INGEST_SHARE).min(INGEST_BUDGET)
        } else {
            INGEST_BUDGET
        };
        let missed_before = self.missed_events;
        let has_more = self.ingest_events(ingest, budget);
        // Lost events say the window fell behind, however it measured the
        // rate (a burst that arrived while it slept).
        let skipped = self.missed_events > missed_before;
        if let Some(subscription) = &ingest.subscription {
            ingest.last_frame = Some((now, subscription.waiting()));
        }
        let pace = if is_pouring_in || skipped {
            IngestPace::Flood
        } else if has_more {
            IngestPace::CatchingUp
        } else {
            IngestPace::Drained
        };
        self.is_flooded = pace == IngestPace::Flood;
        ingest.is_flooding.store(self.is_flooded, Ordering::Relaxed);
        pace
    }

    /// Applies engine events until none are left or the budget is spent.
    /// Returns whether events are still waiting.
    pub fn ingest_events(&mut self, ingest: &mut Ingest, budget: Duration) -> bool {
        let started = Instant::now();
        let mut since_clock_check = 0;
        loop {
            let Some(subscription) = ingest.subscription.as_mut() else {
                return false;
            };
            let Some(message) = subscription.try_recv() else {
                return false;
            };
            if since_clock_check == 0 {
                ingest.last_event_at = Some(Instant::now());
            }
            match message {
                BusMessage::Event(event) => self.apply_event(&event),
                BusMessage::Missed(count) => {
                    self.missed_events += count;
                    self.timeline.push(
                        chrono::Utc::now(),
                        None,
                        Direction::Lifecycle,
                        EntryBody::Missed(count),
                    );
                }
            }
            since_clock_check += 1;
            if since_clock_check == EVENTS_PER_CLOCK_CHECK {
                since_clock_check = 0;
                if started.elapsed() >= budget {
                    return true;
                }
            }
        }
    }

    /// Applies one engine event to the models.
    pub fn apply_event(&mut self, event: &Event) {
        self.connections.on_event(event);
        self.timeline.on_event(event);
        self.logs.on_event(event);
        self.approvals.on_event(event);
        self.kv.on_event(event);
        if self.script.on_event(event) {
            self.load_script_file();
        }
    }

    /// Refreshes traffic counters and service states and samples rates
    /// when due.
    pub fn refresh_periodic(&mut self, ingest: &mut Ingest, now: Instant) {
        let Some(engine) = &self.engine else { return };
        if ingest
            .last_traffic_refresh
            .is_none_or(|at| now.duration_since(at) >= TRAFFIC_REFRESH)
        {
            ingest.last_traffic_refresh = Some(now);
            self.connections.refresh_traffic(&engine.traffic());
            // A few processes' states: cheap enough at this pace.
            self.services.summaries = engine.services();
        }
        if self.rates.is_due(now) {
            let open = self.connections.open_count();
            self.rates.sample(now, engine.totals(), open);
        }
    }
}

/// Wakes the UI when events arrive, at most about once per frame, and when
/// a service's state changes. Nothing else wakes an idle window. During a
/// flood the window paces its own frames, and the waker only keeps up.
fn spawn_repaint_waker(
    runtime: &tokio::runtime::Handle,
    engine: EngineHandle,
    repaint: Arc<dyn Fn() + Send + Sync>,
    is_flooding: Arc<AtomicBool>,
) {
    let mut subscription = engine.subscribe();
    runtime.spawn(async move {
        let mut services = engine.services();
        let mut services_poll = tokio::time::interval(SERVICES_POLL);
        loop {
            tokio::select! {
                received = subscription.recv() => {
                    if received.is_none() {
                        return;
                    }
                    let wake = || {
                        if !is_flooding.load(Ordering::Relaxed) {
                            repaint();
                        }
                    };
                    wake();
                    tokio::time::sleep(WAKER_PAUSE).await;
                    if is_flooding.load(Ordering::Relaxed) {
                        // Taking every event of a flood cost the server's
                        // threads a lock and two reference counts each: look
                        // away until the window says the flood is over.
                        while is_flooding.load(Ordering::Relaxed) {
                            tokio::time::sleep(FLOOD_FRAME_INTERVAL).await;
                        }
                        subscription.skip_waiting();
                        continue;
                    }
                    // One wake-up stands for everything that arrived while
                    // it paused: taking them one per pause left the waker a
                    // minute behind a burst, waking an idle window 4 times a
                    // second long after the traffic ended. They get a frame
                    // of their own: the last one may have come before them.
                    let mut has_arrived = false;
                    while subscription.try_recv().is_some() {
                        has_arrived = true;
                    }
                    if has_arrived {
                        wake();
                    }
                }
                _ = services_poll.tick() => {
                    let now = engine.services();
                    if now != services {
                        services = now;
                        repaint();
                    }
                }
            }
        }
    });
}
