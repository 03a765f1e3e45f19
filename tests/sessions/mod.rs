//! Sessions: record real traffic, replay it against real engines, compare.
//!
//! Split by responsibility: `replay` (matching, ids, ignore rules, timing)
//! and `files` (the CLI, JUnit, HAR, Artillery, failures, sample sessions).

mod files;
mod replay;

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope::core::config::KvLocation;
use sockscope::core::events::Event;
use sockscope::engine::EngineHandle;
use sockscope::launch::LaunchConfig;
use sockscope::session::replay::{ReplayOptions, Timing, replay_session};
use sockscope::session::{Header, Recorder, ReplayReport, Session, read_session, script_reference};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::{Client, TestServer, example_path, recv, recv_json, send_text};

pub(crate) fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Closes from the client side with 1000 and reads until the server's reply.
pub(crate) async fn close(mut client: Client) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    client
        .send(Message::Close(Some(frame)))
        .await
        .expect("close");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(crate::util::WAIT, client.next()).await {}
}

/// Starts `script` on a server, records what `drive` does, returns the file.
pub(crate) async fn record<F, Fut>(
    script: &Path,
    session_path: &Path,
    closes: usize,
    drive: F,
) -> Session
where
    F: FnOnce(EngineHandle) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let source = std::fs::read_to_string(script).expect("script");
    let mut server = TestServer::start(&source).await;
    std::fs::File::create(session_path).expect("create session");
    let mut header = Header::new("recorded");
    header.script = Some(script_reference(session_path, script));
    let recording = Recorder::start(&server.engine, session_path, header).expect("record");
    drive(server.engine.clone()).await;
    for _ in 0..closes {
        server
            .wait_for("a close", |event| {
                matches!(event, Event::ConnectionClosed { .. })
            })
            .await;
    }
    let status = recording.stop().await;
    assert_eq!(status.failure, None);
    read_session(session_path).expect("recorded session reads back")
}

pub(crate) async fn connect(engine: &EngineHandle, path_and_query: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("{}{path_and_query}", engine.url()))
        .await
        .expect("connect");
    client
}

/// ann and bob chat; bob leaves first.
pub(crate) async fn record_chat(session_path: &Path) -> Session {
    record(
        &example_path("chat.js"),
        session_path,
        2,
        |engine| async move {
            let mut ann = connect(&engine, "/?name=ann").await;
            let mut bob = connect(&engine, "/?name=bob").await;
            assert_eq!(recv_json(&mut ann).await["name"], "bob");
            send_text(&mut ann, "hi bob").await;
            assert_eq!(recv_json(&mut ann).await["text"], "hi bob");
            assert_eq!(recv_json(&mut bob).await["text"], "hi bob");
            send_text(&mut bob, "hello ann").await;
            assert_eq!(recv_json(&mut ann).await["text"], "hello ann");
            assert_eq!(recv_json(&mut bob).await["text"], "hello ann");
            close(bob).await;
            assert_eq!(recv_json(&mut ann).await["type"], "left");
            close(ann).await;
        },
    )
    .await
}

pub(crate) async fn record_echo(session_path: &Path) -> Session {
    record(
        &example_path("echo.js"),
        session_path,
        1,
        |engine| async move {
            let mut client = connect(&engine, "/echo?mode=test").await;
            send_text(&mut client, "hello").await;
            assert_eq!(recv(&mut client).await, Message::text("hello"));
            client
                .send(Message::binary(vec![0u8, 1, 2, 255]))
                .await
                .expect("send binary");
            // Echoed as the text frame `nitric start` writes for bytes.
            assert_eq!(
                recv(&mut client).await,
                Message::text("Binary messages are not currently supported by AWS")
            );
            send_text(&mut client, r#"{"n":1,"tags":["a"]}"#).await;
            recv(&mut client).await;
            close(client).await;
        },
    )
    .await
}

pub(crate) async fn record_denied(session_path: &Path) -> Session {
    record(
        &example_path("chat.js"),
        session_path,
        0,
        |engine| async move {
            let url = format!("{}/", engine.url());
            match tokio_tungstenite::connect_async(url).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 500)
                }
                _ => panic!("chat without ?name= must be refused"),
            }
            // The refusal is published after the response; give it a moment.
            tokio::time::sleep(Duration::from_millis(100)).await;
        },
    )
    .await
}

pub(crate) async fn start_engine(script: &Path) -> EngineHandle {
    let mut config = LaunchConfig::new(script);
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    sockscope::launch::start(config).await.expect("engine")
}

pub(crate) async fn replay_against(
    script: &Path,
    session: &Session,
    timing: Timing,
) -> ReplayReport {
    let engine = start_engine(script).await;
    let mut options = ReplayOptions::new(engine.url());
    options.timing = timing;
    let report = replay_session(session, &options, |_| {})
        .await
        .expect("replay runs");
    engine.shutdown().await;
    report
}
