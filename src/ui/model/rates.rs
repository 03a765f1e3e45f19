//! Messages per second and live connections, sampled once a second from the
//! engine's totals (exact even when the display loses events).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::registry::TrafficSnapshot;

/// Samples kept: ten minutes at one per second.
const MAX_SAMPLES: usize = 600;

/// One second's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateSample {
    /// Seconds since the sampling started.
    pub seconds: f64,
    /// Frames per second from clients.
    pub in_per_second: f64,
    /// Frames per second to clients.
    pub out_per_second: f64,
    /// Open connections.
    pub connections: usize,
}

/// The sampler and its history.
pub struct Rates {
    started: Instant,
    /// The wall-clock time of `started`, for a time axis users can read.
    started_at: chrono::DateTime<chrono::Utc>,
    last: Option<(Instant, TrafficSnapshot)>,
    samples: VecDeque<RateSample>,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            last: None,
            samples: VecDeque::new(),
        }
    }
}

impl Rates {
    /// Whether a second has passed since the last sample.
    pub fn is_due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|(at, _)| now.duration_since(at) >= Duration::from_secs(1))
    }

    /// Records the totals at `now`.
    pub fn sample(&mut self, now: Instant, totals: TrafficSnapshot, connections: usize) {
        if let Some((at, previous)) = self.last {
            let elapsed = now.duration_since(at).as_secs_f64().max(1e-3);
            self.samples.push_back(RateSample {
                seconds: now.duration_since(self.started).as_secs_f64(),
                in_per_second: totals.frames_in.saturating_sub(previous.frames_in) as f64 / elapsed,
                out_per_second: totals.frames_out.saturating_sub(previous.frames_out) as f64
                    / elapsed,
                connections,
            });
            if self.samples.len() > MAX_SAMPLES {
                self.samples.pop_front();
            }
        }
        self.last = Some((now, totals));
    }

    /// The latest sample.
    pub fn latest(&self) -> Option<RateSample> {
        self.samples.back().copied()
    }

    /// All samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &RateSample> {
        self.samples.iter()
    }

    /// Forgets the history (after a restart of the engine).
    /// When sampling started, wall clock.
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deltas_over_elapsed_time() {
        let mut rates = Rates::default();
        let start = Instant::now();
        rates.sample(start, TrafficSnapshot::default(), 0);
        let totals = TrafficSnapshot {
            frames_in: 200,
            frames_out: 400,
            ..TrafficSnapshot::default()
        };
        rates.sample(start + Duration::from_secs(2), totals, 3);
        let latest = rates.latest().expect("a sample");
        assert_eq!(
            (
                latest.in_per_second,
                latest.out_per_second,
                latest.connections
            ),
            (100.0, 200.0, 3)
        );
    }
}
