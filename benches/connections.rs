//! Connection scale: 10,000 concurrent connections, each sending one
//! message per second, through a connect handler that writes kv (a redb
//! file, durable commit per connect) — `sockscope serve --quiet` as its own
//! process (and once more with `--kv :memory:`, which isolates the cost of
//! the durable commit). Baseline in the same run: the raw tokio-tungstenite echo server
//! (no script, no kv) under the same procedure. Reports connects/s, resident
//! memory per connection (server VmRSS after − before, / connections), and
//! how long a new client waits for its first echo while the 10,000 are busy.
//!
//! `cargo bench --bench connections`

mod common;

use std::time::Duration;

use common::busy::TIMEOUT;
use sockscope::loadgen::{LiveCounters, connect_many};
use tokio_util::sync::CancellationToken;

use common::Server;

const CONNECTIONS: usize = 10_000;
const BUSY_SECONDS: u64 = 6;
const PROBES: usize = 20;

const SCALE_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('scale');
const connections = kv('connections').allow('set', 'delete');
socket.on('connect', async (ctx) => {
  await connections.set(ctx.req.connectionId, { at: Date.now() });
});
socket.on('disconnect', async (ctx) => {
  await connections.delete(ctx.req.connectionId);
});
socket.on('message', (ctx) => {
  socket.send(ctx.req.connectionId, ctx.req.data);
});
"#;

struct Figures {
    connects_per_second: f64,
    rss_per_connection_kib: f64,
    probe_p50_ms: f64,
    probe_max_ms: f64,
    echoes: u64,
}

async fn measure(server: &Server) -> Figures {
    tokio::time::sleep(common::SETTLE).await;
    let rss_before = common::rss_kib(server.pid()).expect("server RSS");
    let counters = LiveCounters::default();
    let (clients, connect_time) = connect_many(&server.url, CONNECTIONS, 256, TIMEOUT, &counters)
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", server.name));
    let connects_per_second = CONNECTIONS as f64 / connect_time.as_secs_f64();
    let stop = CancellationToken::new();
    let busy = common::busy::keep_busy(clients, &stop);
    let mut probes = Vec::new();
    let probe_every = Duration::from_millis(BUSY_SECONDS * 1000 / PROBES as u64);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..PROBES {
        probes.push(common::busy::probe(&server.url).await.as_secs_f64() * 1000.0);
        tokio::time::sleep(probe_every).await;
    }
    let rss_after = common::rss_kib(server.pid()).expect("server RSS");
    stop.cancel();
    let mut echoes = 0;
    for task in busy {
        echoes += task.await.unwrap_or(0);
    }
    let probe_max_ms = probes.iter().copied().fold(0.0, f64::max);
    Figures {
        connects_per_second,
        rss_per_connection_kib: rss_after.saturating_sub(rss_before) as f64 / CONNECTIONS as f64,
        probe_p50_ms: common::median(&mut probes),
        probe_max_ms,
        echoes,
    }
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let limit = sockscope::engine::fdlimit::raise_open_file_limit();
    println!(
        "machine: {}; open-file limit of the load generator: {limit:?}",
        common::machine()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("scale.js");
    std::fs::write(&script, SCALE_JS).expect("write script");
    let kv = dir.path().join("kv.redb");
    let runtime = common::client_runtime();
    let raw = {
        let server = common::raw_echo_server();
        runtime.block_on(measure(&server))
    };
    let sockscope = {
        let server = common::sockscope_serve(&script, &kv.display().to_string());
        runtime.block_on(measure(&server))
    };
    // The same handler with an in-memory store isolates the durable commit.
    let in_memory = {
        let server = common::sockscope_serve(&script, ":memory:");
        runtime.block_on(measure(&server))
    };
    println!("\n{CONNECTIONS} connections, one message per second each, {PROBES} probe clients:");
    for (name, figures) in [
        ("raw tokio-tungstenite echo", &raw),
        ("sockscope serve (kv connect)", &sockscope),
        ("sockscope, kv :memory:", &in_memory),
    ] {
        println!(
            "  {name:<30} {:>7.0} connects/s  {:>6.1} KiB RSS/conn  new client p50 {:>6.2} ms, max {:>6.2} ms  ({} echoes)",
            figures.connects_per_second,
            figures.rss_per_connection_kib,
            figures.probe_p50_ms,
            figures.probe_max_ms,
            figures.echoes
        );
    }
    println!(
        "  connects/s sockscope / raw = {:.2} (target: sockscope >= 5000/s)",
        sockscope.connects_per_second / raw.connects_per_second
    );
    println!(
        "  RSS/conn   sockscope / raw = {:.2} (target: sockscope <= 30 KiB)",
        sockscope.rss_per_connection_kib / raw.rss_per_connection_kib.max(0.001)
    );
    println!(
        "  new client max wait: {:.2} ms (target <= 50 ms)",
        sockscope.probe_max_ms
    );
}
