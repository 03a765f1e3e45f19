//! Handler throughput: the same loads against (a) a raw tokio-tungstenite
//! echo server (no script), (b) `sockscope serve --quiet` running
//! `assets/examples/echo.js`, (c) Node's `ws` echo server when `node`
//! exists, (d) `sockscope serve` with default flags (its traffic log
//! written to a file) and (e) `sockscope serve --quiet --low-cpu`. Each server is its own process; the load generator is
//! sockscope's own (`sockscope bench`'s library). Every load runs in both
//! send patterns: trickle (one write per message, as real clients send) and
//! burst (the whole window in one write). Rounds alternate the servers and
//! the median of each is reported, with the ratios b/a, b/c and d/b, and the
//! CPU time per message of each sockscope thread under (b).
//!
//! Then the 32 B load again with a CPU hog (another process spinning on one
//! CPU, as a busy IDE or build on a laptop), against a, b, c and e.
//!
//! `cargo bench --bench throughput [-- --trickle-only] [-- --no-hog]`

mod common;

use sockscope::loadgen::{BenchOptions, BenchReport, SendPattern, run_bench};

use common::Server;

const ROUNDS: usize = 3;

#[derive(Clone, Copy)]
struct Load {
    name: &'static str,
    connections: usize,
    messages_per_connection: u64,
    size_bytes: usize,
    window: usize,
    pattern: SendPattern,
}

const LOADS: [Load; 2] = [
    Load {
        name: "50 conns x 32 B text, window 16",
        connections: 50,
        messages_per_connection: 4000,
        size_bytes: 32,
        window: 16,
        pattern: SendPattern::Trickle,
    },
    Load {
        name: "100 conns x 16 KiB text, window 16",
        connections: 100,
        messages_per_connection: 200,
        size_bytes: 16 * 1024,
        window: 16,
        pattern: SendPattern::Trickle,
    },
];

fn run(runtime: &tokio::runtime::Runtime, server: &Server, load: &Load) -> BenchReport {
    let options = BenchOptions {
        connections: load.connections,
        messages_per_connection: load.messages_per_connection,
        size_bytes: load.size_bytes,
        window: load.window,
        pattern: load.pattern,
        ..BenchOptions::new(server.url.clone())
    };
    runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{} under {}: {error}", server.name, load.name))
}

/// Warm-up, then `ROUNDS` rounds alternating the servers; prints the
/// medians. `profiled` names the server whose threads' CPU is reported.
fn compare(
    runtime: &tokio::runtime::Runtime,
    servers: &[&Server],
    load: &Load,
    profiled: Option<&Server>,
) -> Vec<f64> {
    for server in servers {
        let warm = Load {
            messages_per_connection: load.messages_per_connection / 10,
            ..*load
        };
        run(runtime, server, &warm);
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut mbs: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut loadgen_cpu: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut threads = String::new();
    for _ in 0..ROUNDS {
        for (index, server) in servers.iter().enumerate() {
            let pid = server.pid().to_string();
            let cpu_before = common::cpu_seconds(&pid).unwrap_or(0.0);
            let loadgen_before = common::cpu_seconds("self").unwrap_or(0.0);
            let is_profiled = profiled.is_some_and(|profiled| profiled.pid() == server.pid());
            let threads_before = common::thread_cpu_seconds(server.pid());
            let report = run(runtime, server, load);
            let cpu_after = common::cpu_seconds(&pid).unwrap_or(0.0);
            let loadgen_after = common::cpu_seconds("self").unwrap_or(0.0);
            if is_profiled {
                threads = common::per_thread_us(
                    &threads_before,
                    &common::thread_cpu_seconds(server.pid()),
                    report.messages_received,
                );
            }
            rates[index].push(report.messages_per_second);
            mbs[index].push(report.megabytes_per_second);
            p99s[index].push(report.latency.p99_us as f64 / 1000.0);
            let per_message = |seconds: f64| seconds * 1e6 / report.messages_received.max(1) as f64;
            cpu[index].push(per_message(cpu_after - cpu_before));
            loadgen_cpu[index].push(per_message(loadgen_after - loadgen_before));
        }
    }
    println!(
        "\n{}, {} ({} messages per run, median of {ROUNDS} rounds):",
        load.name,
        load.pattern.as_str(),
        load.connections as u64 * load.messages_per_connection
    );
    let medians: Vec<f64> = rates.iter_mut().map(|r| common::median(r)).collect();
    for (index, server) in servers.iter().enumerate() {
        println!(
            "  {:<32} {:>8.0} msg/s {:>7.1} MB/s  p99 {:>7.2} ms  cpu us/msg: server {:>5.2}, load generator {:>5.2}",
            server.name,
            medians[index],
            common::median(&mut mbs[index]),
            common::median(&mut p99s[index]),
            common::median(&mut cpu[index]),
            common::median(&mut loadgen_cpu[index]),
        );
    }
    if let Some(profiled) = profiled {
        println!(
            "  {} threads, cpu us/msg (last round): {threads}",
            profiled.name
        );
    }
    medians
}

fn print_ratio(label: &str, value: f64, target: &str) {
    println!("  {label:<28} = {value:.2} {target}");
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let trickle_only = std::env::args().any(|arg| arg == "--trickle-only");
    let with_hog = !std::env::args().any(|arg| arg == "--no-hog");
    let runtime = common::client_runtime();
    let echo = common::repo_path("assets/examples/echo.js");
    let raw = common::raw_echo_server();
    let quiet = common::sockscope_serve(&echo, ":memory:");
    let logging =
        common::sockscope_serve_with("sockscope serve, default flags", &echo, ":memory:", &[]);
    let low_cpu = common::sockscope_serve_with(
        "sockscope serve -q --low-cpu",
        &echo,
        ":memory:",
        &["--quiet", "--low-cpu"],
    );
    let node = common::node_ws_server()
        .map_err(|why| println!("note: Node ws skipped: {why}"))
        .ok();
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    let patterns: &[SendPattern] = if trickle_only {
        &[SendPattern::Trickle]
    } else {
        &[SendPattern::Trickle, SendPattern::Burst]
    };
    for base in &LOADS {
        for &pattern in patterns {
            let load = Load { pattern, ..*base };
            let mut servers = vec![&raw, &quiet, &logging, &low_cpu];
            servers.extend(node.as_ref());
            let medians = compare(&runtime, &servers, &load, Some(&quiet));
            print_ratio(
                "b/a sockscope -q / raw",
                medians[1] / medians[0],
                "(target >= 0.75)",
            );
            print_ratio(
                "d/a default flags / raw",
                medians[2] / medians[0],
                "(target >= 0.75)",
            );
            if let Some(node_rate) = medians.get(4) {
                print_ratio(
                    "b/c sockscope -q / node",
                    medians[1] / node_rate,
                    "(target >= 1.4)",
                );
                print_ratio(
                    "d/c default flags / node",
                    medians[2] / node_rate,
                    "(target >= 1.4)",
                );
                print_ratio("e/c --low-cpu / node", medians[3] / node_rate, "");
            }
            print_ratio(
                "d/b default flags / -q",
                medians[2] / medians[1],
                "(target >= 0.9)",
            );
        }
    }
    if !with_hog {
        return;
    }
    let hog = common::CpuHog::start();
    println!("\nwith a CPU hog (one process spinning on one CPU):");
    for &pattern in patterns {
        let load = Load {
            pattern,
            ..LOADS[0]
        };
        let mut servers = vec![&raw, &quiet, &low_cpu];
        servers.extend(node.as_ref());
        let medians = compare(&runtime, &servers, &load, Some(&quiet));
        print_ratio("b/a sockscope -q / raw", medians[1] / medians[0], "");
        if let Some(node_rate) = medians.get(3) {
            print_ratio(
                "b/c sockscope -q / node",
                medians[1] / node_rate,
                "(target >= 1.0)",
            );
            print_ratio(
                "e/c --low-cpu / node",
                medians[2] / node_rate,
                "(target >= 1.0)",
            );
        }
    }
    drop(hog);
}
