//! Which pongs a proxied connection keeps to itself. Each hop's websocket
//! library answers a ping the moment it reads it (tungstenite has no switch
//! to turn that off), so a ping passed on through the proxy would be
//! answered twice: by the proxy's side at once, then by the far side. The
//! far side's answer is the one left out: a client gets one pong per ping,
//! as from a server directly, and the ping itself still reaches the far
//! side. Unsolicited pongs (heartbeats) pass, as RFC 6455 allows them.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

/// Pings passed on and not yet answered, per direction, at most this many
/// (a peer may answer only the latest of several pings).
const REMEMBERED_PINGS: usize = 16;

/// One connection's ledger, shared by its two halves.
pub(crate) type SharedPingLedger = Arc<Mutex<PingLedger>>;

#[derive(Debug, Default)]
pub(crate) struct PingLedger {
    /// The client's pings passed on to the target.
    from_client: VecDeque<bytes::Bytes>,
    /// The target's pings passed on to the client.
    from_target: VecDeque<bytes::Bytes>,
}

impl PingLedger {
    pub(crate) fn shared() -> SharedPingLedger {
        Arc::default()
    }

    pub(crate) fn client_pinged(&mut self, data: &bytes::Bytes) {
        remember(&mut self.from_client, data);
    }

    pub(crate) fn target_pinged(&mut self, data: &bytes::Bytes) {
        remember(&mut self.from_target, data);
    }

    /// Whether the target's pong answers a ping of the client's (which the
    /// proxy answered already); if so it is used up.
    pub(crate) fn answers_client(&mut self, data: &[u8]) -> bool {
        answers(&mut self.from_client, data)
    }

    /// Whether the client's pong answers a ping of the target's (which the
    /// proxy answered already); if so it is used up.
    pub(crate) fn answers_target(&mut self, data: &[u8]) -> bool {
        answers(&mut self.from_target, data)
    }
}

fn remember(pings: &mut VecDeque<bytes::Bytes>, data: &bytes::Bytes) {
    if pings.len() == REMEMBERED_PINGS {
        pings.pop_front();
    }
    pings.push_back(data.clone());
}

/// A pong answers the latest ping with its data; the pings before that one
/// are answered with it.
fn answers(pings: &mut VecDeque<bytes::Bytes>, data: &[u8]) -> bool {
    match pings.iter().rposition(|ping| ping.as_ref() == data) {
        Some(index) => {
            pings.drain(..=index);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(data: &'static [u8]) -> bytes::Bytes {
        bytes::Bytes::from_static(data)
    }

    #[test]
    fn a_pong_is_kept_back_once_per_ping_passed_on() {
        let mut ledger = PingLedger::default();
        ledger.client_pinged(&bytes(b"a"));
        assert!(!ledger.answers_target(b"a"), "directions are apart");
        assert!(ledger.answers_client(b"a"));
        assert!(!ledger.answers_client(b"a"), "a second pong is unsolicited");
        assert!(!ledger.answers_client(b"heartbeat"));
    }

    #[test]
    fn a_pong_to_the_latest_ping_answers_the_earlier_ones() {
        let mut ledger = PingLedger::default();
        for data in [b"1", b"2", b"3"] {
            ledger.target_pinged(&bytes(data));
        }
        assert!(ledger.answers_target(b"2"));
        assert!(!ledger.answers_target(b"1"));
        assert!(ledger.answers_target(b"3"));
    }

    #[test]
    fn only_the_latest_pings_are_remembered() {
        let mut ledger = PingLedger::default();
        ledger.client_pinged(&bytes(b"first"));
        for _ in 0..REMEMBERED_PINGS {
            ledger.client_pinged(&bytes(b"again"));
        }
        assert!(!ledger.answers_client(b"first"));
        assert!(ledger.answers_client(b"again"));
    }
}
