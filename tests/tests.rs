//! Integration tests: one binary, so the slow link step happens once.
//! Every test runs real sockets on 127.0.0.1 (port 0), the real script
//! engine and real files in temp dirs.

// Shared helpers: a real engine, a websocket client, the examples, the built binary.
mod util;

// The `sockscope serve` command line: its URL, traffic log, Ctrl-C, exit code 2, `--help`.
mod cli;
// Held connections: before or after the connect handler, who decided, clients that leave while held.
mod approvals;
// Message breakpoints through the command API: hold, edit, drop, timeout, forward all, order kept.
mod breakpoints;
// A handler (or target) that sends more than a client's queue holds at once: it waits while the client reads.
mod backpressure;
// `kill -9` and full disks under a real `sockscope serve`: acknowledged writes survive.
mod crash;
// The bundled examples in `assets/examples/`, used the way their comments say.
mod examples;
// Inputs kept from fuzzing: session reader, HAR import and query parser do not panic.
mod fuzz_regressions;
// The egui window on a real engine: connections, kv editing, script errors, record/replay, projects and services.
mod gui;
// Handler semantics: events, middleware and `next`, `send`, `close`, imports, console.
mod handlers;
// Hostile clients against a real `sockscope serve`: half-open handshakes, ping floods, non-readers.
mod hostile;
// `kv(name)`: get/set/delete/keys, permissions, change events, commands, persistence.
mod kv;
// The crate's layering in `src/`: no upward imports, no two sibling modules importing each other.
mod layers;
// Connection lifecycle: limits, runaway handlers, shutdown, hot reload, held connections.
mod lifecycle;
// `--low-cpu` (sockets on the script thread): lifecycle, order, topics, shutdown as in the default lane.
mod low_cpu;
// `sockscope bench` and its library against the echo example: counts, errors, JSON report.
mod loadgen;
// The real-runtime lane: the user's services with the real Node, TypeScript and Python SDKs.
mod nitric;
// Real projects in the embedded lane: TypeScript, modules, CommonJS, JSON, npm packages, built-ins.
mod projects;
// The proxy lane in front of a Python `websockets` server: forwarding, closes, refusals, recording and replay.
mod proxy;
// The wire: handshake validation, pings, close codes for frame-level violations (raw TCP).
mod protocol;
// Python `websockets`, Node `ws` and headless Chromium against the chat example.
mod real_clients;
// The SDK surface and the gateway's switches: declared resources, `.for`, data as bytes, --deny-status, --binary-frames.
mod sdk_surface;
// Topics in the embedded lane: every subscription of every service, delays, errors, no subscribers.
mod topics;
// Security: the origin allow-list, the script sandbox, session file names.
mod security;
// Clients that read, slowly: never closed as not reading, their handlers never reported as stuck.
mod slow_clients;
// Sessions: record, replay and compare; the replay CLI, HAR import, Artillery export.
mod sessions;
