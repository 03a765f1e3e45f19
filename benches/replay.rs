//! Replay speed: `replay --timing fast` of a generated 10,000-message echo
//! session (one connection: 10,000 sends, each followed by its recorded
//! echo) against the embedded engine (`EngineHandle::start`, `:memory:` kv,
//! `assets/examples/echo.js`, in this process, as `sockscope replay` runs
//! it), then 100 such sessions in parallel. Baseline in the same run: the
//! load generator doing the same ping-pong (window 1) on as many
//! connections, against the same engine — the cost of the wire and the
//! handler without replay's bookkeeping.
//!
//! `cargo bench --bench replay`

mod common;

use std::time::Instant;

use sockscope::core::config::KvLocation;
use sockscope::core::events::ClosedBy;
use sockscope::launch::LaunchConfig;
use sockscope::loadgen::{BenchOptions, run_bench};
use sockscope::session::format::{Frame, Header, Session, SessionEvent, SessionLine};
use sockscope::session::replay::{ReplayOptions, Timing, replay_session};

const SENDS: u64 = 10_000;
const PARALLEL_SESSIONS: usize = 100;
const PARALLEL_SENDS: u64 = 1_000;

fn echo_session(sends: u64) -> Session {
    let mut session = Session::new(Header::new("generated"));
    let line = |t: u64, event: SessionEvent| SessionLine {
        t,
        conn: "c1".to_owned(),
        event,
    };
    session.lines.push(line(
        0,
        SessionEvent::Connect {
            path: "/".to_owned(),
            query: Default::default(),
        },
    ));
    session
        .lines
        .push(line(0, SessionEvent::Accepted { id: None }));
    for index in 0..sends {
        let text = format!("message {index}");
        session
            .lines
            .push(line(index, SessionEvent::Send(Frame::Text(text.clone()))));
        session
            .lines
            .push(line(index, SessionEvent::Recv(Frame::Text(text))));
    }
    session.lines.push(line(
        sends,
        SessionEvent::Close {
            code: Some(1000),
            by: ClosedBy::Client,
        },
    ));
    session
}

async fn replay_many(url: &str, session: &Session, count: usize) -> f64 {
    let options = ReplayOptions {
        timing: Timing::Fast,
        ..ReplayOptions::new(url)
    };
    let started = Instant::now();
    let replays = (0..count).map(|_| replay_session(session, &options, |_| {}));
    for report in futures_util::future::join_all(replays).await {
        let report = report.expect("replay runs");
        assert!(report.passed(), "replay diverged: {:?}", report.divergence);
    }
    started.elapsed().as_secs_f64()
}

async fn ping_pong(url: &str, connections: usize, sends: u64) -> f64 {
    let report = run_bench(
        &BenchOptions {
            connections,
            messages_per_connection: sends,
            window: 1,
            size_bytes: 14,
            ..BenchOptions::new(url)
        },
        false,
    )
    .await
    .expect("ping-pong runs");
    report.duration_seconds
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = common::embedded_engine_runtime();
    runtime.block_on(async {
        let mut config = LaunchConfig::new(common::repo_path("assets/examples/echo.js"));
        config.server.port = 0;
        config.server.kv = KvLocation::Memory;
        let engine = sockscope::launch::start(config)
            .await
            .expect("engine starts");
        let url = engine.url();
        println!("machine: {}", common::machine());

        let single = echo_session(SENDS);
        let parallel = echo_session(PARALLEL_SENDS);
        // Warm-up.
        replay_many(&url, &echo_session(1000), 1).await;

        let mut replay_seconds = Vec::new();
        let mut baseline_seconds = Vec::new();
        for _ in 0..3 {
            replay_seconds.push(replay_many(&url, &single, 1).await);
            baseline_seconds.push(ping_pong(&url, 1, SENDS).await);
        }
        let replay = common::median(&mut replay_seconds);
        let baseline = common::median(&mut baseline_seconds);
        println!("\none session, {SENDS} sends + {SENDS} recvs, fast timing (median of 3):");
        println!(
            "  replay     {:.3} s = {:.0} sends/s ({:.0} session messages/s)",
            replay,
            SENDS as f64 / replay,
            2.0 * SENDS as f64 / replay
        );
        println!(
            "  ping-pong  {:.3} s = {:.0} round trips/s (baseline)",
            baseline,
            SENDS as f64 / baseline
        );
        println!("  replay / baseline = {:.2}", baseline / replay);

        let total = PARALLEL_SESSIONS as u64 * PARALLEL_SENDS;
        let mut replay_seconds = Vec::new();
        let mut baseline_seconds = Vec::new();
        for _ in 0..3 {
            replay_seconds.push(replay_many(&url, &parallel, PARALLEL_SESSIONS).await);
            baseline_seconds.push(ping_pong(&url, PARALLEL_SESSIONS, PARALLEL_SENDS).await);
        }
        let replay = common::median(&mut replay_seconds);
        let baseline = common::median(&mut baseline_seconds);
        println!(
            "\n{PARALLEL_SESSIONS} sessions in parallel, {PARALLEL_SENDS} sends each (median of 3):"
        );
        println!(
            "  replay     {:.3} s = {:.0} sends/s ({:.0} session messages/s)",
            replay,
            total as f64 / replay,
            2.0 * total as f64 / replay
        );
        println!(
            "  ping-pong  {:.3} s = {:.0} round trips/s (baseline)",
            baseline,
            total as f64 / baseline
        );
        println!("  replay / baseline = {:.2}", baseline / replay);
        engine.shutdown().await;
    });
}
