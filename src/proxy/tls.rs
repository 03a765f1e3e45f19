//! TLS towards `wss://` targets. This build has none: `wss://` targets are
//! refused when parsed, with a message saying so.

/// Whether `wss://` targets can be reached.
pub(crate) const IS_AVAILABLE: bool = false;
