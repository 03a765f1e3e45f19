//! Helpers shared by the integration tests: a real engine on 127.0.0.1:0 with
//! a script and a kv file in a temp dir, a real websocket client, the bundled
//! examples, and (in `process`) the built binary as a child process.

pub mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope::core::bus::{BusMessage, Subscription};
use sockscope::core::config::KvLocation;
use sockscope::core::events::Event;
use sockscope::engine::EngineHandle;
use sockscope::launch::LaunchConfig;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `assets/examples/NAME`, absolute.
pub fn example_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/examples")
        .join(name)
}

/// `assets/examples/NAME`, absolute, as a command-line argument.
pub fn example_arg(name: &str) -> String {
    example_path(name).display().to_string()
}

/// A running engine plus the temp dir that holds its script and kv file.
pub struct TestServer {
    pub engine: EngineHandle,
    pub dir: TempDir,
    pub events: Subscription,
}

/// Writes `source` as `handler.js` in `dir` and returns a config for it:
/// port 0, kv file in `dir`, default limits.
pub fn engine_config_in(dir: &Path, source: &str) -> LaunchConfig {
    let script_path = dir.join("handler.js");
    std::fs::write(&script_path, source).expect("write script");
    let mut config = LaunchConfig::new(&script_path);
    config.server.port = 0;
    config.server.kv = KvLocation::File(dir.join("kv.redb"));
    config
}

/// Prefixes a handler body with the SDK import every script needs, and the
/// error checks the SDK leaves to its users (1.2.2 exports no error
/// classes; the class shows as `constructor.name`).
pub fn script(body: &str) -> String {
    // One line, so a body's line n is the script's line n + 1.
    format!(
        "import {{ websocket, kv }} from '@nitric/sdk'; \
         const isNotFound = (e) => e.constructor.name === 'NotFoundError'; \
         const isPermissionDenied = (e) => e.constructor.name === 'PermissionDeniedError';\n{body}"
    )
}

impl TestServer {
    /// Starts an engine running `source` with default limits.
    pub async fn start(source: &str) -> Self {
        Self::start_with(source, |_| {}).await
    }

    /// Starts an engine running `source`, after `configure` adjusts the config.
    pub async fn start_with(source: &str, configure: impl FnOnce(&mut LaunchConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = engine_config_in(dir.path(), source);
        configure(&mut config);
        Self::launch(dir, config).await
    }

    /// Starts an engine with `config` (a script, a project's services, a
    /// proxy); `dir`, whose files it uses, lives as long as it.
    pub async fn launch(dir: TempDir, config: LaunchConfig) -> Self {
        let engine = sockscope::launch::start(config)
            .await
            .unwrap_or_else(|error| panic!("the engine starts: {error:#}"));
        let events = engine.subscribe_lossless();
        Self {
            engine,
            dir,
            events,
        }
    }

    /// `ws://127.0.0.1:PORT` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.engine.url())
    }

    /// Connects and expects the upgrade to succeed.
    pub async fn connect(&self, path_and_query: &str) -> Client {
        let (client, response) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async(self.url(path_and_query)),
        )
        .await
        .expect("connect in time")
        .expect("upgrade accepted");
        assert_eq!(response.status(), 101);
        client
    }

    /// Connects and returns the client with the id the server gave it.
    pub async fn connect_with_id(
        &self,
        path_and_query: &str,
    ) -> (Client, sockscope::core::events::ConnectionId) {
        let client = self.connect(path_and_query).await;
        let connection_id = self
            .engine
            .connections()
            .last()
            .expect("the new connection is registered")
            .connection_id;
        (client, connection_id)
    }

    /// Connects and expects the upgrade to be refused; returns the status.
    pub async fn refused_status(&self, path_and_query: &str) -> u16 {
        match tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async(self.url(path_and_query)),
        )
        .await
        .expect("answer in time")
        {
            Ok(_) => panic!("expected {path_and_query} to be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("expected an HTTP refusal, got {other}"),
        }
    }

    /// Connects: 101 if the upgrade was accepted (the client is dropped),
    /// otherwise the refusal's status.
    pub async fn refused_status_or_accepted(&self, path_and_query: &str) -> u16 {
        match tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async(self.url(path_and_query)),
        )
        .await
        .expect("answer in time")
        {
            Ok((_, response)) => response.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("expected an HTTP answer, got {other}"),
        }
    }

    /// Waits for the first event matching `predicate` (earlier ones are skipped).
    pub async fn wait_for(
        &mut self,
        what: &str,
        mut predicate: impl FnMut(&Event) -> bool,
    ) -> Arc<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("engine alive");
            if let BusMessage::Event(event) = message
                && predicate(&event)
            {
                return event;
            }
        }
    }

    /// Reads a kv value (JSON) straight from the store.
    pub fn kv_json(&self, store: &str, key: &str) -> Option<serde_json::Value> {
        self.engine
            .kv()
            .get(store, key)
            .expect("kv readable")
            .map(|json| serde_json::from_str(&json).expect("stored JSON"))
    }

    /// Polls the kv store until `key` holds a value satisfying `predicate`.
    pub async fn wait_for_kv(
        &self,
        store: &str,
        key: &str,
        mut predicate: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = self.kv_json(store, key)
                && predicate(&value)
            {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for kv {store}/{key}; last value {:?}",
                self.kv_json(store, key)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Sends a text frame.
pub async fn send_text(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.expect("send");
}

/// The next data frame, skipping pings; panics on close or timeout.
pub async fn recv(client: &mut Client) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("a frame in time")
            .expect("stream open")
            .expect("valid frame");
        match message {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// The next text frame.
pub async fn recv_text(client: &mut Client) -> String {
    match recv(client).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The next text frame parsed as JSON.
pub async fn recv_json(client: &mut Client) -> serde_json::Value {
    serde_json::from_str(&recv_text(client).await).expect("JSON frame")
}

/// Reads until the server's close frame; returns its code (None if the
/// stream ended without one).
pub async fn recv_close_code(client: &mut Client) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("close in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// Skips (loudly) or fails when a tool a test needs is missing: CI sets
/// `SOCKSCOPE_REQUIRE_REAL_CLIENTS=1` after installing every tool, so there
/// an absence is a failure.
pub fn missing_tool(tool: &str, why: &str) {
    if std::env::var("SOCKSCOPE_REQUIRE_REAL_CLIENTS").as_deref() == Ok("1") {
        panic!("{tool} is required (SOCKSCOPE_REQUIRE_REAL_CLIENTS=1) but unusable: {why}");
    }
    eprintln!(
        "\n!!!! SKIPPED: {tool} is not available ({why}); install it or run .ci/run to test this !!!!\n"
    );
}

/// A session of two clients that send at once, each then waiting only for
/// its own reply (`counted`), recorded against `script`.
pub fn write_two_senders_session(session: &Path, script: &Path) {
    let header = serde_json::json!({
        "format": "sockscope.session", "version": 1, "created": "2026-12-01T00:00:00Z",
        "source": "recorded", "script": script.display().to_string(),
    });
    let lines = [
        header,
        serde_json::json!({"t": 0, "conn": "c1", "ev": "connect", "path": "/", "query": {}}),
        serde_json::json!({"t": 0, "conn": "c1", "ev": "accepted", "id": "c1"}),
        serde_json::json!({"t": 1, "conn": "c2", "ev": "connect", "path": "/", "query": {}}),
        serde_json::json!({"t": 1, "conn": "c2", "ev": "accepted", "id": "c2"}),
        serde_json::json!({"t": 2, "conn": "c1", "ev": "send", "text": "one"}),
        serde_json::json!({"t": 2, "conn": "c2", "ev": "send", "text": "two"}),
        serde_json::json!({"t": 3, "conn": "c1", "ev": "recv", "text": "counted"}),
        serde_json::json!({"t": 3, "conn": "c2", "ev": "recv", "text": "counted"}),
        serde_json::json!({"t": 4, "conn": "c1", "ev": "close", "code": 1000, "by": "client"}),
        serde_json::json!({"t": 4, "conn": "c2", "ev": "close", "code": 1000, "by": "client"}),
    ];
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(session, text).expect("write the session");
}

/// A counter every connection's messages add to (read, then write back):
/// two clients that send at once lose an update, in Node as here. The
/// spin keeps the first message busy until the second has arrived.
pub const RACY_COUNTER: &str = "import { websocket, kv } from '@nitric/sdk';
const socket = websocket('s');
const counters = kv('counters').allow('get', 'set');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const until = Date.now() + 50;
  while (Date.now() < until) {}
  let n = 0;
  try {
    n = (await counters.get('shared')).n;
  } catch (e) {}
  await counters.set('shared', { n: n + 1 });
  await socket.send(ctx.req.connectionId, 'counted');
});";
