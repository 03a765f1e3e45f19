//! Latency: round trips through `assets/examples/echo.js` (`sockscope serve
//! --quiet`, its own process, and the same with `--low-cpu`) at fractions of
//! the maximum rate measured in the same run, paced evenly over the connections (sub-millisecond pacing,
//! see `loadgen::pacer`). Baseline: the raw tokio-tungstenite echo server
//! and Node's `ws` under the same paced load, in both send patterns (trickle:
//! one write per message; burst: one per window), the maximum measured in
//! the same pattern.
//!
//! Two shapes, because the connection count decides what "half the maximum"
//! means. The maximum is measured unpaced (window 16), where every read and
//! write carries many messages; paced traffic arrives one message at a time
//! per connection, and each then costs its own system calls and wake-ups.
//! With 10 connections a paced connection still sends a message every few
//! tens of microseconds, so reads and writes keep carrying several; with 50
//! they mostly carry one, and half the unpaced maximum is more than either
//! server can do paced. The CPU time per message each process used shows it.
//!
//! `cargo bench --bench latency`

mod common;

use sockscope::loadgen::{BenchOptions, BenchReport, SendPattern, run_bench};

use common::Server;

const SHAPES: [usize; 2] = [10, 50];
const FRACTIONS: [f64; 2] = [0.05, 0.5];
const PACED_SECONDS: f64 = 4.0;

/// A run's report plus the CPU time per message of the server and of this
/// process (the load generator).
struct Measured {
    report: BenchReport,
    server_us_per_message: f64,
    loadgen_us_per_message: f64,
}

fn run(runtime: &tokio::runtime::Runtime, server: &Server, options: BenchOptions) -> Measured {
    let server_pid = server.pid().to_string();
    let cpu = || {
        (
            common::cpu_seconds(&server_pid).unwrap_or(0.0),
            common::cpu_seconds("self").unwrap_or(0.0),
        )
    };
    let before = cpu();
    let report = runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{}: {error}", server.name));
    let after = cpu();
    let per_message = |seconds: f64| seconds * 1e6 / report.messages_received.max(1) as f64;
    Measured {
        server_us_per_message: per_message(after.0 - before.0),
        loadgen_us_per_message: per_message(after.1 - before.1),
        report,
    }
}

/// Unpaced, window 16: best of 2 after a warm-up.
fn max_rate(runtime: &tokio::runtime::Runtime, server: &Server, base: &BenchOptions) -> Measured {
    let unpaced = |messages_per_connection| BenchOptions {
        url: server.url.clone(),
        messages_per_connection,
        ..base.clone()
    };
    run(runtime, server, unpaced(500));
    let first = run(runtime, server, unpaced(150_000 / base.connections as u64));
    let second = run(runtime, server, unpaced(150_000 / base.connections as u64));
    if first.report.messages_per_second >= second.report.messages_per_second {
        first
    } else {
        second
    }
}

fn print_row(name: &str, measured: &Measured) {
    let report = &measured.report;
    println!(
        "  {name:<28} achieved {:>7.0} msg/s  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms  cpu/msg: server {:.1} us, load generator {:.1} us",
        report.messages_per_second,
        report.latency.p50_us as f64 / 1000.0,
        report.latency.p90_us as f64 / 1000.0,
        report.latency.p99_us as f64 / 1000.0,
        report.latency.max_us as f64 / 1000.0,
        measured.server_us_per_message,
        measured.loadgen_us_per_message,
    );
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = common::client_runtime();
    let raw = common::raw_echo_server();
    let echo = common::repo_path("assets/examples/echo.js");
    let sockscope = common::sockscope_serve(&echo, ":memory:");
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
    let mut summary = Vec::new();
    for connections in SHAPES {
        for pattern in [SendPattern::Trickle, SendPattern::Burst] {
            let base = BenchOptions {
                connections,
                size_bytes: 32,
                window: 16,
                pattern,
                ..BenchOptions::new(sockscope.url.clone())
            };
            let mut servers = vec![&raw, &sockscope, &low_cpu];
            servers.extend(node.as_ref());
            let maxima: Vec<Measured> = servers
                .iter()
                .map(|server| max_rate(&runtime, server, &base))
                .collect();
            let max_rate = maxima[1].report.messages_per_second;
            println!(
                "\n{connections} connections, {}: max rate through echo.js {max_rate:.0} msg/s (unpaced, window 16); paced {PACED_SECONDS} s per rate",
                pattern.as_str()
            );
            for (server, measured) in servers.iter().zip(&maxima) {
                print_row(&format!("{} unpaced", server.name), measured);
            }
            for fraction in FRACTIONS {
                let rate = max_rate * fraction;
                let messages_per_connection = (rate * PACED_SECONDS / connections as f64) as u64;
                let paced = |server: &Server| BenchOptions {
                    url: server.url.clone(),
                    messages_per_connection,
                    rate_per_second: Some(rate),
                    ..base.clone()
                };
                println!(
                    "at {:.0}% of the max rate ({rate:.0} msg/s):",
                    fraction * 100.0
                );
                let measured: Vec<Measured> = servers
                    .iter()
                    .map(|server| run(&runtime, server, paced(server)))
                    .collect();
                for (server, measured) in servers.iter().zip(&measured) {
                    print_row(server.name, measured);
                }
                if fraction == 0.5 {
                    summary.push((connections, pattern, measured));
                }
            }
        }
    }
    println!();
    for (connections, pattern, measured) in summary {
        let p99 = |index: usize| {
            measured
                .get(index)
                .map_or(f64::NAN, |m| m.report.latency.p99_us as f64 / 1000.0)
        };
        println!(
            "{connections} connections, {}, half the max rate: p99 through echo.js {:.3} ms (target <= 1 ms), --low-cpu {:.3} ms, raw {:.3} ms, node {:.3} ms",
            pattern.as_str(),
            p99(1),
            p99(2),
            p99(0),
            p99(3),
        );
    }
}
