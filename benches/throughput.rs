//! Handler throughput: the same loads against (a) a raw tokio-tungstenite
//! echo server (no script), (b) `sockscope serve --quiet` running
//! `assets/examples/echo.js`, and (c) Node's `ws` echo server when `node`
//! exists. Each server is its own process; the load generator is sockscope's
//! own (`sockscope bench`'s library). Rounds alternate a, b, c and the median
//! of each is reported, with the ratios b/a and b/c.
//!
//! `cargo bench --bench throughput`

mod common;

use sockscope::loadgen::{BenchOptions, BenchReport, run_bench};

use common::Server;

const ROUNDS: usize = 3;

struct Load {
    name: &'static str,
    connections: usize,
    messages_per_connection: u64,
    size_bytes: usize,
    window: usize,
}

const LOADS: [Load; 2] = [
    Load {
        name: "50 conns x 32 B text, window 16",
        connections: 50,
        messages_per_connection: 4000,
        size_bytes: 32,
        window: 16,
    },
    Load {
        name: "100 conns x 16 KiB text, window 16",
        connections: 100,
        messages_per_connection: 200,
        size_bytes: 16 * 1024,
        window: 16,
    },
];

fn run(runtime: &tokio::runtime::Runtime, server: &Server, load: &Load) -> BenchReport {
    let options = BenchOptions {
        connections: load.connections,
        messages_per_connection: load.messages_per_connection,
        size_bytes: load.size_bytes,
        window: load.window,
        ..BenchOptions::new(server.url.clone())
    };
    runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{} under {}: {error}", server.name, load.name))
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = common::client_runtime();
    let echo = common::repo_path("assets/examples/echo.js");
    let mut servers = vec![
        common::raw_echo_server(),
        common::sockscope_serve(&echo, ":memory:"),
    ];
    match common::node_ws_server() {
        Ok(node) => servers.push(node),
        Err(why) => println!("note: Node ws skipped: {why}"),
    }
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    for load in &LOADS {
        // Warm-up: one short run each (JIT for node, allocators for all).
        for server in &servers {
            let warm = Load {
                messages_per_connection: load.messages_per_connection / 10,
                ..*load
            };
            run(&runtime, server, &warm);
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        let mut mbs: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for _ in 0..ROUNDS {
            for (index, server) in servers.iter().enumerate() {
                let report = run(&runtime, server, load);
                rates[index].push(report.messages_per_second);
                mbs[index].push(report.megabytes_per_second);
                p99s[index].push(report.latency.p99_us as f64 / 1000.0);
            }
        }
        println!(
            "\n{} ({} messages per run, median of {ROUNDS} rounds):",
            load.name,
            load.connections as u64 * load.messages_per_connection
        );
        let medians: Vec<f64> = rates.iter_mut().map(|r| common::median(r)).collect();
        for (index, server) in servers.iter().enumerate() {
            println!(
                "  {:<28} {:>9.0} msg/s {:>8.1} MB/s  p99 {:>7.2} ms",
                server.name,
                medians[index],
                common::median(&mut mbs[index]),
                common::median(&mut p99s[index])
            );
        }
        println!(
            "  b/a sockscope / raw   = {:.2} (target >= 0.75)",
            medians[1] / medians[0]
        );
        if medians.len() > 2 {
            println!(
                "  b/c sockscope / node  = {:.2} (target >= 1.4)",
                medians[1] / medians[2]
            );
        }
    }
}
