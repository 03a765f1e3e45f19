//! How much of what a connection's writer wrote its client has taken. A
//! writer wakes only when the kernel's send queue is half empty: for a
//! client on a slow link that is seconds apart, and a writer stuck in that
//! flush must not make the client look like one that stopped reading.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The bytes in a socket's send queue the peer has not acknowledged, or
/// `None` when the platform cannot tell.
pub type UnackedProbe = Box<dyn Fn() -> Option<u64> + Send>;

/// A connection's bytes written, and what its socket can say of them.
#[derive(Default)]
pub(crate) struct Delivery {
    written_bytes: AtomicU64,
    unacked: Mutex<Option<UnackedProbe>>,
}

impl Delivery {
    /// Bytes the client has taken from the socket so far (those written,
    /// when the platform cannot tell). It may cost a system call.
    pub(crate) fn delivered_bytes(&self) -> u64 {
        let written = self.written_bytes.load(Ordering::Acquire);
        let unacked = match self.unacked.lock() {
            Ok(probe) => probe.as_ref().and_then(|probe| probe()),
            Err(_) => None,
        };
        written.saturating_sub(unacked.unwrap_or(0))
    }
}

/// What a connection's socket reports its writes to.
pub struct WriteMeter {
    delivery: Arc<Delivery>,
}

impl WriteMeter {
    pub(crate) fn new(delivery: Arc<Delivery>) -> Self {
        Self { delivery }
    }

    /// The socket accepted `len_bytes` more.
    pub fn wrote(&self, len_bytes: usize) {
        // Once per socket write (a flush of one or more frames), not per frame.
        self.delivery
            .written_bytes
            .fetch_add(len_bytes as u64, Ordering::Release);
    }

    /// Asks `probe` how much of what was written the client has yet to
    /// take, until [`WriteMeter::detach`].
    pub fn attach(&self, probe: UnackedProbe) {
        if let Ok(mut unacked) = self.delivery.unacked.lock() {
            *unacked = Some(probe);
        }
    }

    /// Forgets the probe (before its socket closes).
    pub fn detach(&self) {
        if let Ok(mut unacked) = self.delivery.unacked.lock() {
            *unacked = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_written_counts_as_taken_until_a_probe_says_otherwise() {
        let delivery = Arc::new(Delivery::default());
        let meter = WriteMeter::new(Arc::clone(&delivery));
        meter.wrote(1000);
        assert_eq!(delivery.delivered_bytes(), 1000);
        let unacked = Arc::new(AtomicU64::new(600));
        let probed = Arc::clone(&unacked);
        meter.attach(Box::new(move || Some(probed.load(Ordering::Relaxed))));
        assert_eq!(delivery.delivered_bytes(), 400);
        unacked.store(100, Ordering::Relaxed);
        assert_eq!(delivery.delivered_bytes(), 900, "the client took 500 more");
        meter.detach();
        assert_eq!(delivery.delivered_bytes(), 1000);
    }
}
