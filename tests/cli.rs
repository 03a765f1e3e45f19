//! The `sockscope` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::util::{WAIT, recv_text, send_text};

pub(crate) fn sockscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
}

/// Runs to completion and returns (exit code, stderr).
fn run_failing(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = sockscope()
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run sockscope");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub(crate) struct Serving {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(args: &[&str], dir: &std::path::Path) -> Serving {
    let mut child = sockscope()
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("first line");
    let url = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first stdout line must announce the URL, got {first_line:?}"))
        .to_owned();
    Serving { child, url }
}

/// `serve` running echo.js on a free port with an in-memory kv, plus `extra`.
fn serve_echo(dir: &std::path::Path, extra: &[&str]) -> Serving {
    let echo = example("echo.js");
    let mut args = vec!["--script", &echo, "--port", "0", "--kv", ":memory:"];
    args.extend_from_slice(extra);
    serve(&args, dir)
}

pub(crate) fn example(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/examples")
        .join(name)
        .display()
        .to_string()
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
        "disconnect (code 1001, by Server): server shutting down",
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
        &["--script", &example("echo.js"), "--port", "0"],
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
        &example("echo.js"),
        "--port",
        &port,
        "--kv",
        ":memory:",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("address already in use"),
        "{stderr}"
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
        "--watch",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
