//! The bottom layer: what every other layer speaks. Connection ids, the
//! events and their payloads, the bus that carries them, limits, close
//! codes, a connection's outbound queue. Imports nothing else of the crate.

pub mod bus;
pub mod close_code;
pub mod config;
pub mod delivery;
pub mod events;
mod frame_sampler;
pub mod gateway;
pub mod jsonpath;
pub mod logging;
pub mod outbound;
pub mod query;
