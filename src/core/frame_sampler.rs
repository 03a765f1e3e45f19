//! Which messages a log that shows only a few per second gets as events.
//!
//! When the traffic log is the only subscriber (`sockscope serve` without a
//! window or a recording), building a bus event for every frame only for
//! the log to count and drop it cost the default server a quarter of its
//! burst throughput (150,617 against 237,334 msg/s `-q`, same run). So the
//! bus admits [`MESSAGE_LINES_PER_SECOND`] frames a second per direction
//! and counts the rest here; the log adds those counts to its summary line.
//! Subscribers that show or record every frame turn the sampling off.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::events::FrameDirection;
use super::logging::{HiddenMessages, MESSAGE_LINES_PER_SECOND};

const WINDOW: Duration = Duration::from_secs(1);

/// Per-direction budgets of one window, and what they left out.
pub(crate) struct FrameSampler {
    started: Instant,
    /// Start of the current window, in milliseconds since `started`.
    window_ms: AtomicU64,
    admitted: [AtomicU32; 2],
    hidden: [AtomicU64; 2],
}

fn index(direction: FrameDirection) -> usize {
    match direction {
        FrameDirection::In => 0,
        FrameDirection::Out => 1,
    }
}

impl FrameSampler {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            window_ms: AtomicU64::new(0),
            admitted: [AtomicU32::new(0), AtomicU32::new(0)],
            hidden: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Whether a frame going `direction` now gets an event; if not, it is
    /// counted. Windows race benignly: a budget may be spent twice at the
    /// boundary, never lost.
    pub(crate) fn admit(&self, direction: FrameDirection) -> bool {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let window_ms = self.window_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(window_ms) >= WINDOW.as_millis() as u64
            && self
                .window_ms
                .compare_exchange(window_ms, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            for admitted in &self.admitted {
                admitted.store(0, Ordering::Relaxed);
            }
        }
        let slot = index(direction);
        if self.admitted[slot].fetch_add(1, Ordering::Relaxed) < MESSAGE_LINES_PER_SECOND {
            return true;
        }
        self.hidden[slot].fetch_add(1, Ordering::Relaxed);
        false
    }

    /// The frames left out since the last call.
    pub(crate) fn take_hidden(&self) -> HiddenMessages {
        HiddenMessages {
            in_count: self.hidden[0].swap(0, Ordering::Relaxed),
            out_count: self.hidden[1].swap(0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_budget_per_direction_and_counts_the_rest() {
        let sampler = FrameSampler::new();
        let admitted_in = (0..1_000)
            .filter(|_| sampler.admit(FrameDirection::In))
            .count();
        let admitted_out = (0..70)
            .filter(|_| sampler.admit(FrameDirection::Out))
            .count();
        let budget = MESSAGE_LINES_PER_SECOND as usize;
        assert_eq!((admitted_in, admitted_out), (budget, budget));
        assert_eq!(
            sampler.take_hidden(),
            HiddenMessages {
                in_count: 1_000 - MESSAGE_LINES_PER_SECOND as u64,
                out_count: 70 - MESSAGE_LINES_PER_SECOND as u64,
            }
        );
        assert_eq!(sampler.take_hidden(), HiddenMessages::default());
    }
}
