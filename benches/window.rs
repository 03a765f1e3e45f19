//! The window must not tax the server: echo.js throughput of one build
//! (a) headless — the engine alone, nobody subscribed to its events, as
//! `sockscope serve --quiet` runs it — (b) inside the window
//! (`SockscopeApp` in egui_kittest, no GPU) with the Messages panel
//! following the traffic, and (c) with a lossy subscriber that never reads:
//! the events are built and published, nobody draws them (what b costs the
//! engine before the window does anything). Same process, same runtime
//! shape, rounds alternating a, b and c, the load generator in the same
//! process; the ratio b/a is the figure (target ≥ 0.9).
//!
//! Frames are scheduled as eframe's native loop schedules them, not at a
//! fixed rate: eframe listens to egui's repaint callback (requests made
//! during a frame — the app's own `request_repaint_after` — and those made
//! from other threads, such as the window's event waker) and draws at the
//! earliest requested time; the bench installs the same callback and steps
//! the harness then, at most once per 16.7 ms (a 60 Hz vsync), and never
//! when nothing asked for a frame.
//!
//! Reported beside the rates: the frames drawn, the window thread's CPU
//! per frame and its share of one CPU over the run (from
//! `CLOCK_THREAD_CPUTIME_ID`), the events the window skipped, and the CPU
//! time per message of each thread (`/proc/self/task/*/stat`). Without a
//! GPU the frames cost only egui's own CPU work (layout, tessellation and
//! egui_kittest's AccessKit tree, which a real window builds only for a
//! screen reader), the part that shares the CPUs with the server.
//!
//! `cargo bench --bench window`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use parking_lot::{Condvar, Mutex};
use sockscope::core::config::{KvLocation, default_io_threads};
use sockscope::launch::LaunchConfig;
use sockscope::loadgen::{BenchOptions, BenchReport, SendPattern, run_bench};
use sockscope::ui::app::SockscopeApp;

const ROUNDS: usize = 5;
const CONNECTIONS: usize = 50;
const MESSAGES_PER_CONNECTION: u64 = 4000;
/// The shortest time between two frames (a 60 Hz vsync).
const FRAME: Duration = Duration::from_micros(16_667);
/// How often the frame loop looks whether the load has finished while no
/// frame is due.
const LOAD_POLL: Duration = Duration::from_millis(20);
/// Thread names, for the per-thread CPU figures.
const ENGINE_THREADS: &str = "engine-io";
const LOAD_THREADS: &str = "load";

fn config() -> LaunchConfig {
    let mut config = LaunchConfig::new(common::repo_path("assets/examples/echo.js"));
    config.server.port = 0;
    config.server.kv = KvLocation::parse(":memory:");
    config
}

fn options(url: String, pattern: SendPattern) -> BenchOptions {
    BenchOptions {
        connections: CONNECTIONS,
        messages_per_connection: MESSAGES_PER_CONNECTION,
        size_bytes: 32,
        window: 16,
        pattern,
        ..BenchOptions::new(url)
    }
}

/// CPU time this thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, which
    // lives across the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU seconds per thread name of this process; the main thread (which
/// draws the window) is called "window".
fn threads_now() -> Vec<(String, f64)> {
    let pid = std::process::id();
    let main_name = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/comm"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    common::thread_cpu_seconds(pid)
        .into_iter()
        .map(|(name, seconds)| {
            let name = if name == main_name {
                "window".to_owned()
            } else {
                name
            };
            (name, seconds)
        })
        .collect()
}

/// One run's throughput and the CPU time per message of each thread.
struct Run {
    messages_per_second: f64,
    us_per_message: Vec<(String, f64)>,
}

impl Run {
    fn measure(report: &BenchReport, before: &[(String, f64)]) -> Self {
        let messages = report.messages_received.max(1) as f64;
        let us_per_message = threads_now()
            .into_iter()
            .map(|(name, seconds)| {
                let earlier = before
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map_or(0.0, |(_, seconds)| *seconds);
                (name, (seconds - earlier) * 1e6 / messages)
            })
            .filter(|(_, us)| *us > 0.0)
            .collect();
        Self {
            messages_per_second: report.messages_per_second,
            us_per_message,
        }
    }
}

/// Runs the load on its own thread (its own runtime), so the caller's
/// thread stays free to draw frames.
fn load_in_background(options: BenchOptions) -> std::thread::JoinHandle<BenchReport> {
    std::thread::Builder::new()
        .name("load generator".to_owned())
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name(LOAD_THREADS)
                .enable_all()
                .build()
                .expect("load runtime")
                .block_on(run_bench(&options, false))
                .unwrap_or_else(|error| panic!("load: {error}"))
        })
        .expect("spawn the load thread")
}

/// (a), or (c) with `subscribed`: the engine without a window.
fn headless(
    engine_runtime: &tokio::runtime::Runtime,
    pattern: SendPattern,
    subscribed: bool,
) -> Run {
    let engine = engine_runtime
        .block_on(sockscope::launch::start(config()))
        .expect("engine starts");
    // Never read: it lags, the bus overwrites what it did not take.
    let subscription = subscribed.then(|| engine.subscribe());
    let before = threads_now();
    let report = load_in_background(options(engine.url(), pattern))
        .join()
        .expect("load thread");
    let run = Run::measure(&report, &before);
    drop(subscription);
    engine_runtime.block_on(engine.shutdown());
    run
}

/// The earliest time a frame was asked for, as eframe's event loop keeps
/// it, and a signal for the frame loop when an earlier one is asked for.
#[derive(Default)]
struct RepaintRequests {
    earliest: Mutex<Option<Instant>>,
    asked: Condvar,
}

impl RepaintRequests {
    /// Installs the callback eframe's native integration installs.
    fn listen(harness: &Harness<'_, SockscopeApp>) -> Arc<Self> {
        let requests = Arc::new(Self::default());
        let listener = Arc::clone(&requests);
        harness.ctx.set_request_repaint_callback(move |info| {
            let Some(when) = Instant::now().checked_add(info.delay) else {
                return;
            };
            let mut earliest = listener.earliest.lock();
            if earliest.is_none_or(|at| when < at) {
                *earliest = Some(when);
                listener.asked.notify_one();
            }
        });
        requests
    }

    /// Waits until a frame is due (`true`: the request is taken, as
    /// eframe's loop takes it when it draws) or `until` passes.
    fn wait_for_frame(&self, not_before: Instant, until: Instant) -> bool {
        let mut earliest = self.earliest.lock();
        loop {
            let now = Instant::now();
            if let Some(at) = *earliest
                && at.max(not_before) <= now
            {
                *earliest = None;
                return true;
            }
            if now >= until {
                return false;
            }
            let wake_at = earliest.map_or(until, |at| at.max(not_before).min(until));
            self.asked.wait_until(&mut earliest, wake_at);
        }
    }
}

struct WindowRun {
    run: Run,
    frames: usize,
    frame_cpu: Duration,
    window_cpu_share: f64,
    rows_shown: usize,
    skipped_events: u64,
    was_flooded: bool,
}

fn with_window(engine_runtime: &Arc<tokio::runtime::Runtime>, pattern: SendPattern) -> WindowRun {
    let handle = engine_runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| SockscopeApp::new(cc, handle, config()));
    let requests = RepaintRequests::listen(&harness);
    let started = Instant::now();
    let url = loop {
        harness.step();
        if let Some(engine) = harness.state().state.engine.as_ref() {
            break engine.url();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no engine");
        std::thread::sleep(Duration::from_millis(5));
    };
    // Let the first frames' layout settle before the load starts.
    for _ in 0..100 {
        let now = Instant::now();
        if !requests.wait_for_frame(now, now + Duration::from_millis(300)) {
            break;
        }
        harness.step();
    }
    let before = threads_now();
    let (cpu_before, wall_before) = (thread_cpu_time(), Instant::now());
    let load = load_in_background(options(url, pattern));
    let (mut frames, mut frame_cpu) = (0, Duration::ZERO);
    let mut was_flooded = false;
    let mut last_frame = Instant::now() - FRAME;
    while !load.is_finished() {
        if !requests.wait_for_frame(last_frame + FRAME, Instant::now() + LOAD_POLL) {
            continue;
        }
        last_frame = Instant::now();
        let cpu_at_start = thread_cpu_time();
        harness.step();
        frame_cpu += thread_cpu_time() - cpu_at_start;
        frames += 1;
        was_flooded |= harness.state().state.is_flooded;
    }
    let window_cpu_share =
        (thread_cpu_time() - cpu_before).as_secs_f64() / wall_before.elapsed().as_secs_f64();
    let report = load.join().expect("load thread");
    let run = Run::measure(&report, &before);
    let rows_shown = harness.state().state.timeline.len();
    let skipped_events = harness.state().state.missed_events;
    if let Some(engine) = harness.state_mut().state.engine.take() {
        engine_runtime.block_on(engine.shutdown());
    }
    WindowRun {
        run,
        frames,
        frame_cpu: frame_cpu / frames.max(1) as u32,
        window_cpu_share,
        rows_shown,
        skipped_events,
        was_flooded,
    }
}

/// The median of each thread's CPU per message over `runs`.
fn median_threads(runs: &[&Run]) -> String {
    let mut names: Vec<&str> = runs
        .iter()
        .flat_map(|run| run.us_per_message.iter().map(|(name, _)| name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut total = Vec::new();
    let mut parts: Vec<String> = names
        .iter()
        .map(|name| {
            let mut values: Vec<f64> = runs
                .iter()
                .map(|run| {
                    run.us_per_message
                        .iter()
                        .find(|(known, _)| known == name)
                        .map_or(0.0, |(_, us)| *us)
                })
                .collect();
            let median = common::median(&mut values);
            total.push(median);
            format!("{name} {median:.2}")
        })
        .collect();
    parts.insert(0, format!("total {:.2}", total.iter().sum::<f64>()));
    parts.join(", ")
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let engine_runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(default_io_threads())
            .thread_name(ENGINE_THREADS)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    println!("machine: {}", common::machine());
    for pattern in [SendPattern::Trickle, SendPattern::Burst] {
        let (mut alone, mut windowed, mut subscribed) = (Vec::new(), Vec::new(), Vec::new());
        headless(&engine_runtime, pattern, false);
        for _ in 0..ROUNDS {
            alone.push(headless(&engine_runtime, pattern, false));
            windowed.push(with_window(&engine_runtime, pattern));
            subscribed.push(headless(&engine_runtime, pattern, true));
        }
        let rate = |runs: &[&Run]| {
            let mut rates: Vec<f64> = runs.iter().map(|run| run.messages_per_second).collect();
            common::median(&mut rates)
        };
        let alone: Vec<&Run> = alone.iter().collect();
        let subscribed: Vec<&Run> = subscribed.iter().collect();
        let windowed_runs: Vec<&Run> = windowed.iter().map(|window| &window.run).collect();
        let (a, b, c) = (rate(&alone), rate(&windowed_runs), rate(&subscribed));
        println!(
            "\n{CONNECTIONS} conns x {MESSAGES_PER_CONNECTION} x 32 B echo.js, window 16, {} (median of {ROUNDS} rounds):",
            pattern.as_str()
        );
        println!(
            "  a headless engine                 {a:>9.0} msg/s   CPU us/msg: {}",
            median_threads(&alone)
        );
        println!(
            "  b window, Follow on               {b:>9.0} msg/s   CPU us/msg: {}",
            median_threads(&windowed_runs)
        );
        println!(
            "  c events built, nobody draws      {c:>9.0} msg/s   CPU us/msg: {}",
            median_threads(&subscribed)
        );
        println!("  b/a = {:.2} (target >= 0.9), c/a = {:.2}", b / a, c / a);
        for (round, window) in windowed.iter().enumerate() {
            println!(
                "    b round {}: {:>6.0} msg/s, {} frames, {:.2} ms CPU per frame, window thread {:.1}% of a CPU, {} events skipped, {} rows shown{}",
                round + 1,
                window.run.messages_per_second,
                window.frames,
                window.frame_cpu.as_secs_f64() * 1e3,
                window.window_cpu_share * 100.0,
                window.skipped_events,
                window.rows_shown,
                if window.was_flooded {
                    ", flood mode"
                } else {
                    ""
                },
            );
        }
    }
}
