//! `sockscope proxy` as a user runs it: a dead target, and a recording
//! replayed against the target and against a changed one.

use std::path::Path;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::{PythonTarget, close_with};
use crate::util::process::{Child9, run, sockscope};
use crate::util::{WAIT, recv};

fn proxy_child(target_url: &str, extra: &[&str]) -> Child9 {
    let mut command = sockscope();
    command
        .args(["proxy", "--target", target_url, "--port", "0"])
        .args(extra);
    Child9::spawn(command)
}

/// Answer to a websocket upgrade of `path`, as raw HTTP.
async fn upgrade_answer(proxy_url: &str, path: &str) -> String {
    let addr = proxy_url.trim_start_matches("ws://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    answer
}

#[tokio::test]
async fn a_dead_target_is_a_502_and_the_proxy_stays_up() {
    // A port nobody listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let target_url = format!("ws://127.0.0.1:{port}");
    let mut proxy = proxy_child(&target_url, &[]);
    for _ in 0..2 {
        let answer = upgrade_answer(&proxy.url, "/echo").await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert!(
            answer.contains(&format!("cannot reach target {target_url}/echo")),
            "{answer}"
        );
    }
    assert!(proxy.child.try_wait().expect("status").is_none());
    // The target comes up: the same proxy now reaches it.
    let port_arg = port.to_string();
    let Some(_target) = PythonTarget::start(&["--port", &port_arg]) else {
        return;
    };
    let (mut client, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("{}/echo", proxy.url)),
    )
    .await
    .expect("connect in time")
    .expect("upgrade accepted");
    client.send(Message::text("back")).await.expect("send");
    assert_eq!(recv(&mut client).await, Message::text("back"));
    let stderr = proxy.stderr();
    assert!(
        stderr.contains("connect denied with 502") && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

/// Waits until `path` holds a line with `needle`.
async fn wait_for_line(path: &Path, needle: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|line| line.contains(needle)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line with {needle} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_recording_replays_against_the_target_and_names_a_changed_one() {
    let Some(target) = PythonTarget::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("proxied.jsonl");
    let session_arg = session.display().to_string();
    let mut proxy = proxy_child(&target.url(), &["--record", &session_arg]);

    let (mut client, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("{}/echo?room=a", proxy.url)),
    )
    .await
    .expect("connect in time")
    .expect("upgrade accepted");
    client.send(Message::text("hello")).await.expect("send");
    assert_eq!(recv(&mut client).await, Message::text("hello"));
    client
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(recv(&mut client).await, Message::binary(vec![1u8, 2, 3]));
    close_with(&mut client, 1000, "").await;
    let answer = upgrade_answer(&proxy.url, "/refuse").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    wait_for_line(&session, r#""ev":"rejected""#).await;
    wait_for_line(&session, r#""ev":"close""#).await;
    // SIGTERM: the proxy finishes the file and stops.
    let pid = i32::try_from(proxy.child.id()).expect("a pid");
    // SAFETY: signals a child this test spawned and still owns.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = proxy.child.wait().expect("the proxy stops");
    assert!(status.success(), "{status}\n{}", proxy.stderr());

    let text = std::fs::read_to_string(&session).expect("the session");
    let header: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a header")).expect("JSON");
    assert_eq!(header["source"], "proxy");
    assert_eq!(header["target"], target.url());
    assert!(header.get("script").is_none(), "{header}");
    assert!(
        text.contains(r#""path":"/echo","query":{"room":["a"]}"#),
        "{text}"
    );
    assert!(text.contains(r#""status":401"#), "{text}");

    let (code, stdout, stderr) = run(&["replay", &session_arg, "--url", &target.url()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    let Some(changed) = PythonTarget::start(&["--upper"]) else {
        return;
    };
    let (code, stdout, stderr) = run(&["replay", &session_arg, "--url", &changed.url()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("HELLO") && stdout.contains("hello"),
        "the diff shows both sides:\n{stdout}"
    );
}
