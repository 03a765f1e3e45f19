//! sockscope: an inspector and tester for Nitric websocket handlers.
//!
//! The layers, bottom first; each imports only the ones above it in this
//! list (`tests/layers.rs` fails on an upward import):
//!
//! 1. [`core`]: ids, events, the bus, limits, close codes, outbound queues.
//! 2. [`kv`]: the persistent key-value store.
//! 3. [`runtime`]: the seam between the engine and the handlers.
//! 4. [`script`], [`nitric`], [`proxy`]: the lanes behind the seam: the
//!    embedded one (QuickJS and the `@nitric/sdk` emulation), the user's own
//!    services, and a target server in place of handlers.
//! 5. [`engine`]: the websocket server; talks to handlers through the seam.
//! 6. [`launch`]: an engine with the handlers the user chose.
//! 7. [`session`], [`loadgen`], [`serve`]: recording and replay, load
//!    generation, the headless server.
//! 8. [`ui`]: the window.

// Layer order, bottom first (rustfmt keeps each group in place).
pub mod core;

pub mod kv;

pub mod runtime;

pub mod script;

pub mod nitric;
pub mod proxy;

pub mod engine;

pub mod launch;

pub mod loadgen;
pub mod serve;
pub mod session;

pub mod ui;
