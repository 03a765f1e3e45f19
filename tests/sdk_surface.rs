//! The SDK surface the embedded lane copies and the gateway's switches:
//! what differs from the first release's kinder emulation, through real
//! sockets.

use futures_util::SinkExt;
use sockscope::core::events::{Event, LogLevel};
use tokio_tungstenite::tungstenite::Message;

use crate::handlers::reqwest_like_refusal;
use crate::util::{TestServer, recv, recv_text, script, send_text};

#[tokio::test]
async fn deny_status_answers_a_denial_with_its_status_and_the_reason() {
    let server = TestServer::start_with(
        &script("const socket = websocket('s');\nsocket.on('connect', (ctx) => { ctx.res.success = false; });"),
        |config| {
            config.server.deny_answer =
                sockscope::engine::config::DenyAnswer::Explained { denied: 401 };
        },
    )
    .await;
    let (status, body) = reqwest_like_refusal(&server, "/").await;
    assert_eq!(status, 401);
    assert!(body.contains("denied by the connect handler"), "{body}");
}

#[tokio::test]
async fn binary_frames_switch_sends_bytes_as_binary_frames() {
    let server = TestServer::start_with(
        &script(
            "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.data));",
        ),
        |config| config.script.gateway.frames.binary = true,
    )
    .await;
    let mut client = server.connect("/").await;
    client
        .send(Message::binary(vec![0u8, 255]))
        .await
        .expect("send");
    assert_eq!(recv(&mut client).await, Message::binary(vec![0u8, 255]));
    // An empty binary frame stays bytes too (it would be "" for the SDK).
    client
        .send(Message::binary(Vec::<u8>::new()))
        .await
        .expect("send");
    assert_eq!(recv(&mut client).await, Message::binary(Vec::<u8>::new()));
}

/// The v0 habit of treating `data` as a string: the same TypeError as under
/// Node, naming the call, at its line.
#[tokio::test]
async fn data_used_as_a_string_fails_as_in_node_at_its_line() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.data.toUpperCase());
});",
    ))
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "hi").await;
    let error = server
        .wait_for("script error", |event| {
            matches!(event, Event::ScriptError { .. })
        })
        .await;
    let Event::ScriptError { failure, .. } = error.as_ref() else {
        unreachable!()
    };
    assert_eq!(
        failure.message,
        "TypeError: ctx.req.data.toUpperCase is not a function"
    );
    let location = failure.location.as_ref().expect("a location");
    assert_eq!((location.file.as_str(), location.line), ("handler.js", 5));
}

/// Everything else the package exports loads: other resources are
/// declared, not served, and say so; `.for` works with the SDK's warning.
#[tokio::test]
async fn other_resources_are_declared_not_served_and_for_still_works() {
    let mut server = TestServer::start(
        "import { websocket, kv, api, queue, schedule, bucket, WebsocketNotificationType } from '@nitric/sdk';
const socket = websocket('s');
const store = kv('legacy').for('getting', 'setting');
const jobs = queue('jobs');
api('main').get('/hello', async (ctx) => ctx);
schedule('tick').every('5 minutes', async () => {});
bucket('files');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  await store.set('k', { v: WebsocketNotificationType.Message });
  try {
    await jobs.allow('enqueue').enqueue({ hi: 1 });
  } catch (e) {
    await socket.send(ctx.req.connectionId, e.message);
  }
  await socket.send(ctx.req.connectionId, JSON.stringify(await store.get('k')));
});",
    )
    .await;
    // The load-time lines came before the test listened: load again.
    server
        .engine
        .execute(sockscope::engine::command::Command::ReloadScript { source: None })
        .await
        .expect("reload");
    let warning = server
        .wait_for("the deprecation warning", |event| {
            matches!(event, Event::Log { level: LogLevel::Warn, message, .. } if message.contains("deprecated"))
        })
        .await;
    let Event::Log { message, .. } = warning.as_ref() else {
        unreachable!()
    };
    assert_eq!(
        message,
        "The 'for' method is deprecated, please use 'allow' instead."
    );
    server
        .wait_for("declared, not served", |event| {
            matches!(event, Event::Log { message, .. } if message.starts_with("queue(\"jobs\") is declared, not served"))
        })
        .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "go").await;
    let refused = recv_text(&mut client).await;
    assert!(
        refused.starts_with(
            "queue(\"jobs\").allow().enqueue(): queue(\"jobs\") is declared, not served"
        ) && refused.contains("--run"),
        "{refused}"
    );
    assert_eq!(recv_text(&mut client).await, r#"{"v":2}"#);
}
