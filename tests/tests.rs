//! Integration tests: one binary, so the slow link step happens once.
//! Every test runs real sockets on 127.0.0.1 (port 0), the real script
//! engine and real files in temp dirs.

mod util;

mod cli;
mod crash;
mod examples;
mod fuzz_regressions;
mod gui;
mod handlers;
mod hostile;
mod kv;
mod lifecycle;
mod loadgen;
mod protocol;
mod real_clients;
mod security;
mod sessions;
