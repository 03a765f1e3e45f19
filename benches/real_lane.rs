//! The real-runtime lane: echo through a real `@nitric/sdk` 1.2.2 service
//! (`sockscope serve --run 'node echo.mjs'`) against the embedded `echo.js`
//! and Node's `ws`, in the same run, plus the CPU each process spends per
//! message (from /proc): sockscope must never be the bottleneck, so its
//! share per message stays below the service's.
//!
//! Then 1,000 connections to the real lane each send one message per
//! second while a new client connects and waits for its first echo, 20
//! times (target: under 50 ms).
//!
//! Needs `target/ci-node/node_modules` with `@nitric/sdk` (what `.ci/run`
//! installs) or `SOCKSCOPE_NODE_PATH`.
//!
//! `cargo bench --bench real_lane`

mod common;

use std::path::{Path, PathBuf};

use sockscope::loadgen::{BenchOptions, BenchReport, run_bench};

use common::Server;

const ROUNDS: usize = 3;
const BUSY_CONNECTIONS: usize = 1_000;
const PROBES: usize = 20;

const ECHO_MJS: &str = "import { websocket } from '@nitric/sdk';
const socket = websocket('echo');
socket.on('connect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.data);
});
";

struct Load {
    name: &'static str,
    connections: usize,
    messages_per_connection: u64,
    window: usize,
}

const LOADS: [Load; 2] = [
    Load {
        name: "50 conns x 32 B text, window 16 (batching clients)",
        connections: 50,
        messages_per_connection: 1000,
        window: 16,
    },
    Load {
        name: "50 conns x 32 B text, window 1 (one message per write)",
        connections: 50,
        messages_per_connection: 400,
        window: 1,
    },
];

fn node_modules() -> Option<PathBuf> {
    let path = std::env::var_os("SOCKSCOPE_NODE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_path("target/ci-node/node_modules"));
    path.join("@nitric/sdk/package.json")
        .is_file()
        .then_some(path)
}

fn run(runtime: &tokio::runtime::Runtime, server: &Server, load: &Load) -> BenchReport {
    let options = BenchOptions {
        connections: load.connections,
        messages_per_connection: load.messages_per_connection,
        size_bytes: 32,
        window: load.window,
        ..BenchOptions::new(server.url.clone())
    };
    runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{} under {}: {error}", server.name, load.name))
}

/// CPU seconds of `pid` and of each of its children.
fn cpu_of(pid: u32) -> (f64, f64) {
    let own = common::cpu_seconds(&pid.to_string()).unwrap_or(0.0);
    let children = common::child_pids(pid)
        .iter()
        .filter_map(|child| common::cpu_seconds(child))
        .sum();
    (own, children)
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let Some(node_modules) = node_modules() else {
        println!(
            "note: @nitric/sdk is not installed (run .ci/run, or set SOCKSCOPE_NODE_PATH); nothing measured"
        );
        return;
    };
    let dir = tempfile_dir();
    std::fs::write(dir.join("echo.mjs"), ECHO_MJS).expect("write echo.mjs");
    let link = dir.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(&node_modules, &link).expect("link node_modules");
    }
    let runtime = common::client_runtime();
    let echo = common::repo_path("assets/examples/echo.js");
    let mut servers = vec![
        common::sockscope_run(
            "sockscope --run node (real SDK)",
            "exec node echo.mjs",
            &dir,
        ),
        common::sockscope_serve(&echo, ":memory:"),
    ];
    match common::node_ws_server() {
        Ok(node) => servers.push(node),
        Err(why) => println!("note: Node ws skipped: {why}"),
    }
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    for load in &LOADS {
        for server in &servers {
            let warm = Load {
                messages_per_connection: load.messages_per_connection / 10,
                ..*load
            };
            run(&runtime, server, &warm);
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        let mut sockscope_us = Vec::new();
        let mut service_us = Vec::new();
        for _ in 0..ROUNDS {
            for (index, server) in servers.iter().enumerate() {
                let before = cpu_of(server.pid());
                let report = run(&runtime, server, load);
                let after = cpu_of(server.pid());
                rates[index].push(report.messages_per_second);
                if index == 0 {
                    let messages = report.messages_received.max(1) as f64;
                    sockscope_us.push((after.0 - before.0) * 1e6 / messages);
                    service_us.push((after.1 - before.1) * 1e6 / messages);
                }
            }
        }
        println!(
            "\n{} ({} messages per run, median of {ROUNDS} rounds):",
            load.name,
            load.connections as u64 * load.messages_per_connection
        );
        let medians: Vec<f64> = rates.iter_mut().map(|rate| common::median(rate)).collect();
        for (index, server) in servers.iter().enumerate() {
            println!("  {:<34} {:>9.0} msg/s", server.name, medians[index]);
        }
        let sockscope_cpu = common::median(&mut sockscope_us);
        let service_cpu = common::median(&mut service_us);
        println!(
            "  real lane CPU per message: sockscope {sockscope_cpu:.1} µs, the Node service {service_cpu:.1} µs (sockscope/service = {:.2}, target < 1)",
            sockscope_cpu / service_cpu
        );
        println!("  real lane / embedded = {:.2}", medians[0] / medians[1]);
        if medians.len() > 2 {
            println!("  real lane / node ws  = {:.2}", medians[0] / medians[2]);
        }
    }
    let (p50, max) = probe_while_busy(&runtime, &servers[0]);
    println!(
        "\nnew client's connect + first echo through the real lane while {BUSY_CONNECTIONS} connections send 1 msg/s each: p50 {p50:.2} ms, max {max:.2} ms (target < 50 ms)"
    );
}

/// Connect + first echo of new clients while `BUSY_CONNECTIONS` exchange
/// one message per second each: (p50, max) in ms.
fn probe_while_busy(runtime: &tokio::runtime::Runtime, server: &Server) -> (f64, f64) {
    runtime.block_on(async {
        let counters = sockscope::loadgen::LiveCounters::default();
        let (clients, _) = sockscope::loadgen::connect_many(
            &server.url,
            BUSY_CONNECTIONS,
            64,
            common::busy::TIMEOUT,
            &counters,
        )
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", server.name));
        let stop = tokio_util::sync::CancellationToken::new();
        let busy = common::busy::keep_busy(clients, &stop);
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let mut probes = Vec::new();
        for _ in 0..PROBES {
            probes.push(common::busy::probe(&server.url).await.as_secs_f64() * 1000.0);
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        stop.cancel();
        for task in busy {
            let _ = task.await;
        }
        let max = probes.iter().copied().fold(0.0, f64::max);
        (common::median(&mut probes), max)
    })
}

fn tempfile_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-lane-echo");
    std::fs::create_dir_all(&dir).expect("bench folder");
    dir
}
