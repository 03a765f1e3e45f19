//! Latency: round trips through `assets/examples/echo.js` (`sockscope serve
//! --quiet`, its own process) at half the maximum rate measured in the same
//! run, paced evenly over 50 connections (sub-millisecond pacing, see
//! `loadgen::pacer`). Baseline: the raw tokio-tungstenite echo server under
//! the same paced load. A sweep over lower rates shows where each one's
//! p99 crosses 1 ms on this machine.
//!
//! `cargo bench --bench latency`

mod common;

use sockscope::loadgen::{BenchOptions, BenchReport, run_bench};

use common::Server;

const CONNECTIONS: usize = 50;
const PACED_SECONDS: f64 = 5.0;

fn run(runtime: &tokio::runtime::Runtime, server: &Server, options: BenchOptions) -> BenchReport {
    runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{}: {error}", server.name))
}

fn main() {
    common::serve_raw_echo_if_asked();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = common::client_runtime();
    let raw = common::raw_echo_server();
    let sockscope =
        common::sockscope_serve(&common::repo_path("assets/examples/echo.js"), ":memory:");
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    let base = BenchOptions {
        connections: CONNECTIONS,
        size_bytes: 32,
        window: 16,
        ..BenchOptions::new(sockscope.url.clone())
    };
    // Maximum rate: unpaced, window 16 (best of 2 after a warm-up).
    run(
        &runtime,
        &sockscope,
        BenchOptions {
            messages_per_connection: 500,
            ..base.clone()
        },
    );
    let max_rate = (0..2)
        .map(|_| {
            run(
                &runtime,
                &sockscope,
                BenchOptions {
                    messages_per_connection: 3000,
                    ..base.clone()
                },
            )
            .messages_per_second
        })
        .fold(0.0, f64::max);
    println!(
        "max rate through echo.js: {max_rate:.0} msg/s; paced over {CONNECTIONS} connections, {PACED_SECONDS} s per rate"
    );
    let mut at_half = None;
    for fraction in [0.05, 0.1, 0.25, 0.5] {
        let rate = max_rate * fraction;
        let messages_per_connection = (rate * PACED_SECONDS / CONNECTIONS as f64) as u64;
        let paced = |server: &Server| BenchOptions {
            url: server.url.clone(),
            messages_per_connection,
            rate_per_second: Some(rate),
            ..base.clone()
        };
        let through_echo = run(&runtime, &sockscope, paced(&sockscope));
        let through_raw = run(&runtime, &raw, paced(&raw));
        println!(
            "at {:.0}% of the max rate ({rate:.0} msg/s):",
            fraction * 100.0
        );
        for (name, report) in [(raw.name, &through_raw), (sockscope.name, &through_echo)] {
            println!(
                "  {name:<28} achieved {:>7.0} msg/s  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                report.messages_per_second,
                report.latency.p50_us as f64 / 1000.0,
                report.latency.p90_us as f64 / 1000.0,
                report.latency.p99_us as f64 / 1000.0,
                report.latency.max_us as f64 / 1000.0,
            );
        }
        at_half = Some((through_echo, through_raw));
    }
    if let Some((through_echo, through_raw)) = at_half {
        println!(
            "  at half the max rate: p99 echo.js / raw = {:.2}; p99 through echo.js {:.3} ms (target <= 1 ms)",
            through_echo.latency.p99_us as f64 / through_raw.latency.p99_us.max(1) as f64,
            through_echo.latency.p99_us as f64 / 1000.0
        );
    }
}
