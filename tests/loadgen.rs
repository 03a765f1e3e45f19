//! `sockscope bench` and its library against the real engine running the
//! bundled echo example. Counts and report shape only: never timing.

use std::time::Duration;

use sockscope::core::events::{ClosedBy, Event};
use sockscope::loadgen::{BenchOptions, LoadgenError, SendPattern, run_bench};

use crate::util::process::sockscope;
use crate::util::{TestServer, example_path, script};

fn echo_script() -> String {
    std::fs::read_to_string(example_path("echo.js")).expect("bundled echo example")
}

fn options(server: &TestServer) -> BenchOptions {
    BenchOptions {
        connections: 4,
        messages_per_connection: 50,
        size_bytes: 100,
        window: 8,
        ..BenchOptions::new(server.url("/bench"))
    }
}

#[tokio::test]
async fn bench_counts_every_round_trip_of_every_connection() {
    let server = TestServer::start(&echo_script()).await;
    for (is_binary, pattern) in [
        (false, SendPattern::Trickle),
        (true, SendPattern::Trickle),
        (false, SendPattern::Burst),
    ] {
        let before = server.engine.totals();
        let report = run_bench(
            &BenchOptions {
                is_binary,
                pattern,
                ..options(&server)
            },
            false,
        )
        .await
        .expect("bench runs");
        assert_eq!(report.messages_sent, 200);
        assert_eq!(report.messages_received, 200);
        assert_eq!(report.unexpected_replies, 0);
        assert_eq!(report.bytes_received, 200 * 100);
        assert_eq!(report.latency.samples, 200);
        assert!(report.latency.p50_us <= report.latency.p99_us);
        assert!(report.latency.p99_us <= report.latency.max_us);
        assert_eq!(report.frame, if is_binary { "binary" } else { "text" });
        assert_eq!(report.pattern, pattern);
        let after = server.engine.totals();
        assert_eq!(after.frames_in - before.frames_in, 200);
        assert_eq!(after.frames_out - before.frames_out, 200);
    }
}

#[tokio::test]
async fn a_window_larger_than_the_message_count_still_finishes() {
    let server = TestServer::start(&echo_script()).await;
    let report = run_bench(
        &BenchOptions {
            connections: 2,
            messages_per_connection: 3,
            window: 64,
            size_bytes: 0,
            ..BenchOptions::new(server.url("/"))
        },
        false,
    )
    .await
    .expect("bench runs");
    assert_eq!(report.messages_received, 6);
}

#[tokio::test]
async fn bench_connections_end_with_a_normal_close() {
    let mut server = TestServer::start(&echo_script()).await;
    run_bench(
        &BenchOptions {
            connections: 2,
            messages_per_connection: 1,
            ..BenchOptions::new(server.url("/"))
        },
        false,
    )
    .await
    .expect("bench runs");
    for _ in 0..2 {
        let closed = server
            .wait_for("a close", |event| {
                matches!(event, Event::ConnectionClosed { .. })
            })
            .await;
        let Event::ConnectionClosed { code, by, .. } = &*closed else {
            unreachable!("matched a close");
        };
        assert_eq!((*code, by), (Some(1000), &ClosedBy::Client));
    }
}

#[tokio::test]
async fn a_refused_upgrade_and_a_silent_server_are_errors() {
    let denying = script("websocket('s').on('connect', (ctx) => { ctx.res.success = false; });");
    let server = TestServer::start(&denying).await;
    let error = run_bench(&options(&server), false)
        .await
        .expect_err("a refusal fails the run");
    assert!(matches!(error, LoadgenError::Handshake { .. }), "{error}");
    assert!(error.to_string().contains("500"), "{error}");

    let silent =
        script("const s = websocket('s');\ns.on('connect', () => {});\ns.on('message', () => {});");
    let server = TestServer::start(&silent).await;
    let error = run_bench(
        &BenchOptions {
            reply_timeout: Duration::from_millis(200),
            ..options(&server)
        },
        false,
    )
    .await
    .expect_err("no replies fail the run");
    assert!(
        matches!(
            error,
            LoadgenError::Timeout {
                received: 0,
                expected: 50,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn cli_bench_prints_json_with_counts_and_percentiles() {
    let server = TestServer::start(&echo_script()).await;
    let url = server.url("/");
    let output = tokio::task::spawn_blocking(move || {
        sockscope()
            .args([
                "bench",
                "--url",
                &url,
                "--connections",
                "3",
                "--messages",
                "20",
            ])
            .args(["--size", "16", "--window", "4", "--binary", "--json"])
            .output()
            .expect("run sockscope bench")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(report["connections"], 3);
    assert_eq!(report["messages_received"], 60);
    assert_eq!(report["bytes_received"], 60 * 16);
    assert_eq!(report["frame"], "binary");
    for key in [
        "messages_per_second",
        "megabytes_per_second",
        "connects_per_second",
        "duration_seconds",
    ] {
        assert!(report[key].is_number(), "{key} in {report}");
    }
    for key in ["p50_us", "p90_us", "p99_us", "max_us"] {
        assert!(report["latency"][key].is_u64(), "latency.{key} in {report}");
    }
}

#[test]
fn cli_bench_rejects_a_non_ws_url_with_exit_code_2() {
    let output = sockscope()
        .args(["bench", "--url", "http://127.0.0.1:1/"])
        .output()
        .expect("run sockscope bench");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only ws:// URLs"), "{stderr}");
}
