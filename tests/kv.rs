//! kv(name) semantics and persistence, through handlers and commands.

use sockscope::core::events::{Event, KvChange, LogLevel};
use sockscope::engine::command::Command;

use crate::util::{TestServer, recv_json, script, send_text};

const KV_PROBE: &str = "const socket = websocket('s');
socket.on('connect', () => {});
const full = kv('store').allow('get', 'set', 'delete');
// Permissions are the service's, per store: another store, declared read-only.
const readOnly = kv('locked').allow('get');
const run = async (op) => {
  switch (op.do) {
    case 'set': await full.set(op.key, op.value); return 'ok';
    case 'get': return await full.get(op.key);
    case 'delete': await full.delete(op.key); return 'ok';
    case 'keys': { const keys = []; for await (const key of full.keys(op.prefix)) keys.push(key); return keys; }
    case 'readOnlySet': await readOnly.set(op.key, {}); return 'ok';
    case 'readOnlyDelete': await readOnly.delete(op.key); return 'ok';
  }
};
socket.on('message', async (ctx) => {
  try {
    socket.send(ctx.req.connectionId, { result: await run(ctx.req.json()) });
  } catch (e) {
    socket.send(ctx.req.connectionId, {
      error: e.name,
      message: e.message,
      notFound: isNotFound(e),
      denied: isPermissionDenied(e),
    });
  }
});";

async fn ask(client: &mut crate::util::Client, op: serde_json::Value) -> serde_json::Value {
    send_text(client, &op.to_string()).await;
    recv_json(client).await
}

#[tokio::test]
async fn get_set_delete_keys_follow_nitric() {
    let server = TestServer::start(&script(KV_PROBE)).await;
    let mut client = server.connect("/").await;
    let missing = ask(&mut client, serde_json::json!({"do": "get", "key": "nope"})).await;
    // The SDK's error: `.name` stays "Error", the class is NotFoundError.
    assert_eq!(missing["error"], "Error");
    assert_eq!(missing["notFound"], true);
    assert_eq!(
        missing["message"],
        "5 NOT_FOUND: BoltDocService.Get document not found\nNitric Provider Error: Error\n  Code: 5\n  Message: 5 NOT_FOUND: BoltDocService.Get document not found\n  Details: {\"cause\":\"not found\"}"
    );

    for key in ["user:2", "user:1", "room:1"] {
        let set = ask(
            &mut client,
            serde_json::json!({"do": "set", "key": key, "value": {"k": key}}),
        )
        .await;
        assert_eq!(set["result"], "ok");
    }
    let got = ask(
        &mut client,
        serde_json::json!({"do": "get", "key": "user:1"}),
    )
    .await;
    assert_eq!(got["result"], serde_json::json!({"k": "user:1"}));
    let keys = ask(
        &mut client,
        serde_json::json!({"do": "keys", "prefix": "user:"}),
    )
    .await;
    assert_eq!(keys["result"], serde_json::json!(["user:1", "user:2"]));
    let all = ask(&mut client, serde_json::json!({"do": "keys"})).await;
    assert_eq!(all["result"].as_array().map(Vec::len), Some(3));

    assert_eq!(
        ask(
            &mut client,
            serde_json::json!({"do": "delete", "key": "user:1"})
        )
        .await["result"],
        "ok"
    );
    let gone = ask(
        &mut client,
        serde_json::json!({"do": "get", "key": "user:1"}),
    )
    .await;
    assert_eq!(gone["notFound"], true);
    // Deleting a missing key is NOT_FOUND under `nitric start`.
    let deleted_again = ask(
        &mut client,
        serde_json::json!({"do": "delete", "key": "user:1"}),
    )
    .await;
    assert_eq!(deleted_again["notFound"], true, "{deleted_again}");
}

#[tokio::test]
async fn operations_not_allowed_reject_with_permission_denied() {
    let server = TestServer::start(&script(KV_PROBE)).await;
    let mut client = server.connect("/").await;
    for op in ["readOnlySet", "readOnlyDelete"] {
        let denied = ask(&mut client, serde_json::json!({"do": op, "key": "k"})).await;
        assert_eq!(denied["error"], "Error", "{op}: {denied}");
        assert_eq!(denied["denied"], true, "{op}: {denied}");
        assert!(
            denied["message"].as_str().unwrap_or("").contains(".allow("),
            "{denied}"
        );
    }
    assert_eq!(
        server.kv_json("locked", "k"),
        None,
        "a denied write must not land"
    );
}

#[tokio::test]
async fn non_object_values_are_stored_with_a_visible_warning() {
    let mut server = TestServer::start(&script(KV_PROBE)).await;
    let mut client = server.connect("/").await;
    let set = ask(
        &mut client,
        serde_json::json!({"do": "set", "key": "list", "value": [1, 2]}),
    )
    .await;
    assert_eq!(set["result"], "ok");
    let warning = server
        .wait_for("warning", |event| {
            matches!(
                event,
                Event::Log {
                    level: LogLevel::Warn,
                    ..
                }
            )
        })
        .await;
    let Event::Log { message, .. } = warning.as_ref() else {
        unreachable!()
    };
    assert!(
        message.contains("an array") && message.contains(r#"stores {"0":1,"1":2}"#),
        "{message}"
    );
    // As the SDK's Struct conversion stores it.
    assert_eq!(
        server.kv_json("store", "list"),
        Some(serde_json::json!({"0": 1, "1": 2}))
    );
}

#[tokio::test]
async fn every_change_is_an_event_attributed_to_its_connection() {
    let mut server = TestServer::start(&script(KV_PROBE)).await;
    let (mut client, connection_id) = server.connect_with_id("/").await;
    ask(
        &mut client,
        serde_json::json!({"do": "set", "key": "a", "value": {"v": 1}}),
    )
    .await;
    let changed = server
        .wait_for("kv change", |event| {
            matches!(event, Event::KvChanged { .. })
        })
        .await;
    let Event::KvChanged {
        store,
        key,
        change,
        connection_id: by,
        ..
    } = changed.as_ref()
    else {
        unreachable!()
    };
    assert_eq!((store.as_str(), key.as_str()), ("store", "a"));
    assert_eq!(*change, KvChange::Set(r#"{"v":1}"#.into()));
    assert_eq!(*by, Some(connection_id));
}

#[tokio::test]
async fn commands_edit_values_that_handlers_then_read() {
    let server = TestServer::start(&script(KV_PROBE)).await;
    let mut client = server.connect("/").await;
    server
        .engine
        .execute(Command::KvSet {
            store: "store".into(),
            key: "edited".into(),
            value: serde_json::json!({"by": "ui"}),
        })
        .await
        .expect("kv set command");
    let got = ask(
        &mut client,
        serde_json::json!({"do": "get", "key": "edited"}),
    )
    .await;
    assert_eq!(got["result"], serde_json::json!({"by": "ui"}));
    server
        .engine
        .execute(Command::KvDelete {
            store: "store".into(),
            key: "edited".into(),
        })
        .await
        .expect("kv delete command");
    let gone = ask(
        &mut client,
        serde_json::json!({"do": "get", "key": "edited"}),
    )
    .await;
    assert_eq!(gone["notFound"], true, "{gone}");
}

#[tokio::test]
async fn values_survive_a_restart() {
    let server = TestServer::start(&script(KV_PROBE)).await;
    let mut client = server.connect("/").await;
    ask(
        &mut client,
        serde_json::json!({"do": "set", "key": "kept", "value": {"n": 42}}),
    )
    .await;
    drop(client);
    server.engine.shutdown().await;
    assert!(
        server.engine.kv().get("store", "kept").is_err(),
        "store is closed after shutdown"
    );

    let kv_path = server.dir.path().join("kv.redb");
    let script_path = server.dir.path().join("handler.js");
    let mut config = sockscope::launch::LaunchConfig::new(&script_path);
    config.server.port = 0;
    config.server.kv = sockscope::core::config::KvLocation::File(kv_path);
    let restarted = sockscope::launch::start(config)
        .await
        .expect("restart on the same kv file");
    let (mut client, _) = tokio_tungstenite::connect_async(restarted.url())
        .await
        .expect("connect");
    let got = ask(&mut client, serde_json::json!({"do": "get", "key": "kept"})).await;
    assert_eq!(got["result"], serde_json::json!({"n": 42}));
}

/// Group commit: writes of queued jobs share one commit, so a reply or an
/// accepted handshake must not reach the client before the writes made by
/// its handler are durable, and handlers must read the writes of earlier
/// handlers in the same batch.
#[tokio::test]
async fn replies_wait_for_their_writes_and_batched_handlers_read_each_other() {
    const CLIENTS: usize = 40;
    const MESSAGES: usize = 25;
    let server = TestServer::start(&script(
        "const socket = websocket('s');
const store = kv('data').allow('get', 'set');
socket.on('connect', async (ctx) => {
  await store.set(`client:${ctx.req.query.name[0]}`, { at: Date.now() });
});
socket.on('message', async (ctx) => {
  // One counter per connection: its messages run one after another.
  const key = ctx.req.text();
  const counter = `counter:${key.split('-')[0]}`;
  let count = 0;
  try { count = (await store.get(counter)).n; } catch (e) { if (!(isNotFound(e))) throw e; }
  await store.set(counter, { n: count + 1 });
  await store.set(key, { count: count + 1 });
  socket.send(ctx.req.connectionId, key);
});",
    ))
    .await;

    let clients = futures_util::future::join_all((0..CLIENTS).map(|index| {
        let server = &server;
        async move {
            let client = server.connect(&format!("/?name=c{index}")).await;
            assert!(
                server
                    .kv_json("data", &format!("client:c{index}"))
                    .is_some(),
                "client c{index} was accepted before its connect handler's write was durable"
            );
            client
        }
    }))
    .await;

    futures_util::future::join_all(clients.into_iter().enumerate().map(|(index, mut client)| {
        let server = &server;
        async move {
            for message in 0..MESSAGES {
                send_text(&mut client, &format!("c{index}-m{message}")).await;
            }
            for _ in 0..MESSAGES {
                let key = crate::util::recv_text(&mut client).await;
                assert!(
                    server.kv_json("data", &key).is_some(),
                    "the reply for {key} arrived before its write was durable"
                );
            }
        }
    }))
    .await;

    for index in 0..CLIENTS {
        assert_eq!(
            server.kv_json("data", &format!("counter:c{index}")),
            Some(serde_json::json!({ "n": MESSAGES })),
            "a handler missed a write made earlier in the same batch"
        );
    }
}

/// The Nitric websocket guide's connection list: read the list, add
/// yourself, write it back. Two connects whose handlers overlap both read
/// the old list, so the second write drops the first's entry — in Node as
/// here. sockscope says so, naming both connections and the lines.
#[tokio::test]
async fn the_guides_connection_list_loses_an_update_and_says_so() {
    let mut server = TestServer::start(
        "import { websocket, kv } from '@nitric/sdk';
const socket = websocket('socket');
const connections = kv('connections').allow('get', 'set', 'delete');
socket.on('connect', async (ctx) => {
  let connectionList = [];
  try {
    connectionList = (await connections.get('connections')).connections;
  } catch (e) {
    console.log('creating new connections list');
  }
  await connections.set('connections', {
    connections: [...connectionList, { connectionId: ctx.req.connectionId }],
  });
});
// Keeps the script thread busy, so the next two connects arrive together.
socket.on('message', (ctx) => {
  const until = Date.now() + 300;
  while (Date.now() < until) {}
});",
    )
    .await;
    let mut busy = server.connect("/").await;
    send_text(&mut busy, "spin").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (first, second) = tokio::join!(server.connect("/"), server.connect("/"));
    let warning = server
        .wait_for("a lost-update warning", |event| {
            matches!(event, Event::Log { level: LogLevel::Warn, message, .. } if message.starts_with("lost update"))
        })
        .await;
    let Event::Log { message, .. } = warning.as_ref() else {
        unreachable!()
    };
    assert!(
        message.starts_with("lost update: kv('connections') key 'connections'"),
        "{message}"
    );
    assert!(
        message.contains("handler.js:7") && message.contains("handler.js:12"),
        "the read and the writes, at their lines: {message}"
    );
    let ids: Vec<String> = server
        .engine
        .connections()
        .iter()
        .map(|connection| connection.connection_id.to_string())
        .collect();
    assert_eq!(
        ids.iter()
            .filter(|id| message.contains(id.as_str()))
            .count(),
        2,
        "both connections are named: {message}"
    );
    let list = server
        .kv_json("connections", "connections")
        .expect("the list");
    assert_eq!(
        list["connections"].as_array().map(Vec::len),
        Some(2),
        "the busy one and one of the two: the other's entry is lost ({list})"
    );
    drop((first, second, busy));
}
