//! Frame time of the Messages panel with 1,000,000 events, against the same
//! panel with an empty history (the baseline, measured in the same run), and
//! the cost of ingesting events into the UI models.
//!
//! Run: `cargo bench --bench ui_frames`
//! Timing is reported, never asserted: these machines are shared and noisy.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use egui_kittest::Harness;
use sockscope::core::events::{Event, Payload};
use sockscope::launch::LaunchConfig;
use sockscope::ui::panels::messages::MessagesPanel;
use sockscope::ui::state::{AppState, Settings};

const EVENTS: usize = 1_000_000;
const CONNECTIONS: usize = 10_000;
const FRAMES: usize = 200;

struct Bench {
    state: AppState,
    panel: MessagesPanel,
}

fn new_state(runtime: &tokio::runtime::Runtime) -> AppState {
    let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    // The receiver is dropped: nothing here runs background work.
    AppState::new(
        runtime.handle().clone(),
        std::sync::Arc::new(|| {}),
        LaunchConfig::new("unused.js"),
        Settings::default(),
        sender,
    )
}

fn synthetic_events(count: usize) -> Vec<Event> {
    let connections: Vec<_> = (0..CONNECTIONS).map(|_| uuid::Uuid::new_v4()).collect();
    let remote_addr = "127.0.0.1:50000".parse().expect("addr");
    let mut events: Vec<Event> = connections
        .iter()
        .map(|connection_id| Event::ConnectionOpened {
            connection_id: *connection_id,
            remote_addr,
            path: "/".to_owned(),
            query: Default::default(),
            at: Utc::now(),
        })
        .collect();
    let text: Payload =
        Payload::Text(r#"{"type":"message","from":"bench","text":"hello world"}"#.into());
    let binary = Payload::Binary(Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7]));
    for index in 0..count.saturating_sub(CONNECTIONS) {
        let connection_id = connections[index % CONNECTIONS];
        let payload = if index % 10 == 0 {
            binary.clone()
        } else {
            text.clone()
        };
        events.push(if index % 2 == 0 {
            Event::FrameIn {
                connection_id,
                payload,
                at: Utc::now(),
            }
        } else {
            Event::FrameOut {
                connection_id,
                payload,
                at: Utc::now(),
            }
        });
    }
    events
}

/// Mean and worst CPU time of one frame of the Messages panel.
fn frame_times(bench: Bench) -> (Duration, Duration) {
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, bench: &mut Bench| bench.panel.ui(ui, &mut bench.state),
            bench,
        );
    for _ in 0..10 {
        harness.step();
    }
    let mut total = Duration::ZERO;
    let mut worst = Duration::ZERO;
    for _ in 0..FRAMES {
        let started = Instant::now();
        harness.step();
        let elapsed = started.elapsed();
        total += elapsed;
        worst = worst.max(elapsed);
    }
    (total / FRAMES as u32, worst)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let events = synthetic_events(EVENTS);

    let (baseline_mean, baseline_worst) = frame_times(Bench {
        state: new_state(&runtime),
        panel: MessagesPanel::default(),
    });

    let mut state = new_state(&runtime);
    let started = Instant::now();
    for event in &events {
        state.apply_event(event);
    }
    let ingest = started.elapsed();
    let per_second = events.len() as f64 / ingest.as_secs_f64();
    let (loaded_mean, loaded_worst) = frame_times(Bench {
        state,
        panel: MessagesPanel::default(),
    });

    println!("Messages panel, {FRAMES} frames at 1280x800, CPU time per frame (no GPU):");
    println!("  empty history (baseline): mean {baseline_mean:?}, worst {baseline_worst:?}");
    println!(
        "  {EVENTS} events, {CONNECTIONS} connections: mean {loaded_mean:?}, worst {loaded_worst:?}"
    );
    println!(
        "  ratio loaded/baseline: {:.2}",
        loaded_mean.as_secs_f64() / baseline_mean.as_secs_f64()
    );
    println!(
        "Ingest into the UI models: {} events in {ingest:?} = {per_second:.0} events/s",
        events.len()
    );
}
