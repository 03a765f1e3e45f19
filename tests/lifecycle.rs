//! Connection lifecycle, limits, script faults and hot reload.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope::core::events::{ClosedBy, Event, FrameDirection, Payload};
use sockscope::engine::breakpoints::{BreakpointRule, PayloadMatch};
use sockscope::engine::command::Command;
use sockscope::launch::LaunchConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::util::{TestServer, WAIT, recv_close_code, recv_text, script, send_text};

/// Echoes, counts disconnects per connection in kv, and misbehaves on request.
const FAULTY_ECHO: &str = "const socket = websocket('s');
socket.on('connect', () => {});
const seen = kv('disconnects').allow('get', 'set');
socket.on('message', async (ctx) => {
  const text = ctx.req.text();
  if (text === 'loop') { while (true) {} }
  if (text === 'async-loop') { await null; while (true) {} }
  if (text === 'alloc') { const hog = []; while (true) hog.push(new Array(100000).fill(1)); }
  if (text === 'recurse') { const f = (n) => f(n + 1) + 1; f(0); }
  if (text === 'throw-number') { throw 42; }
  if (text === 'unawaited') { Promise.reject(new Error('nobody waits')); }
  if (text === 'hang') { await new Promise(() => {}); }
  if (text === 'close') { await socket.close(ctx.req.connectionId); return; }
  await socket.send(ctx.req.connectionId, text);
});
socket.on('disconnect', async (ctx) => {
  let count = 0;
  try { count = (await seen.get(ctx.req.connectionId)).count; } catch (e) { if (!(isNotFound(e))) throw e; }
  await seen.set(ctx.req.connectionId, { count: count + 1 });
});";

async fn start_faulty(configure: impl FnOnce(&mut LaunchConfig)) -> TestServer {
    TestServer::start_with(&script(FAULTY_ECHO), |config| {
        config.server.limits.handler_timeout = Duration::from_millis(300);
        // Small, so the allocation case reaches the cap long before the time
        // budget even on a busy machine (the message must say "out of memory").
        config.server.limits.script_memory_bytes = 16 * 1024 * 1024;
        configure(config);
    })
    .await
}

#[tokio::test]
async fn runaway_handlers_are_stopped_reported_and_isolated() {
    runaway_handlers_are_stopped_reported_and_isolated_with(|_| {}).await;
}

/// Also run under `--low-cpu` (`low_cpu.rs`).
pub(crate) async fn runaway_handlers_are_stopped_reported_and_isolated_with(
    configure: impl FnOnce(&mut LaunchConfig),
) {
    let mut server = start_faulty(configure).await;
    let mut culprit = server.connect("/").await;
    let mut bystander = server.connect("/").await;
    let cases = [
        ("loop", "budget", Some(7)),
        ("async-loop", "budget", None),
        ("alloc", "out of memory", None),
        ("recurse", "stack", None),
        ("throw-number", "non-Error value thrown: 42", None),
        (
            "unawaited",
            "unhandled promise rejection: Error: nobody waits",
            Some(12),
        ),
        ("hang", "never settled", None),
    ];
    for (trigger, expected, line) in cases {
        send_text(&mut culprit, trigger).await;
        let error = server
            .wait_for(trigger, |event| matches!(event, Event::ScriptError { .. }))
            .await;
        let Event::ScriptError { failure, .. } = error.as_ref() else {
            unreachable!()
        };
        assert!(
            failure
                .message
                .to_lowercase()
                .contains(&expected.to_lowercase()),
            "{trigger}: {failure}"
        );
        if let Some(line) = line {
            assert_eq!(
                failure.location.as_ref().map(|location| location.line),
                Some(line),
                "{trigger}: {failure}"
            );
        }
        if trigger == "unawaited" {
            // The handler itself went on and echoed.
            assert_eq!(recv_text(&mut culprit).await, "unawaited");
        }
        // Everyone, the culprit included, is still served.
        send_text(&mut bystander, "still here").await;
        assert_eq!(recv_text(&mut bystander).await, "still here");
        send_text(&mut culprit, "me too").await;
        assert_eq!(recv_text(&mut culprit).await, "me too");
    }
}

#[tokio::test]
async fn disconnect_fires_once_for_every_way_a_connection_ends() {
    disconnect_fires_once_for_every_way_a_connection_ends_with(|_| {}).await;
}

/// Also run under `--low-cpu` (`low_cpu.rs`).
pub(crate) async fn disconnect_fires_once_for_every_way_a_connection_ends_with(
    configure: impl FnOnce(&mut LaunchConfig),
) {
    let mut server = start_faulty(|config| {
        config.server.limits.max_message_bytes = 1024;
        config.server.limits.idle_timeout = Some(Duration::from_millis(500));
        configure(config);
    })
    .await;
    let mut ids = Vec::new();

    // Client closes.
    let (mut client, id) = server.connect_with_id("/").await;
    ids.push(id);
    client.close(None).await.expect("close");
    server
        .wait_for("client close", |event| {
            matches!(
                event,
                Event::ConnectionClosed {
                    by: ClosedBy::Client,
                    ..
                }
            )
        })
        .await;

    // Script closes.
    let (mut client, id) = server.connect_with_id("/").await;
    ids.push(id);
    send_text(&mut client, "close").await;
    // Dropped without a close frame, as `nitric start` does.
    assert_eq!(recv_close_code(&mut client).await, None);

    // The user closes (UI command) with a custom code.
    let (mut client, id) = server.connect_with_id("/").await;
    ids.push(id);
    server
        .engine
        .execute(Command::CloseConnection {
            connection_id: id,
            code: 4001,
            reason: "kicked".into(),
        })
        .await
        .expect("close command");
    assert_eq!(recv_close_code(&mut client).await, Some(4001));

    // A protocol limit: oversized message.
    let (mut client, id) = server.connect_with_id("/").await;
    ids.push(id);
    send_text(&mut client, &"x".repeat(2048)).await;
    assert_eq!(recv_close_code(&mut client).await, Some(1009));

    // Idle timeout.
    let (mut client, id) = server.connect_with_id("/").await;
    ids.push(id);
    assert_eq!(recv_close_code(&mut client).await, Some(1001));

    // TCP dropped without a close frame.
    let (client, id) = server.connect_with_id("/").await;
    ids.push(id);
    drop(client);

    for id in &ids {
        server
            .wait_for_kv("disconnects", &id.to_string(), |_| true)
            .await;
    }
    // Give any duplicate a chance to land before checking the counts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        assert_eq!(
            server.kv_json("disconnects", &id.to_string()),
            Some(serde_json::json!({"count": 1})),
            "{id}"
        );
    }
    assert!(server.engine.connections().is_empty());
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001_and_runs_disconnect_handlers() {
    shutdown_closes_clients_with_1001_and_runs_disconnect_handlers_with(|_| {}).await;
}

/// Also run under `--low-cpu` (`low_cpu.rs`).
pub(crate) async fn shutdown_closes_clients_with_1001_and_runs_disconnect_handlers_with(
    configure: impl FnOnce(&mut LaunchConfig),
) {
    let server = start_faulty(configure).await;
    let (mut client, id) = server.connect_with_id("/").await;
    let id = id.to_string();
    let closer = tokio::spawn(async move { recv_close_code(&mut client).await });
    server.engine.shutdown().await;
    assert_eq!(closer.await.expect("client task"), Some(1001));
    // The store is closed after shutdown: read the file directly.
    let kv = sockscope::kv::KvStore::open(
        &sockscope::core::config::KvLocation::File(server.dir.path().join("kv.redb")),
        sockscope::core::bus::EventBus::new(1),
    )
    .expect("kv file reopens");
    assert_eq!(
        kv.get("disconnects", &id).expect("get").as_deref(),
        Some(r#"{"count":1}"#)
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1008() {
    let mut server = TestServer::start_with(
        &script(
            "const socket = websocket('s');
socket.on('connect', () => {});
             const big = 'x'.repeat(64 * 1024);
             socket.on('message', async (ctx) => {
               for (let i = 0; i < 2000; i++) {
                 try { await socket.send(ctx.req.connectionId, big); } catch (e) { console.warn(e.message); return; }
               }
             });",
        ),
        |config| config.server.limits.outbound_queue_bytes = 256 * 1024,
    )
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "flood me").await;
    // The client reads nothing until the server gave up on it.
    let closed = server
        .wait_for("1008 close", |event| {
            matches!(event, Event::ConnectionClosed { .. })
        })
        .await;
    let Event::ConnectionClosed {
        code, by, reason, ..
    } = closed.as_ref()
    else {
        unreachable!()
    };
    assert_eq!((*code, *by), (Some(1008), ClosedBy::Server), "{reason}");
    assert!(reason.contains("not reading"), "{reason}");
    // The client's stream ends (close frame or reset) instead of hanging.
    let drained = tokio::time::timeout(WAIT, async {
        while let Some(Ok(message)) = client.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the connection must end");
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let server = start_faulty(|config| config.server.limits.max_connections = 2).await;
    let _first = server.connect("/").await;
    let _second = server.connect("/").await;
    assert_eq!(server.refused_status("/").await, 503);
}

#[tokio::test]
async fn reload_swaps_handlers_without_dropping_connections() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'v1:' + ctx.req.text()));",
    ))
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "a").await;
    assert_eq!(recv_text(&mut client).await, "v1:a");

    std::fs::write(
        server.dir.path().join("handler.js"),
        script(
            "const socket = websocket('s');
socket.on('connect', () => {});
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'v2:' + ctx.req.text()));",
        ),
    )
    .expect("rewrite");
    server
        .engine
        .execute(Command::ReloadScript { source: None })
        .await
        .expect("reload");
    send_text(&mut client, "b").await;
    assert_eq!(recv_text(&mut client).await, "v2:b");

    // A broken version is refused; v2 keeps answering on the same connection.
    let broken = script(
        "const socket = websocket('s');
socket.on('connect', () => {});\nsocket.on('message', (ctx) => {\n",
    );
    let error = server
        .engine
        .execute(Command::ReloadScript {
            source: Some(broken),
        })
        .await
        .expect_err("syntax error must be refused");
    assert!(
        error.to_string().contains("old handlers keep running"),
        "{error}"
    );
    let failed = server
        .wait_for("reload failure", |event| {
            matches!(event, Event::ScriptReloadFailed { .. })
        })
        .await;
    let Event::ScriptReloadFailed { failure, .. } = failed.as_ref() else {
        unreachable!()
    };
    assert!(failure.message.contains("SyntaxError"), "{failure}");
    assert_eq!(
        failure
            .location
            .as_ref()
            .map(|location| location.file.as_str()),
        Some("handler.js")
    );
    send_text(&mut client, "c").await;
    assert_eq!(recv_text(&mut client).await, "v2:c");
}

#[tokio::test]
async fn watch_reloads_when_the_file_changes() {
    let mut server = TestServer::start_with(
        &script(
            "const socket = websocket('s');
socket.on('connect', () => {});
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'old'));",
        ),
        |config| config.script.watch = true,
    )
    .await;
    let mut client = server.connect("/").await;
    // Make sure the new file differs in size as well as in time, so that
    // coarse filesystem timestamps cannot hide the change.
    std::fs::write(
        server.dir.path().join("handler.js"),
        script(
            "const socket = websocket('s');
socket.on('connect', () => {});
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'new version'));",
        ),
    )
    .expect("rewrite");
    server
        .wait_for("reload", |event| {
            matches!(event, Event::ScriptReloaded { .. })
        })
        .await;
    send_text(&mut client, "x").await;
    assert_eq!(recv_text(&mut client).await, "new version");
}

/// The reader notices a server-side close before the frames it already
/// received (engine/connection.rs checks the closing flag before it reads
/// on): they are dropped, not handed to the handler, and the close is the
/// one asked for. A reader that noticed it only while waiting for input
/// would hand them all over and report the client's close reply instead.
#[tokio::test]
async fn a_server_close_wins_over_frames_already_received() {
    let mut server = start_faulty(|_| {}).await;
    // A held frame keeps the reader busy while the rest arrive behind it.
    server
        .engine
        .execute(Command::SetBreakpoints(vec![BreakpointRule {
            direction: Some(FrameDirection::In),
            connection_id: None,
            payload: PayloadMatch::Contains("hold me".to_owned()),
        }]))
        .await
        .expect("breakpoint");
    let (mut client, id) = server.connect_with_id("/").await;
    send_text(&mut client, "hold me").await;
    server
        .wait_for("the held frame", |event| {
            matches!(event, Event::FrameHeld { .. })
        })
        .await;
    for _ in 0..100 {
        client.feed(Message::text("behind")).await.expect("queue");
    }
    client.flush().await.expect("send the frames behind");
    // Idle for a moment, so the runtime sees them arrive: the reader will
    // find them ready once the hold ends.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .engine
        .execute(Command::CloseConnection {
            connection_id: id,
            code: 4002,
            reason: "server first".into(),
        })
        .await
        .expect("close command");
    assert_eq!(recv_close_code(&mut client).await, Some(4002));
    // Reading on sends the client's close reply, right behind its frames.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, client.next()).await {}
    let closed = server
        .wait_for("the close, and no frame from behind it", |event| {
            assert!(
                !matches!(event, Event::FrameIn { .. }),
                "handed over after the close: {event:?}"
            );
            matches!(event, Event::ConnectionClosed { .. })
        })
        .await;
    let Event::ConnectionClosed { code, by, .. } = closed.as_ref() else {
        unreachable!()
    };
    assert_eq!((*code, *by), (Some(4002), ClosedBy::User));
}

#[tokio::test]
async fn commands_send_frames_and_report_unknown_connections() {
    let server = start_faulty(|_| {}).await;
    let (mut client, id) = server.connect_with_id("/").await;
    server
        .engine
        .execute(Command::SendToConnection {
            connection_id: id,
            payload: Payload::Text("from the ui".into()),
        })
        .await
        .expect("send command");
    assert_eq!(recv_text(&mut client).await, "from the ui");
    let unknown = uuid::Uuid::new_v4();
    let error = server
        .engine
        .execute(Command::SendToConnection {
            connection_id: unknown,
            payload: Payload::Text("x".into()),
        })
        .await
        .expect_err("unknown connection");
    assert!(error.to_string().contains(&unknown.to_string()));
    let error = server
        .engine
        .execute(Command::CloseConnection {
            connection_id: id,
            code: 1005,
            reason: String::new(),
        })
        .await
        .expect_err("1005 is reserved");
    assert!(error.to_string().contains("1005"), "{error}");
}

#[tokio::test]
async fn a_closed_connection_reports_its_final_traffic() {
    let mut server = TestServer::start(&script(FAULTY_ECHO)).await;
    let (mut client, id) = server.connect_with_id("/").await;
    send_text(&mut client, "hello").await;
    assert_eq!(recv_text(&mut client).await, "hello");
    client.close(None).await.expect("close");
    let closed = server
        .wait_for("the close", |event| {
            matches!(event, Event::ConnectionClosed { connection_id, .. } if *connection_id == id)
        })
        .await;
    let Event::ConnectionClosed { traffic, .. } = closed.as_ref() else {
        unreachable!()
    };
    assert_eq!(
        *traffic,
        sockscope::core::events::TrafficSnapshot {
            frames_in: 1,
            bytes_in: 5,
            frames_out: 1,
            bytes_out: 5,
        }
    );
}
