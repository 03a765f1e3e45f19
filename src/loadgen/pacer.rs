//! Sub-millisecond send pacing for `bench --rate`.
//!
//! tokio's timers tick in whole milliseconds, so connections that each
//! sleep until their next send all wake on the same tick: at 100k msg/s that
//! releases ~100 messages at once every millisecond, and the queueing that
//! burst causes is what a latency figure then measures. One thread with an
//! OS sleep of a few tens of microseconds instead wakes each connection when
//! its own send is due, so the load arrives as evenly as it was asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long the pacer thread sleeps between looks at the schedule.
const TICK: Duration = Duration::from_micros(50);

/// "No send is due" in a connection's slot.
const IDLE: u64 = u64::MAX;

/// One connection's side: publish when the next send is due, then wait.
pub(crate) struct PaceSlot {
    base: Instant,
    due_nanos: AtomicU64,
    wake: Notify,
}

impl PaceSlot {
    /// Waits until `due` (woken by the pacer thread, within about a tick).
    pub(crate) async fn wait_until(&self, due: Instant) {
        let nanos = due.saturating_duration_since(self.base).as_nanos();
        self.due_nanos
            .store(u64::try_from(nanos).unwrap_or(IDLE - 1), Ordering::Release);
        while Instant::now() < due {
            self.wake.notified().await;
        }
        self.due_nanos.store(IDLE, Ordering::Release);
    }
}

/// The pacer thread; it stops when this is dropped.
pub(crate) struct Pacer {
    slots: Vec<Arc<PaceSlot>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pacer {
    /// Starts a pacer for `connections` slots.
    pub(crate) fn start(connections: usize) -> std::io::Result<Self> {
        let base = Instant::now();
        let slots: Vec<Arc<PaceSlot>> = (0..connections)
            .map(|_| {
                Arc::new(PaceSlot {
                    base,
                    due_nanos: AtomicU64::new(IDLE),
                    wake: Notify::new(),
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let slots = slots.clone();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("sockscope-pacer".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        let now = u64::try_from(base.elapsed().as_nanos()).unwrap_or(IDLE - 1);
                        for slot in &slots {
                            if slot.due_nanos.load(Ordering::Acquire) <= now {
                                slot.wake.notify_one();
                            }
                        }
                        std::thread::sleep(TICK);
                    }
                })?
        };
        Ok(Self {
            slots,
            stop,
            thread: Some(thread),
        })
    }

    /// The slot of connection `index`.
    pub(crate) fn slot(&self, index: usize) -> Option<Arc<PaceSlot>> {
        self.slots.get(index).cloned()
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_wakes_once_its_time_has_come() {
        let pacer = Pacer::start(2).expect("pacer thread");
        let slot = pacer.slot(1).expect("slot 1");
        assert!(pacer.slot(2).is_none());
        let due = Instant::now() + Duration::from_millis(3);
        slot.wait_until(due).await;
        assert!(Instant::now() >= due);
        // A time already past returns at once.
        slot.wait_until(Instant::now()).await;
    }
}
