//! Engine events into the models: drained time boxed (so a flood of frames
//! cannot freeze the window), fanned out to each model's `on_event`, plus
//! the periodic refresh of traffic counters, rates and service states.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::AppState;
use crate::core::bus::{BusMessage, Subscription};
use crate::core::events::Event;
use crate::engine::EngineHandle;
use crate::ui::model::timeline::{Direction, EntryBody};

/// Time one frame may spend ingesting events.
pub const INGEST_BUDGET: Duration = Duration::from_millis(8);

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

/// The engine subscription and refresh timers.
#[derive(Default)]
pub struct Ingest {
    subscription: Option<Subscription>,
    last_traffic_refresh: Option<Instant>,
    last_event_at: Option<Instant>,
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
        spawn_repaint_waker(runtime, engine.clone(), repaint);
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
    }
}

impl AppState {
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
/// a service's state changes. Nothing else wakes an idle window.
fn spawn_repaint_waker(
    runtime: &tokio::runtime::Handle,
    engine: EngineHandle,
    repaint: Arc<dyn Fn() + Send + Sync>,
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
                    repaint();
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    // One wake-up stands for everything that arrived while
                    // it slept: taking them one per sleep left the waker a
                    // minute behind a burst, waking an idle window 4 times a
                    // second long after the traffic ended.
                    while subscription.try_recv().is_some() {}
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
