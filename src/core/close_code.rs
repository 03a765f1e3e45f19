//! Websocket close codes (RFC 6455 §7.4.1), named once for every layer.

/// The exchange is done.
pub const NORMAL: u16 = 1000;
/// The server is shutting down, or a client was idle too long.
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
/// Reported (never sent) when a close frame carried no code.
pub const NO_STATUS: u16 = 1005;
/// Never sent: asked for as a close, it drops the TCP connection without a
/// close frame (what `nitric start` does on `socket.close`); the client
/// sees 1006.
pub const ABNORMAL: u16 = 1006;
/// Text that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Sent to a client that stopped reading.
pub const POLICY_VIOLATION: u16 = 1008;
/// A message over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition (e.g. a kv commit failed).
pub const INTERNAL_ERROR: u16 = 1011;

/// Whether `code` may appear in a close frame sent by an endpoint.
pub fn is_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_codes_cannot_be_sent() {
        for code in [
            NORMAL,
            GOING_AWAY,
            POLICY_VIOLATION,
            INTERNAL_ERROR,
            3000,
            4999,
        ] {
            assert!(is_sendable(code), "{code}");
        }
        for code in [0, 999, NO_STATUS, 1006, 1015, 2999, 5000] {
            assert!(!is_sendable(code), "{code}");
        }
    }
}
