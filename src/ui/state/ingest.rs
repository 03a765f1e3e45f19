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

/// The engine subscription and refresh timers.
#[derive(Default)]
pub struct Ingest {
    subscription: Option<Subscription>,
    last_traffic_refresh: Option<Instant>,
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
        spawn_repaint_waker(runtime, engine.subscribe(), repaint);
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

/// Wakes the UI when events arrive, at most about once per frame.
fn spawn_repaint_waker(
    runtime: &tokio::runtime::Handle,
    mut subscription: Subscription,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    runtime.spawn(async move {
        while subscription.recv().await.is_some() {
            repaint();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
}
