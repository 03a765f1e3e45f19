//! sockscope: an inspector and tester for Nitric websocket handlers.
//!
//! [`engine`] runs a websocket server whose handlers are JavaScript
//! ([`script`]) with a persistent key-value store ([`kv`]); everything it does
//! is published on an event bus that the UI and the session recorder read.

#![warn(missing_docs)]

pub mod engine;
pub mod kv;
pub mod loadgen;
pub mod script;
pub mod serve;
pub mod session;
pub mod ui;
