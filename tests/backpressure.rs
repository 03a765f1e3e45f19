//! A handler (or a proxied target) that sends more at once than a client's
//! outbound queue holds: under `nitric start` each send waits for its
//! write, so a client that reads gets everything. Each lane must do the
//! same. (A client that takes nothing is still closed with 1008:
//! `lifecycle` and `hostile` test that.)

use futures_util::{Stream, StreamExt};
use sockscope::launch::LaunchConfig;
use sockscope::proxy::ProxyConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::nitric::{node_modules, project, services_config};
use crate::proxy::{PythonTarget, proxy_configured};
use crate::util::{TestServer, WAIT, recv_text, script, send_text};

/// Far below what the handlers send at once (100 × 4 KiB).
const SMALL_QUEUE_BYTES: usize = 16 * 1024;

/// Sends `count` numbered 4 KiB messages without waiting for any, then
/// "done" once all settled: a broadcast loop, or a file sent in chunks.
const BURST_JS: &str = "const socket = websocket('burst');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const count = Number(ctx.req.text());
  const sends = [];
  for (let i = 0; i < count; i++) {
    sends.push(socket.send(ctx.req.connectionId, `${i}:`.padEnd(4096, 'x')));
  }
  await Promise.all(sends);
  await socket.send(ctx.req.connectionId, 'done');
});
";

/// Reads text frames until "done"; the numbers before it, in arrival order.
/// Panics on a close, or on silence.
pub(crate) async fn read_until_done<S>(client: &mut S) -> Vec<usize>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut numbers = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, client.next())
            .await
            .unwrap_or_else(|_| panic!("silence after {} messages", numbers.len()));
        match next {
            Some(Ok(Message::Text(text))) if text.as_str() == "done" => return numbers,
            Some(Ok(Message::Text(text))) => {
                let (number, _) = text.split_once(':').expect("a numbered message");
                numbers.push(number.parse().expect("a number"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!(
                "a reading client lost its connection after {} messages: {other:?}",
                numbers.len()
            ),
        }
    }
}

/// `body` served by the real Node `@nitric/sdk`, each client's queue
/// `queue_bytes`; `None` without Node.
pub(crate) async fn real_sdk_server(body: &str, queue_bytes: usize) -> Option<TestServer> {
    let node_modules = node_modules()?;
    let source = format!("import {{ websocket }} from '@nitric/sdk';\n{body}");
    let dir = project(&[("service.mjs", &source)], Some(&node_modules));
    let mut config = services_config(dir.path(), &["node service.mjs"]);
    config.server.limits.outbound_queue_bytes = queue_bytes;
    Some(TestServer::launch(dir, config).await)
}

/// A proxy in front of the Python target (kept alive by the caller), each
/// client's queue `queue_bytes`; `None` without Python.
pub(crate) async fn proxy_to_python_target(
    queue_bytes: usize,
) -> Option<(PythonTarget, TestServer)> {
    let target = PythonTarget::start(&[])?;
    let target_config = ProxyConfig::new(&target.url()).expect("a valid target");
    let proxy = proxy_configured(target_config, |config| {
        config.server.limits.outbound_queue_bytes = queue_bytes;
    })
    .await;
    Some((target, proxy))
}

#[tokio::test]
async fn a_burst_larger_than_the_queue_reaches_a_reading_client_in_order() {
    a_burst_larger_than_the_queue_reaches_a_reading_client_in_order_with(|_| {}).await;
}

pub(crate) async fn a_burst_larger_than_the_queue_reaches_a_reading_client_in_order_with(
    configure: impl FnOnce(&mut LaunchConfig),
) {
    let server = TestServer::start_with(&script(BURST_JS), |config| {
        config.server.limits.outbound_queue_bytes = SMALL_QUEUE_BYTES;
        configure(config);
    })
    .await;
    let mut client = server.connect("/").await;
    for round in 0..2 {
        send_text(&mut client, "100").await;
        let numbers = read_until_done(&mut client).await;
        assert_eq!(
            numbers,
            (0..100).collect::<Vec<_>>(),
            "round {round}: every message, in the order sent"
        );
    }
}

#[tokio::test]
async fn sends_past_the_scripts_memory_cap_fail_and_the_client_stays() {
    // 48 MiB of sends at once, to a client that reads: the queue takes
    // 16 KiB, and the waiting ones may hold at most the runtime's 32 MiB.
    let body = "const socket = websocket('burst');
socket.on('connect', () => {});
const chunk = 'x'.repeat(1024 * 1024);
socket.on('message', async (ctx) => {
  if (ctx.req.text() === 'ping') return socket.send(ctx.req.connectionId, 'pong');
  const sends = [];
  for (let i = 0; i < 48; i++) sends.push(socket.send(ctx.req.connectionId, chunk));
  const results = await Promise.allSettled(sends);
  const refused = results.filter((result) => result.status === 'rejected');
  await socket.send(ctx.req.connectionId, `refused ${refused.length}: ${refused[0]?.reason?.message}`);
});
";
    let server = TestServer::start_with(&script(body), |config| {
        config.server.limits.outbound_queue_bytes = SMALL_QUEUE_BYTES;
        config.server.limits.script_memory_bytes = 32 << 20;
    })
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "go").await;
    let mut delivered = 0;
    let summary = loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.starts_with("refused") => {
                break text.to_string();
            }
            Ok(Some(Ok(Message::Text(_)))) => delivered += 1,
            other => panic!("after {delivered} messages: {other:?}"),
        }
    };
    let (refused, reason) = summary
        .strip_prefix("refused ")
        .and_then(|rest| rest.split_once(": "))
        .expect("the summary");
    let refused: usize = refused.parse().expect("a count");
    assert!(refused > 0, "48 MiB cannot all wait: {summary}");
    assert_eq!(delivered + refused, 48, "{summary}");
    assert!(
        reason.contains("the script's memory cap") && reason.contains("connection stays open"),
        "{reason}"
    );
    send_text(&mut client, "ping").await;
    assert_eq!(recv_text(&mut client).await, "pong", "the connection stays");
}

#[tokio::test]
async fn the_real_sdk_s_concurrent_sends_wait_for_a_reading_client() {
    let Some(server) = real_sdk_server(BURST_JS, SMALL_QUEUE_BYTES).await else {
        return;
    };
    let mut client = server.connect("/").await;
    send_text(&mut client, "100").await;
    let mut numbers = read_until_done(&mut client).await;
    // Concurrent gRPC calls may be served in any order, as by the gateway.
    numbers.sort_unstable();
    assert_eq!(numbers, (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_proxied_target_s_burst_waits_for_a_reading_client() {
    let Some((_target, proxy)) = proxy_to_python_target(SMALL_QUEUE_BYTES).await else {
        return;
    };
    let mut client = proxy.connect("/flood").await;
    send_text(&mut client, "300").await;
    let numbers = read_until_done(&mut client).await;
    assert_eq!(numbers, (0..300).collect::<Vec<_>>());
}
