//! The `sockscope` binary as a user runs it.

use std::process::Command;

use crate::util::process::{Serving, run_failing, serve, sockscope};
use crate::util::{WAIT, example_arg, recv_text, send_text};

/// `serve` running echo.js on a free port with an in-memory kv, plus `extra`.
fn serve_echo(dir: &std::path::Path, extra: &[&str]) -> Serving {
    let echo = example_arg("echo.js");
    let mut args = vec!["--script", &echo, "--port", "0", "--kv", ":memory:"];
    args.extend_from_slice(extra);
    serve(&args, dir)
}

#[tokio::test]
async fn serve_announces_the_real_port_logs_traffic_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serving = serve_echo(dir.path(), &[]);
    assert!(
        serving.url.starts_with("ws://127.0.0.1:") && !serving.url.ends_with(":0"),
        "{}",
        serving.url
    );

    let (mut client, _) = tokio_tungstenite::connect_async(format!("{}/?who=test", serving.url))
        .await
        .expect("connect to serve");
    send_text(&mut client, "hello there").await;
    assert_eq!(recv_text(&mut client).await, "hello there");

    let pid = serving.child.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    assert_eq!(crate::util::recv_close_code(&mut client).await, Some(1001));
    // Polling on sends the close reply the server waits for.
    let _ = futures_util::StreamExt::next(&mut client).await;
    let exit = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || {
            let status = serving.child.wait().expect("wait");
            let mut stderr = String::new();
            std::io::Read::read_to_string(
                &mut serving.child.stderr.take().expect("stderr"),
                &mut stderr,
            )
            .expect("read stderr");
            (status.code(), stderr)
        }),
    )
    .await
    .expect("exits in time")
    .expect("join");
    let (code, stderr) = exit;
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "connect accepted: / query={\"who\": [\"test\"]}",
        "message in, text 11 B: hello there",
        "message out, text 11 B: hello there",
        "disconnect: closed 1001 by server: server shutting down",
        "server stopped",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn default_kv_file_is_created_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = serve(
        &["--script", &example_arg("echo.js"), "--port", "0"],
        dir.path(),
    );
    assert!(dir.path().join(".sockscope/kv.redb").is_file());
    drop(serving);
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_code_2() {
    let (code, stderr) = run_failing(&["serve", "--port", "not-a-port"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--port"), "{stderr}");

    let (code, stderr) = run_failing(&[
        "serve",
        "--script",
        "/nonexistent/handler.js",
        "--port",
        "0",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("cannot read script /nonexistent/handler.js"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.js");
    std::fs::write(
        &broken,
        "import { websocket } from '@nitric/sdk';\nwebsocket('s').on('message', (ctx) => {\n",
    )
    .expect("write");
    let (code, stderr) = run_failing(&[
        "serve",
        "--script",
        &broken.display().to_string(),
        "--port",
        "0",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("SyntaxError") && stderr.contains("broken.js:"),
        "{stderr}"
    );

    let (code, stderr) = run_failing(&["serve", "--handler-timeout-ms", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--handler-timeout-ms"), "{stderr}");

    let (code, stderr) = run_failing(&["serve", "--io-threads", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--io-threads"), "{stderr}");
}

#[tokio::test]
async fn serve_runs_on_the_socket_threads_it_is_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    for threads in ["1", "3"] {
        let serving = serve_echo(dir.path(), &["--io-threads", threads]);
        let (mut client, _) = tokio_tungstenite::connect_async(serving.url.as_str())
            .await
            .expect("connect to serve");
        send_text(&mut client, "on any thread").await;
        assert_eq!(recv_text(&mut client).await, "on any thread");
    }
}

#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, stderr) = run_failing(&[
        "serve",
        "--script",
        &example_arg("echo.js"),
        "--port",
        &port,
        "--kv",
        ":memory:",
    ]);
    assert_eq!(code, Some(2));
    // The cause is said once: an error either formats its cause or marks it
    // as the source that `main` prints, never both.
    assert_eq!(
        stderr.trim(),
        format!(
            "sockscope: cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)"
        )
    );
}

#[test]
fn a_cause_is_printed_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let har = dir.path().join("not.har");
    std::fs::write(&har, "no json here").expect("write");
    let (code, stderr) = run_failing(&[
        "import-har",
        &har.display().to_string(),
        "--output",
        &dir.path().join("out.jsonl").display().to_string(),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr.trim(),
        format!(
            "sockscope: cannot import {}: not JSON: expected ident at line 1 column 2",
            har.display()
        )
    );
}

#[test]
fn help_explains_every_serve_flag() {
    let output = sockscope()
        .args(["serve", "--help"])
        .output()
        .expect("help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--script",
        "--bind",
        "--port",
        "--kv",
        "--max-message-bytes",
        "--max-connections",
        "--handler-timeout-ms",
        "--io-threads",
        "--low-cpu",
        "--watch",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// Messages accounted for in a traffic log: lines shown, plus those the
/// per-second summaries count, as (in, out).
fn logged_messages(stderr: &str) -> (u64, u64) {
    let number = |text: &str| text.replace(',', "").trim().parse::<u64>().unwrap_or(0);
    let (mut shown_in, mut shown_out) = (0, 0);
    for line in stderr.lines() {
        if line.contains("message in, ") {
            shown_in += 1;
        } else if line.contains("message out, ") {
            shown_out += 1;
        } else if let Some(counts) = line.split("in the last second (in ").nth(1) {
            let (hidden_in, rest) = counts.split_once(", out ").unwrap_or(("0", "0)"));
            shown_in += number(hidden_in);
            shown_out += number(rest.trim_end_matches(')'));
        }
    }
    (shown_in, shown_out)
}

/// Sends `messages` texts on one connection (far more than the 50 lines a
/// second per direction the log shows) and reads every echo.
async fn echo_messages(url: &str, messages: u64) {
    use futures_util::{SinkExt, StreamExt};

    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let (mut sink, mut stream) = client.split();
    let sending = tokio::spawn(async move {
        for index in 0..messages {
            sink.send(tokio_tungstenite::tungstenite::Message::text(format!(
                "m{index}"
            )))
            .await
            .expect("send");
        }
        sink
    });
    for _ in 0..messages {
        tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("echo in time")
            .expect("open")
            .expect("echo");
    }
    let mut sink = sending.await.expect("sender");
    let _ = sink.close().await;
}

/// The log once every message is in it, as a line or in a summary (the
/// summary of the last busy second comes within about a second); checks
/// that it was sampled.
async fn sampled_log(server: &crate::util::process::Child9, messages: u64) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    let stderr = loop {
        let stderr = server.stderr();
        if logged_messages(&stderr) == (messages, messages) && stderr.contains("disconnect: ")
            || std::time::Instant::now() > deadline
        {
            break stderr;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(logged_messages(&stderr), (messages, messages), "{stderr}");
    assert!(
        stderr.contains("more messages in the last second (in "),
        "{stderr}"
    );
    let message_lines = stderr
        .lines()
        .filter(|line| line.contains("message "))
        .count();
    assert!(
        (message_lines as u64) < messages,
        "sampled: {message_lines} lines for {} messages",
        2 * messages
    );
    stderr
}

/// With only the log watching, the bus builds events for the lines shown
/// and counts the rest: still every message is accounted for.
#[tokio::test]
async fn a_busy_log_alone_accounts_for_every_message() {
    const MESSAGES: u64 = 3000;
    let mut command = sockscope();
    command
        .args(["serve", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js")]);
    let server = crate::util::process::Child9::spawn(command);
    echo_messages(&server.url, MESSAGES).await;
    let stderr = sampled_log(&server, MESSAGES).await;
    for lifecycle in ["connect accepted: ", "disconnect: "] {
        assert!(stderr.contains(lifecycle), "{lifecycle:?} in:\n{stderr}");
    }
}

#[tokio::test]
async fn a_busy_traffic_log_is_sampled_and_the_recording_keeps_everything() {
    const MESSAGES: u64 = 3000;
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("busy.jsonl");
    let mut command = sockscope();
    command
        .args(["serve", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js"), "--record"])
        .arg(&session);
    let server = crate::util::process::Child9::spawn(command);
    echo_messages(&server.url, MESSAGES).await;
    let stderr = sampled_log(&server, MESSAGES).await;
    for lifecycle in ["connect accepted: ", "disconnect: "] {
        assert!(stderr.contains(lifecycle), "{lifecycle:?} in:\n{stderr}");
    }

    // The recorder is not sampled: every message is in the session.
    let deadline = std::time::Instant::now() + WAIT;
    let (sends, recvs) = loop {
        let text = std::fs::read_to_string(&session).unwrap_or_default();
        let count = |kind: &str| {
            text.lines()
                .filter(|line| line.contains(&format!("\"ev\":\"{kind}\"")))
                .count() as u64
        };
        let counts = (count("send"), count("recv"));
        if counts == (MESSAGES, MESSAGES) || std::time::Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((sends, recvs), (MESSAGES, MESSAGES));
}
