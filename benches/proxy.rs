//! Proxy overhead, same run: the same loads against (a) a raw
//! tokio-tungstenite echo server directly and (b) `sockscope proxy -q` in
//! front of it. Rounds alternate a and b; medians and the ratio b/a are
//! printed (issue 16's targets: throughput >= 0.8 x direct for 32 B and
//! 16 KiB). Then resident memory per idle connection: N connections held
//! open through the proxy against N served by `sockscope serve -q`
//! (echo.js) (target: <= 2x; the proxy holds two sockets per connection).
//!
//! `cargo bench --bench proxy [-- --quick]`

mod common;

use sockscope::loadgen::{BenchOptions, SendPattern, run_bench};

fn rate(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    size_bytes: usize,
    messages: u64,
) -> (f64, f64) {
    paced(runtime, url, size_bytes, messages, None)
}

/// (messages/s, p99 ms) of 50 trickling connections, paced to
/// `rate_per_second` over all of them when given.
fn paced(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    size_bytes: usize,
    messages: u64,
    rate_per_second: Option<f64>,
) -> (f64, f64) {
    let options = BenchOptions {
        connections: 50,
        messages_per_connection: messages,
        size_bytes,
        window: 16,
        pattern: SendPattern::Trickle,
        rate_per_second,
        ..BenchOptions::new(url.to_owned())
    };
    let report = runtime
        .block_on(run_bench(&options, false))
        .unwrap_or_else(|error| panic!("{url}: {error}"));
    (
        report.messages_per_second,
        report.latency.p99_us as f64 / 1000.0,
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
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let is_quick = std::env::args().any(|arg| arg == "--quick");
    let rounds = if is_quick { 1 } else { 3 };
    let runtime = common::client_runtime();
    let raw = common::raw_echo_server();
    let proxy = common::sockscope_proxy(&raw.url);
    std::thread::sleep(common::SETTLE);
    println!("machine: {}", common::machine());
    for (size_bytes, messages) in [(32, 4000), (16 * 1024, 200)] {
        let messages = if is_quick { messages / 4 } else { messages };
        // Warm-up.
        rate(&runtime, &raw.url, size_bytes, messages / 10);
        rate(&runtime, &proxy.url, size_bytes, messages / 10);
        let mut direct = Vec::new();
        let mut proxied = Vec::new();
        let mut direct_p99 = Vec::new();
        let mut proxied_p99 = Vec::new();
        for _ in 0..rounds {
            let (rate_a, p99_a) = rate(&runtime, &raw.url, size_bytes, messages);
            let (rate_b, p99_b) = rate(&runtime, &proxy.url, size_bytes, messages);
            direct.push(rate_a);
            proxied.push(rate_b);
            direct_p99.push(p99_a);
            proxied_p99.push(p99_b);
        }
        let (a, b) = (common::median(&mut direct), common::median(&mut proxied));
        println!(
            "\n50 conns x {size_bytes} B text, trickle, window 16 (median of {rounds}):\n  \
             direct {a:>8.0} msg/s  p99 {:>6.2} ms\n  proxied {b:>7.0} msg/s  p99 {:>6.2} ms\n  \
             b/a = {:.2} (target >= 0.8)",
            common::median(&mut direct_p99),
            common::median(&mut proxied_p99),
            b / a
        );
        // Latency at half the direct maximum, both paced alike.
        let half = Some(a / 2.0);
        let mut direct_paced = Vec::new();
        let mut proxied_paced = Vec::new();
        for _ in 0..rounds {
            direct_paced.push(paced(&runtime, &raw.url, size_bytes, messages, half).1);
            proxied_paced.push(paced(&runtime, &proxy.url, size_bytes, messages, half).1);
        }
        let (paced_a, paced_b) = (
            common::median(&mut direct_paced),
            common::median(&mut proxied_paced),
        );
        println!(
            "  paced at {:.0} msg/s (half the direct maximum): p99 direct {paced_a:.2} ms, \
             proxied {paced_b:.2} ms, added {:.2} ms (target <= 0.3)",
            a / 2.0,
            paced_b - paced_a
        );
    }
    let count = if is_quick { 200 } else { 1000 };
    let echo = common::repo_path("assets/examples/echo.js");
    let served = common::sockscope_serve(&echo, ":memory:");
    let served_kib = rss_per_connection(&runtime, served.pid(), &served.url, count);
    let proxied_kib = rss_per_connection(&runtime, proxy.pid(), &proxy.url, count);
    println!(
        "\nresident memory per idle connection ({count} open):\n  \
         served (echo.js) {served_kib:.1} KiB\n  proxied {proxied_kib:.1} KiB (both sockets)\n  \
         proxied / served = {:.2} (target <= 2)",
        proxied_kib / served_kib.max(0.1)
    );
}
