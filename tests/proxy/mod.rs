//! The proxy lane in front of a third-party server: Python `websockets`
//! (`tests/clients/proxy_target.py`, started by each test). Real clients on
//! one side, the real target on the other, the engine's bus in between.

mod cli;
mod pings;
mod wss;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope::core::config::KvLocation;
use sockscope::core::events::{ClosedBy, Event, Payload};
use sockscope::engine::command::Command as EngineCommand;
use sockscope::launch::LaunchConfig;
use sockscope::proxy::ProxyConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::{Client, TestServer, WAIT, missing_tool, recv, recv_json, recv_text};

fn python() -> String {
    std::env::var("SOCKSCOPE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn target_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/proxy_target.py")
}

/// The Python target server; killed on drop.
pub struct PythonTarget {
    child: Child,
    pub port: u16,
}

impl PythonTarget {
    /// Starts the target with `args` (`--upper`, `--port N`); `None` (after
    /// a loud skip note) when Python `websockets` is missing.
    pub fn start(args: &[&str]) -> Option<Self> {
        let probe = Command::new(python())
            .args(["-c", "import websockets.asyncio.server"])
            .output();
        match probe {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                missing_tool(
                    "Python `websockets`",
                    String::from_utf8_lossy(&output.stderr).trim(),
                );
                return None;
            }
            Err(error) => {
                missing_tool("Python `websockets`", &error.to_string());
                return None;
            }
        }
        let mut child = Command::new(python())
            .arg(target_script())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python target");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("the target's first line");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the target announces its port, got {line:?}"));
        Some(Self { child, port })
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for PythonTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A proxy engine in this process, in front of `target_url`.
pub async fn proxy_to(target_url: &str) -> TestServer {
    proxy_with(ProxyConfig::new(target_url).expect("a valid target")).await
}

/// A proxy engine in this process, as `proxy` says.
pub async fn proxy_with(proxy: ProxyConfig) -> TestServer {
    proxy_configured(proxy, |_| {}).await
}

/// A proxy engine in this process, after `configure` adjusts its config.
pub async fn proxy_configured(
    proxy: ProxyConfig,
    configure: impl FnOnce(&mut LaunchConfig),
) -> TestServer {
    let mut config = LaunchConfig::new(PathBuf::new());
    config.proxy = Some(proxy);
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    configure(&mut config);
    TestServer::launch(tempfile::tempdir().expect("temp dir"), config).await
}

/// A target and a proxy in front of it, or `None` when Python is missing.
pub(crate) async fn proxied(args: &[&str]) -> Option<(PythonTarget, TestServer)> {
    let target = PythonTarget::start(args)?;
    let proxy = proxy_to(&target.url()).await;
    Some((target, proxy))
}

async fn close_with(client: &mut Client, code: u16, reason: &str) {
    client
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        }))
        .await
        .expect("send the close");
    // Until the proxy's close reply and the end of the stream.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, client.next()).await {}
}

/// The next frame, which must be a close frame with a code.
async fn recv_close(client: &mut Client) -> CloseFrame {
    match recv(client).await {
        Message::Close(Some(frame)) => frame,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn path_query_headers_and_subprotocol_reach_the_target() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut request = proxy
        .url("/info/room?a=1&a=2&b=%20x")
        .into_client_request()
        .expect("a request");
    for (name, value) in [
        ("Origin", "http://app.example"),
        ("Cookie", "session=abc"),
        ("Authorization", "Bearer token"),
        ("User-Agent", "sockscope-test/1"),
        ("Sec-WebSocket-Protocol", "chat.v1, chat.v2"),
        // Offered to the proxy, which speaks no extension: not passed on.
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        ),
        ("X-Hop", "hop by hop"),
        ("Connection", "Upgrade, X-Hop"),
    ] {
        request
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    let (mut client, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect in time")
            .expect("upgrade accepted");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    assert!(!response.headers().contains_key("sec-websocket-extensions"));
    let info = recv_json(&mut client).await;
    assert_eq!(
        info,
        serde_json::json!({
            "path": "/info/room",
            "query": "a=1&a=2&b=%20x",
            "subprotocol": "chat.v2",
            "origin": "http://app.example",
            "cookie": "session=abc",
            "authorization": "Bearer token",
            "user_agent": "sockscope-test/1",
            "extensions": null,
            "x_hop": null,
        })
    );
}

#[tokio::test]
async fn frames_pass_both_ways_in_order_and_are_on_the_bus() {
    let Some((_target, mut proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/echo").await;
    let big = "x".repeat(512 * 1024);
    // Together over the proxy's 1 MiB in flight: the second waits for the first.
    let bigger = vec![7u8; 700 * 1024];
    let frames = [
        Message::text("one"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(big.clone()),
        Message::binary(bigger.clone()),
        Message::text("two"),
    ];
    for frame in &frames {
        client.send(frame.clone()).await.expect("send");
    }
    for frame in &frames {
        assert_eq!(&recv(&mut client).await, frame);
    }
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(WAIT, client.next())
        .await
        .expect("the pong in time");
    assert!(
        matches!(&pong, Some(Ok(Message::Pong(data))) if &data[..] == b"are you there"),
        "{pong:?}"
    );
    close_with(&mut client, 1000, "").await;

    // In = client → target, out = target → client, each in order.
    let mut ins = Vec::new();
    let mut outs = Vec::new();
    loop {
        let event = proxy
            .wait_for("frames and the close", |event| {
                matches!(
                    event,
                    Event::FrameIn { .. } | Event::FrameOut { .. } | Event::ConnectionClosed { .. }
                )
            })
            .await;
        match event.as_ref() {
            Event::FrameIn { payload, .. } => ins.push(payload.len_bytes()),
            Event::FrameOut { payload, .. } => outs.push(payload.len_bytes()),
            Event::ConnectionClosed { code, by, .. } => {
                assert_eq!((*code, *by), (Some(1000), ClosedBy::Client));
                break;
            }
            _ => unreachable!(),
        }
    }
    let sizes = vec![3, 4, big.len(), bigger.len(), 3];
    assert_eq!(ins, sizes);
    assert_eq!(outs, sizes);
}

#[tokio::test]
async fn messages_the_target_starts_reach_the_client() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/hello").await;
    assert_eq!(recv_text(&mut client).await, "hello 1");
    assert_eq!(recv_text(&mut client).await, "hello 2");
}

#[tokio::test]
async fn close_codes_and_reasons_pass_both_ways() {
    let Some((_target, mut proxy)) = proxied(&[]).await else {
        return;
    };
    // The target closes.
    let mut client = proxy.connect("/close").await;
    client.send(Message::text("bye?")).await.expect("send");
    let frame = recv_close(&mut client).await;
    assert_eq!(u16::from(frame.code), 4001);
    assert_eq!(frame.reason.as_str(), "bye from target");
    proxy
        .wait_for("the target's close", |event| {
            matches!(event, Event::ConnectionClosed { code: Some(4001), by: ClosedBy::Server, reason, .. } if reason == "bye from target")
        })
        .await;

    // The client closes: the target gets its code and reason.
    let mut client = proxy.connect("/echo").await;
    close_with(&mut client, 4002, "bye from client").await;
    proxy
        .wait_for("the client's close", |event| {
            matches!(
                event,
                Event::ConnectionClosed {
                    code: Some(4002),
                    ..
                }
            )
        })
        .await;
    let mut last = serde_json::Value::Null;
    for _ in 0..50 {
        let mut probe = proxy.connect("/lastclose").await;
        last = recv_json(&mut probe).await;
        if last["code"] == 4002 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        last,
        serde_json::json!({"code": 4002, "reason": "bye from client"})
    );
}

#[tokio::test]
async fn a_refusing_target_answers_the_client_itself() {
    let Some((_target, mut proxy)) = proxied(&[]).await else {
        return;
    };
    let mut stream = tokio::net::TcpStream::connect(proxy.engine.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /refuse HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"test\""),
        "{answer}"
    );
    assert!(answer.ends_with("\r\n\r\nno token, no entry\n"), "{answer}");
    proxy
        .wait_for("the refusal", |event| {
            matches!(event, Event::ConnectionDenied { status: 401, reason, .. } if reason.contains("no token, no entry"))
        })
        .await;
}

#[tokio::test]
async fn a_target_dropping_mid_message_drops_the_client() {
    let Some((_target, mut proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/drop").await;
    client.send(Message::text("go")).await.expect("send");
    let end = tokio::time::timeout(WAIT, client.next())
        .await
        .expect("the end in time");
    assert!(
        matches!(end, None | Some(Err(_))),
        "the client's socket drops without a close frame, got {end:?}"
    );
    proxy
        .wait_for("the drop", |event| {
            matches!(event, Event::ConnectionClosed { code: None, by: ClosedBy::Server, reason, .. } if reason.starts_with("target dropped the connection"))
        })
        .await;
    // Others are still served.
    let mut client = proxy.connect("/echo").await;
    client
        .send(Message::text("still here"))
        .await
        .expect("send");
    assert_eq!(recv_text(&mut client).await, "still here");
}

#[tokio::test]
async fn commands_send_towards_either_side_and_close_both() {
    let Some((_target, mut proxy)) = proxied(&[]).await else {
        return;
    };
    let (mut client, connection_id) = proxy.connect_with_id("/echo").await;
    proxy
        .engine
        .execute(EngineCommand::SendToConnection {
            connection_id,
            payload: Payload::Text("to the client".into()),
        })
        .await
        .expect("send to the client");
    assert_eq!(recv_text(&mut client).await, "to the client");
    // Towards the target: it echoes, so the client sees it come back.
    proxy
        .engine
        .execute(EngineCommand::SendToTarget {
            connection_id,
            payload: Payload::Text("to the target".into()),
        })
        .await
        .expect("send to the target");
    assert_eq!(recv_text(&mut client).await, "to the target");
    proxy
        .wait_for("the injected frame, as one from the client", |event| {
            matches!(event, Event::FrameIn { payload: Payload::Text(text), .. } if text.as_str() == "to the target")
        })
        .await;
    proxy
        .engine
        .execute(EngineCommand::CloseConnection {
            connection_id,
            code: 4003,
            reason: "closed by you".to_owned(),
        })
        .await
        .expect("close");
    let frame = recv_close(&mut client).await;
    assert_eq!(u16::from(frame.code), 4003);
    // Reading on sends the client's close reply.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, client.next()).await {}
    let mut last = serde_json::Value::Null;
    for _ in 0..50 {
        let mut probe = proxy.connect("/lastclose").await;
        last = recv_json(&mut probe).await;
        if last["code"] == 4003 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        last,
        serde_json::json!({"code": 4003, "reason": "closed by you"})
    );
}

#[tokio::test]
async fn a_python_client_offering_permessage_deflate_talks_through() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    // Python's client offers permessage-deflate by default.
    let program = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1] + "/echo") as ws:
        print("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"))
        text = "compress me " * 20000
        await ws.send(text)
        print("echoed", (await ws.recv()) == text)
        await ws.send(bytes(range(256)))
        print("binary", (await ws.recv()) == bytes(range(256)))
asyncio.run(main())
"#;
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python())
            .args(["-c", program, &proxy.engine.url()])
            .output(),
    )
    .await
    .expect("the client finishes")
    .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["extensions None", "echoed True", "binary True"]
    );
}
