//! Proxy overhead, same run: the same loads against (a) a raw
//! tokio-tungstenite echo server directly and (b) `sockscope proxy -q` in
//! front of it. Rounds alternate a and b; medians and the ratio b/a are
//! printed (issue 16's targets: throughput >= 0.8 x direct for 32 B and
//! 16 KiB), with the CPU time per message of every process: the target, the
//! proxy and this one (the load generator).
//!
//! Then latency at half the direct maximum (target: added p99 <= 0.3 ms),
//! paced evenly: with the 50 connections of the maximum and with 10, and
//! how busy the CPUs were. The maximum is measured unpaced, where every
//! read carries many messages; paced, each message costs its own system
//! calls and wake-ups (see benches/latency.rs), so whether half the direct
//! maximum still leaves the CPUs idle decides what the p99 measures: the
//! proxy's hop, or a queue. Last the same at 5% of the maximum, 50
//! connections: a light trickle, where wake-ups cost the most per message.
//!
//! Last, resident memory per idle connection: N connections held open
//! through a fresh proxy against N served by a fresh `sockscope serve -q`
//! (echo.js) (target: <= 2x; the proxy holds two sockets per connection).
//! Fresh: a process that carried the loads before reuses the memory they
//! freed, and its growth would understate what a connection costs.
//!
//! `cargo bench --bench proxy [-- --quick] [-- --also-io-threads N]`: the
//! last adds (c), a second proxy with `--io-threads N`, to every load.

mod common;

use sockscope::loadgen::{BenchOptions, SendPattern, run_bench};

use common::Server;

const PACED_SECONDS: f64 = 4.0;

/// One run: the report's figures and the CPU time each process used per
/// message (target, proxy if any, load generator).
#[derive(Clone, Copy, Default)]
struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    target_us: f64,
    proxy_us: f64,
    loadgen_us: f64,
    /// CPU seconds of the three processes over the run's wall time and the
    /// machine's CPUs.
    cpus_busy: f64,
}

struct Servers {
    target: Server,
    /// (label, proxy): b, then c if asked for.
    proxies: Vec<(&'static str, Server)>,
}

fn cpu_of(pid: Option<u32>) -> f64 {
    pid.and_then(|pid| common::cpu_seconds(&pid.to_string()))
        .unwrap_or(0.0)
}

/// Runs `options` against `proxy` (or the target directly).
fn run(
    runtime: &tokio::runtime::Runtime,
    servers: &Servers,
    proxy: Option<&Server>,
    options: BenchOptions,
) -> Run {
    let url = proxy
        .map_or(&servers.target.url, |proxy| &proxy.url)
        .clone();
    let pids = [Some(servers.target.pid()), proxy.map(Server::pid)];
    let cpu = || {
        (
            cpu_of(pids[0]),
            cpu_of(pids[1]),
            common::cpu_seconds("self").unwrap_or(0.0),
        )
    };
    let before = cpu();
    let report = runtime
        .block_on(run_bench(&BenchOptions { url, ..options }, false))
        .unwrap_or_else(|error| panic!("{error}"));
    let after = cpu();
    let messages = report.messages_received.max(1) as f64;
    let used = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    Run {
        rate: report.messages_per_second,
        p50_ms: report.latency.p50_us as f64 / 1000.0,
        p99_ms: report.latency.p99_us as f64 / 1000.0,
        target_us: used.0 * 1e6 / messages,
        proxy_us: used.1 * 1e6 / messages,
        loadgen_us: used.2 * 1e6 / messages,
        cpus_busy: (used.0 + used.1 + used.2) / (report.duration_seconds.max(1e-9) * cpus),
    }
}

/// The median of each figure over `runs`.
fn median(runs: &[Run]) -> Run {
    let of = |figure: fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(figure).collect();
        common::median(&mut values)
    };
    Run {
        rate: of(|run| run.rate),
        p50_ms: of(|run| run.p50_ms),
        p99_ms: of(|run| run.p99_ms),
        target_us: of(|run| run.target_us),
        proxy_us: of(|run| run.proxy_us),
        loadgen_us: of(|run| run.loadgen_us),
        cpus_busy: of(|run| run.cpus_busy),
    }
}

/// `rounds` alternating rounds of `options` against the target and every
/// proxy: the median per server, direct first.
fn rounds(
    runtime: &tokio::runtime::Runtime,
    servers: &Servers,
    options: &BenchOptions,
    rounds: usize,
) -> Vec<Run> {
    let lanes: Vec<Option<&Server>> = std::iter::once(None)
        .chain(servers.proxies.iter().map(|(_, proxy)| Some(proxy)))
        .collect();
    let mut runs = vec![Vec::new(); lanes.len()];
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..lanes.len()).collect()
        } else {
            (0..lanes.len()).rev().collect()
        };
        for lane in order {
            runs[lane].push(run(runtime, servers, lanes[lane], options.clone()));
        }
    }
    runs.iter().map(|runs| median(runs)).collect()
}

fn label(servers: &Servers, lane: usize) -> String {
    match lane {
        0 => "direct (a)".to_owned(),
        lane => format!("proxied ({})", servers.proxies[lane - 1].0),
    }
}

fn cpu_line(run: &Run) -> String {
    let proxy = if run.proxy_us > 0.0 {
        format!("proxy {:.2}, ", run.proxy_us)
    } else {
        String::new()
    };
    format!(
        "cpu/msg: {proxy}target {:.2}, load generator {:.2} us",
        run.target_us, run.loadgen_us
    )
}

/// Resident KiB the process grows by per idle connection, over `count`.
fn rss_per_connection(runtime: &tokio::runtime::Runtime, pid: u32, url: &str, count: usize) -> f64 {
    std::thread::sleep(common::SETTLE);
    let before = common::rss_kib(pid).unwrap_or(0);
    let clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let (client, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("an idle connection");
            clients.push(client);
        }
        clients
    });
    std::thread::sleep(common::SETTLE * 5);
    let after = common::rss_kib(pid).unwrap_or(0);
    drop(clients);
    after.saturating_sub(before) as f64 / count as f64
}

fn main() {
    common::serve_raw_echo_if_asked();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--list") {
        return;
    }
    let is_quick = args.iter().any(|arg| arg == "--quick");
    let also_io_threads = args
        .iter()
        .position(|arg| arg == "--also-io-threads")
        .and_then(|at| args.get(at + 1))
        .map(|threads| threads.parse::<u32>().expect("--also-io-threads N"));
    let round_count = if is_quick { 1 } else { 3 };
    let runtime = common::client_runtime();
    let target = common::raw_echo_server();
    let mut proxies = vec![("b", common::sockscope_proxy(&target.url, &[]))];
    if let Some(threads) = also_io_threads {
        let threads = threads.to_string();
        proxies.push((
            "c",
            common::sockscope_proxy(&target.url, &["--io-threads", &threads]),
        ));
        println!("(c) = sockscope proxy -q --io-threads {threads}");
    }
    let servers = Servers { target, proxies };
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    for (size_bytes, messages) in [(32, 4000), (16 * 1024, 200)] {
        let messages = if is_quick { messages / 4 } else { messages };
        let base = BenchOptions {
            connections: 50,
            messages_per_connection: messages,
            size_bytes,
            window: 16,
            pattern: SendPattern::Trickle,
            ..BenchOptions::new(String::new())
        };
        // Warm-up.
        rounds(
            &runtime,
            &servers,
            &BenchOptions {
                messages_per_connection: messages / 10,
                ..base.clone()
            },
            1,
        );
        let maxima = rounds(&runtime, &servers, &base, round_count);
        println!(
            "\n50 conns x {size_bytes} B text, trickle, window 16, unpaced (median of {round_count}):"
        );
        for (lane, run) in maxima.iter().enumerate() {
            println!(
                "  {:<12} {:>8.0} msg/s  b/a {:.2}  p50 {:>6.2} ms  p99 {:>6.2} ms  {}",
                label(&servers, lane),
                run.rate,
                run.rate / maxima[0].rate,
                run.p50_ms,
                run.p99_ms,
                cpu_line(run)
            );
        }
        println!(
            "  paced, {PACED_SECONDS} s each (target at half the direct maximum: added p99 <= 0.3 ms):"
        );
        for (fraction, connections) in [(0.5, 50), (0.5, 10), (0.05, 50)] {
            let rate = maxima[0].rate * fraction;
            println!(
                "    at {:.0}% of the direct maximum, {rate:.0} msg/s, {connections} connections:",
                fraction * 100.0
            );
            let paced = BenchOptions {
                connections,
                messages_per_connection: (rate * PACED_SECONDS / connections as f64) as u64,
                rate_per_second: Some(rate),
                ..base.clone()
            };
            let runs = rounds(&runtime, &servers, &paced, round_count);
            for (lane, run) in runs.iter().enumerate() {
                let added = if lane == 0 {
                    String::new()
                } else {
                    format!("added {:>6.2} ms", run.p99_ms - runs[0].p99_ms)
                };
                println!(
                    "      {:<12} achieved {:>7.0}  p50 {:>6.2}  p99 {:>6.2} ms {added:<16} CPUs busy {:>3.0}%  {}",
                    label(&servers, lane),
                    run.rate,
                    run.p50_ms,
                    run.p99_ms,
                    run.cpus_busy * 100.0,
                    cpu_line(run)
                );
            }
        }
    }
    let count = if is_quick { 200 } else { 1000 };
    let echo = common::repo_path("assets/examples/echo.js");
    let served = common::sockscope_serve(&echo, ":memory:");
    let served_kib = rss_per_connection(&runtime, served.pid(), &served.url, count);
    drop(servers.proxies);
    let proxy = common::sockscope_proxy(&servers.target.url, &[]);
    let proxied_kib = rss_per_connection(&runtime, proxy.pid(), &proxy.url, count);
    println!(
        "\nresident memory per idle connection ({count} open):\n  \
         served (echo.js) {served_kib:.1} KiB\n  proxied {proxied_kib:.1} KiB (both sockets)\n  \
         proxied / served = {:.2} (target <= 2)",
        proxied_kib / served_kib.max(0.1)
    );
}
