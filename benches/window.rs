//! The window must not tax the server: echo.js throughput of one build
//! (a) headless — the engine alone, nobody subscribed to its events, as
//! `sockscope serve --quiet` runs it — and (b) inside the window
//! (`SockscopeApp` in egui_kittest, no GPU) drawing 60 frames a second with
//! the Messages panel following the traffic. Same process, same runtime
//! shape, rounds alternating a and b, the load generator in the same
//! process; the ratio b/a is the figure (target ≥ 0.9).
//!
//! The window subscribes to the bus lossily and ingests time-boxed per
//! frame, so a flood makes it skip events (it reports how many), never
//! slow the engine: the bench prints the events the window saw and missed.
//! Without a GPU the frames cost only egui's own CPU work (layout and
//! tessellation), the part that shares the CPUs with the server.
//!
//! `cargo bench --bench window`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use sockscope::core::config::{KvLocation, default_io_threads};
use sockscope::launch::LaunchConfig;
use sockscope::loadgen::{BenchOptions, BenchReport, SendPattern, run_bench};
use sockscope::ui::app::SockscopeApp;

const ROUNDS: usize = 3;
const FRAME: Duration = Duration::from_micros(16_667);

fn config() -> LaunchConfig {
    let mut config = LaunchConfig::new(common::repo_path("assets/examples/echo.js"));
    config.server.port = 0;
    config.server.kv = KvLocation::parse(":memory:");
    config
}

fn options(url: String, pattern: SendPattern) -> BenchOptions {
    BenchOptions {
        connections: 50,
        messages_per_connection: 2000,
        size_bytes: 32,
        window: 16,
        pattern,
        ..BenchOptions::new(url)
    }
}

/// Runs the load on its own thread (its own runtime), so the caller's
/// thread stays free to draw frames.
fn load_in_background(options: BenchOptions) -> std::thread::JoinHandle<BenchReport> {
    std::thread::Builder::new()
        .name("load generator".to_owned())
        .spawn(move || {
            common::client_runtime()
                .block_on(run_bench(&options, false))
                .unwrap_or_else(|error| panic!("load: {error}"))
        })
        .expect("spawn the load thread")
}

fn headless(engine_runtime: &tokio::runtime::Runtime, pattern: SendPattern) -> f64 {
    let engine = engine_runtime
        .block_on(sockscope::launch::start(config()))
        .expect("engine starts");
    let report = load_in_background(options(engine.url(), pattern))
        .join()
        .expect("load thread");
    engine_runtime.block_on(engine.shutdown());
    report.messages_per_second
}

struct WindowRun {
    messages_per_second: f64,
    frames: usize,
    mean_frame: Duration,
    rows_shown: usize,
    missed_events: u64,
}

fn with_window(engine_runtime: &Arc<tokio::runtime::Runtime>, pattern: SendPattern) -> WindowRun {
    let handle = engine_runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| SockscopeApp::new(cc, handle, config()));
    let started = Instant::now();
    let url = loop {
        harness.step();
        if let Some(engine) = harness.state().state.engine.as_ref() {
            break engine.url();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no engine");
        std::thread::sleep(Duration::from_millis(5));
    };
    let load = load_in_background(options(url, pattern));
    let (mut frames, mut drawing) = (0, Duration::ZERO);
    let mut next_frame = Instant::now();
    while !load.is_finished() {
        let frame_started = Instant::now();
        harness.step();
        drawing += frame_started.elapsed();
        frames += 1;
        next_frame += FRAME;
        if let Some(wait) = next_frame.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next_frame = Instant::now();
        }
    }
    let report = load.join().expect("load thread");
    let rows_shown = harness.state().state.timeline.len();
    let missed_events = harness.state().state.missed_events;
    if let Some(engine) = harness.state_mut().state.engine.take() {
        engine_runtime.block_on(engine.shutdown());
    }
    WindowRun {
        messages_per_second: report.messages_per_second,
        frames,
        mean_frame: drawing / frames.max(1) as u32,
        rows_shown,
        missed_events,
    }
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let engine_runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(default_io_threads())
            .enable_all()
            .build()
            .expect("runtime"),
    );
    println!("machine: {}", common::machine());
    for pattern in [SendPattern::Trickle, SendPattern::Burst] {
        let (mut alone, mut windowed) = (Vec::new(), Vec::new());
        let mut last = None;
        headless(&engine_runtime, pattern);
        for _ in 0..ROUNDS {
            alone.push(headless(&engine_runtime, pattern));
            let run = with_window(&engine_runtime, pattern);
            windowed.push(run.messages_per_second);
            last = Some(run);
        }
        let (alone, windowed) = (common::median(&mut alone), common::median(&mut windowed));
        println!(
            "\n50 conns x 2000 x 32 B echo.js, window 16, {} (median of {ROUNDS} rounds):",
            pattern.as_str()
        );
        println!("  a headless engine           {alone:>9.0} msg/s");
        println!("  b window, Follow on, 60 fps {windowed:>9.0} msg/s");
        if let Some(run) = last {
            println!(
                "    last round: {} frames, mean {:?} CPU per frame, {} rows in the Messages panel, {} events skipped by the window",
                run.frames, run.mean_frame, run.rows_shown, run.missed_events
            );
        }
        println!("  b/a = {:.2} (target >= 0.9)", windowed / alone);
    }
}
