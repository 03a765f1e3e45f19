//! The embedded lane against the real SDK: every handler file here runs in
//! both lanes — QuickJS with sockscope's copy of `@nitric/sdk` 1.2.2, and
//! `node FILE.mjs` with the real package over the gRPC contract — driven by
//! the same client steps. What each client sees (upgrade statuses, frames,
//! how it was closed) and what the kv store holds at the end must be the
//! same, connection ids aside; otherwise the test names the first
//! difference.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::{node_modules, project, services_config, start};
use crate::util::TestServer;

const ECHO_JS: &str = include_str!("../../assets/examples/echo.js");
const CHAT_JS: &str = include_str!("../../assets/examples/chat.js");
const CONNECTIONS_JS: &str = include_str!("../../assets/examples/connections.js");

/// One thing the clients do.
enum Step {
    /// Opens `client` with `query` (its status is observed).
    Connect(&'static str, &'static str),
    Text(&'static str, &'static str),
    Binary(&'static str, &'static [u8]),
    /// `client` closes with 1000.
    Close(&'static str),
    /// Waits until the clients have seen this many frames and closes in all.
    Seen(usize),
}

use Step::{Binary, Close, Connect, Seen, Text};

/// What the clients saw, per client, and the kv stores at the end.
#[derive(Debug, Default, PartialEq, Eq)]
struct Observed {
    clients: BTreeMap<&'static str, Vec<String>>,
    /// `store/key = value`, sorted (keys normalised, so several may look alike).
    kv: Vec<String>,
}

type Log = Arc<Mutex<(BTreeMap<&'static str, Vec<String>>, usize)>>;

/// Connection ids differ between runs: each becomes `<id>`.
fn normalised(text: &str) -> String {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        .expect("a valid pattern");
    uuid.replace_all(text, "<id>")
        .replace("00000000-0000-4000-8000-000000000000", "<unknown id>")
}

fn note(log: &Log, client: &'static str, seen: String, counts: bool) {
    let mut log = log.lock();
    log.0.entry(client).or_default().push(normalised(&seen));
    if counts {
        log.1 += 1;
    }
}

async fn drive(server: &TestServer, steps: &[Step], stores: &[&str]) -> Observed {
    let log: Log = Arc::default();
    let mut writers = BTreeMap::new();
    for step in steps {
        match step {
            Connect(client, query) => {
                let url = server.url(&format!("/{query}"));
                match tokio_tungstenite::connect_async(url).await {
                    Ok((stream, _)) => {
                        note(&log, client, "upgraded".to_owned(), false);
                        let (writer, mut reader) = stream.split();
                        writers.insert(*client, writer);
                        let log = Arc::clone(&log);
                        let client = *client;
                        tokio::spawn(async move {
                            loop {
                                let seen = match reader.next().await {
                                    Some(Ok(Message::Text(text))) => format!("text {text}"),
                                    Some(Ok(Message::Binary(bytes))) => format!("binary {bytes:?}"),
                                    Some(Ok(Message::Close(frame))) => {
                                        note(
                                            &log,
                                            client,
                                            format!(
                                                "closed {:?}",
                                                frame.map(|f| u16::from(f.code))
                                            ),
                                            true,
                                        );
                                        return;
                                    }
                                    Some(Ok(_)) => continue,
                                    Some(Err(_)) | None => {
                                        note(
                                            &log,
                                            client,
                                            "dropped without a close frame".to_owned(),
                                            true,
                                        );
                                        return;
                                    }
                                };
                                note(&log, client, seen, true);
                            }
                        });
                    }
                    Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                        note(
                            &log,
                            client,
                            format!("refused {}", response.status().as_u16()),
                            false,
                        );
                    }
                    Err(other) => panic!("{client}: no HTTP answer: {other}"),
                }
            }
            Text(client, text) => {
                let writer = writers
                    .get_mut(client)
                    .unwrap_or_else(|| panic!("{client} is not open: {:#?}", log.lock().0));
                writer.send(Message::text(*text)).await.expect("send");
            }
            Binary(client, bytes) => {
                let writer = writers.get_mut(client).expect("the client is open");
                writer
                    .send(Message::binary(bytes.to_vec()))
                    .await
                    .expect("send");
            }
            Close(client) => {
                let mut writer = writers.remove(client).expect("the client is open");
                writer.send(Message::Close(None)).await.expect("close");
            }
            Seen(count) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
                while log.lock().1 < *count {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "waited for {count} frames; saw {:#?}",
                        log.lock().0
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    // Anything more would come soon.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kv = server.engine.kv();
    let mut stored = Vec::new();
    for store in stores {
        for key in kv.keys(store, "").expect("kv readable") {
            let value = kv
                .get(store, &key)
                .expect("kv readable")
                .unwrap_or_default();
            stored.push(normalised(&format!("{store}/{key} = {value}")));
        }
    }
    stored.sort();
    let clients = log.lock().0.clone();
    Observed {
        clients,
        kv: stored,
    }
}

/// Runs `source` in both lanes with `steps` and compares what was seen.
async fn both_lanes(source: &str, steps: &[Step], stores: &[&str]) {
    let embedded = {
        let server = TestServer::start(source).await;
        drive(&server, steps, stores).await
    };
    let Some(node_modules) = node_modules() else {
        return;
    };
    let real = {
        let dir = project(&[("handler.mjs", source)], Some(&node_modules));
        let config = services_config(dir.path(), &["node handler.mjs"]);
        let server = start(dir, config).await;
        drive(&server, steps, stores).await
    };
    for (client, seen) in &real.clients {
        let ours = embedded.clients.get(client).cloned().unwrap_or_default();
        for (index, (theirs, mine)) in seen.iter().zip(&ours).enumerate() {
            assert_eq!(
                mine, theirs,
                "{client}, event {index}: embedded vs @nitric/sdk (all: {ours:#?} vs {seen:#?})"
            );
        }
        assert_eq!(&ours, seen, "{client}: embedded vs @nitric/sdk");
    }
    assert_eq!(embedded, real, "embedded vs @nitric/sdk");
}

#[tokio::test]
async fn echo_text_binary_and_empty_frames() {
    both_lanes(
        ECHO_JS,
        &[
            Connect("a", ""),
            Text("a", "hello"),
            Binary("a", b"hi"),
            Binary("a", &[0xff, 0x00]),
            Text("a", ""),
            Seen(4),
        ],
        &[],
    )
    .await;
}

#[tokio::test]
async fn the_bundled_chat() {
    both_lanes(
        CHAT_JS,
        &[
            Connect("nameless", ""),
            Connect("ann", "?name=ann"),
            Connect("bob", "?name=bob"),
            Seen(1),
            Text("ann", "hi"),
            Seen(3),
            Close("bob"),
            Seen(5),
        ],
        &["members"],
    )
    .await;
}

#[tokio::test]
async fn the_bundled_connection_registry() {
    both_lanes(
        CONNECTIONS_JS,
        &[
            Connect("a", "?x=1"),
            Connect("b", ""),
            Connect("c", ""),
            Text("a", "to all"),
            Seen(2),
            Close("c"),
            Seen(3),
            Text("b", "again"),
            Seen(4),
        ],
        &["connections"],
    )
    .await;
}

const MIDDLEWARE_JS: &str = r#"import { websocket, createHandler } from '@nitric/sdk';
const socket = websocket('mw');
const auth = async (ctx, next) => {
  if ((ctx.req.query.token ?? [])[0] !== 'secret') {
    ctx.res.success = false;
    return ctx;
  }
  return next(ctx);
};
const tag = (ctx, next) => {
  ctx.req.tagged = true;
  return next(ctx);
};
socket.on('connect', auth, tag, (ctx) => {
  if (ctx.req.query.mode) return 'not a context';
  if (!ctx.req.tagged) ctx.res.success = false;
});
socket.on('message', createHandler(
  async (ctx, next) => (await next(ctx)) || ctx,
  (ctx) => { socket.send(ctx.req.connectionId, `got ${ctx.req.text()} ${ctx.req.tagged}`); },
));
"#;

#[tokio::test]
async fn middleware_chains_deny_and_bad_results() {
    both_lanes(
        MIDDLEWARE_JS,
        &[
            Connect("anon", ""),
            Connect("weird", "?token=secret&mode=1"),
            Connect("ok", "?token=secret"),
            Text("ok", "a"),
            Seen(1),
        ],
        &[],
    )
    .await;
}

const BROADCAST_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
// The Nitric docs' messaging service.
const socket = websocket('example-websocket');
const connections = kv('connections').allow('get', 'set', 'delete');
socket.on('connect', async (ctx) => {
  await connections.set(ctx.req.connectionId, {});
});
socket.on('disconnect', async (ctx) => {
  await connections.delete(ctx.req.connectionId);
});
socket.on('message', async (ctx) => {
  const message = ctx.req.text();
  for await (const connectionId of connections.keys()) {
    await socket.send(connectionId, message);
  }
});
"#;

#[tokio::test]
async fn kv_registry_and_broadcast() {
    both_lanes(
        BROADCAST_JS,
        &[
            Connect("a", ""),
            Connect("b", ""),
            Text("a", "hello"),
            Seen(2),
            Close("b"),
            Seen(3),
            Text("a", "again"),
            Seen(4),
        ],
        &["connections"],
    )
    .await;
}

const VALUES_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('values');
const store = kv('values').allow('get', 'set', 'delete');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const body = ctx.req.json();
  if (body.op === 'types') {
    await socket.send(id, `${typeof ctx.req.data} ${ctx.req.data.constructor.name} ${ctx.req.data.length} ${ctx.req.eventType} ${ctx.req.socket}`);
  } else if (body.op === 'objects') {
    await socket.send(id, { b: 1, a: [1, 'x', null], nested: { z: true, y: 2.5 } });
    await socket.send(id, 42);
    await socket.send(id, null);
    await socket.send(id, undefined);
    await socket.send(id, new Uint16Array([1, 2]));
  } else if (body.op === 'store') {
    await store.set('arr', ['p', 'q']);
    await store.set('str', 'hi');
    await store.set('num', 7);
    await store.set('obj', { z: 1, a: { d: 4, c: 3 }, when: new Date(0), list: [{ y: 1, x: 2 }] });
    for (const key of ['arr', 'str', 'num', 'obj']) {
      await socket.send(id, JSON.stringify(await store.get(key)));
    }
  } else if (body.op === 'bad') {
    for (const value of [{ f: undefined }, { g: () => 1 }]) {
      try {
        await store.set('bad', value);
        await socket.send(id, 'stored');
      } catch (e) {
        await socket.send(id, `${e.constructor.name}: ${e.message}`);
      }
    }
  }
});
"#;

#[tokio::test]
async fn data_types_json_and_struct_values() {
    both_lanes(
        VALUES_JS,
        &[
            Connect("a", ""),
            Text("a", r#"{"op":"types"}"#),
            Seen(1),
            Text("a", r#"{"op":"objects"}"#),
            Seen(6),
            Text("a", r#"{"op":"store"}"#),
            Seen(10),
            Text("a", r#"{"op":"bad"}"#),
            Seen(12),
        ],
        &["values"],
    )
    .await;
}

const THROWS_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('throws');
socket.on('connect', (ctx) => {
  if (ctx.req.query.fail) throw new Error('refused by a throw');
});
socket.on('message', async (ctx) => {
  const text = ctx.req.text();
  if (text === 'upper') {
    // The docs' habit from v0: data was a string. Now a TypeError.
    await socket.send(ctx.req.connectionId, ctx.req.data.toUpperCase());
  } else if (text === 'reject') {
    await Promise.reject(new Error('nope'));
  } else {
    await socket.send(ctx.req.connectionId, `ok ${text} ${ctx.req.data}`);
  }
});
"#;

#[tokio::test]
async fn throwing_handlers() {
    both_lanes(
        THROWS_JS,
        &[
            Connect("failing", "?fail=1"),
            Connect("a", ""),
            Text("a", "upper"),
            Text("a", "reject"),
            Text("a", "hi"),
            Seen(1),
        ],
        &[],
    )
    .await;
}

const CLOSE_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('closer');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  if (ctx.req.text() === 'bye') await socket.close(ctx.req.connectionId);
  else await socket.send(ctx.req.connectionId, 'still here');
});
"#;

#[tokio::test]
async fn socket_close_drops_the_connection() {
    both_lanes(
        CLOSE_JS,
        &[
            Connect("a", ""),
            Text("a", "hi"),
            Seen(1),
            Text("a", "bye"),
            Seen(2),
        ],
        &[],
    )
    .await;
}

const COUNTER_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('counter');
const counters = kv('counters').allow('get', 'set');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  let count = 0;
  try {
    ({ count } = await counters.get('total'));
  } catch (e) {
    if (e.constructor.name !== 'NotFoundError') throw e;
  }
  await counters.set('total', { count: count + 1 });
  await socket.send(ctx.req.connectionId, `count ${count + 1}`);
});
"#;

#[tokio::test]
async fn a_read_modify_write_counter_of_one_connection() {
    both_lanes(
        COUNTER_JS,
        &[
            Connect("a", ""),
            Text("a", "1"),
            Text("a", "2"),
            Text("a", "3"),
            Text("a", "4"),
            Seen(4),
        ],
        &["counters"],
    )
    .await;
}

const ERRORS_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('errors');
const store = kv('things').allow('get', 'delete');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const report = async (what, promise, full) => {
    try {
      await promise;
      await socket.send(id, `${what}: no error`);
    } catch (e) {
      const message = full ? e.message : e.message.split('\n')[0];
      await socket.send(id, `${what}: ${e.name}/${e.constructor.name}: ${message}`);
    }
  };
  await report('get', store.get('missing'), true);
  await report('delete', store.delete('missing'));
  await report('set', store.set('k', { a: 1 }));
  await report('send', socket.send('00000000-0000-4000-8000-000000000000', 'x'));
  await report('close', socket.close('00000000-0000-4000-8000-000000000000'));
  await socket.send(id, (await socket.url()).startsWith('ws://') ? 'url ok' : 'url?');
});
"#;

#[tokio::test]
async fn provider_errors_keep_their_classes_and_messages() {
    both_lanes(
        ERRORS_JS,
        &[Connect("a", ""), Text("a", "go"), Seen(6)],
        &["things"],
    )
    .await;
}

const QUERY_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('query');
const store = kv('queries').allow('get', 'set');
socket.on('connect', async (ctx) => {
  await store.set(ctx.req.connectionId, { query: ctx.req.query, keys: Object.keys(ctx.req.query) });
});
socket.on('message', async (ctx) => {
  const { query, keys } = await store.get(ctx.req.connectionId);
  await socket.send(ctx.req.connectionId, `${JSON.stringify(query)} ${keys.join()}`);
});
"#;

#[tokio::test]
async fn the_query_is_decoded_as_the_sdk_decodes_it() {
    both_lanes(
        QUERY_JS,
        &[
            Connect("stray", "?q=100%25"),
            Connect("a", "?b=2&a=x%2520y&a=z&p=a+b"),
            Text("a", "?"),
            Seen(1),
        ],
        &[],
    )
    .await;
}

/// The sample sessions, recorded in the embedded lane, replay unchanged
/// against the same examples under the real SDK.
#[tokio::test]
async fn the_sample_sessions_pass_under_the_real_sdk_too() {
    use sockscope::session::runner::{ReplayFileOptions, ReplayResult, ReplayServer, replay_file};
    let Some(node_modules) = node_modules() else {
        return;
    };
    let sessions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    for (session, example) in [
        ("chat-two-clients.jsonl", CHAT_JS),
        ("chat-denied-without-name.jsonl", CHAT_JS),
        ("echo-text-and-binary.jsonl", ECHO_JS),
    ] {
        let dir = project(&[("handler.mjs", example)], Some(&node_modules));
        let services = services_config(dir.path(), &["node handler.mjs"])
            .services
            .expect("services");
        let options = ReplayFileOptions::new(ReplayServer::Services(services));
        let result = replay_file(&sessions.join(session), &options, |_| {}).await;
        match &result {
            ReplayResult::Report(report) => {
                assert!(report.passed(), "{session}: {:?}", report.divergence);
            }
            ReplayResult::Error(error) => panic!("{session}: {error}"),
        }
    }
}

const THREE_SOCKETS_JS: &str = r#"import { websocket } from '@nitric/sdk';
const chat = websocket('chat');
const feed = websocket('feed');
const closed = websocket('closed');
chat.on('connect', () => {});
chat.on('message', (ctx) => chat.send(ctx.req.connectionId, `chat got ${ctx.req.text()} on ${ctx.req.socket}`));
feed.on('connect', () => {});
feed.on('message', (ctx) => feed.send(ctx.req.connectionId, `feed got ${ctx.req.text()} on ${ctx.req.socket}`));
closed.on('connect', (ctx) => {
  ctx.res.success = false;
});
"#;

/// What each socket of `server` answers: its refusal, or its echo of "hi".
async fn ask_every_socket(server: &TestServer) -> BTreeMap<String, String> {
    let mut answers = BTreeMap::new();
    for listener in server.engine.sockets() {
        let url = format!("ws://{}/", listener.local_addr);
        let answer = match tokio_tungstenite::connect_async(url).await {
            Ok((mut client, _)) => {
                client.send(Message::text("hi")).await.expect("send");
                match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
                    other => format!("no answer: {other:?}"),
                }
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                format!("refused {}", response.status().as_u16())
            }
            Err(other) => format!("no HTTP answer: {other}"),
        };
        answers.insert(listener.socket.to_string(), answer);
    }
    answers
}

#[tokio::test]
async fn every_socket_of_a_file_is_served_on_its_own_port() {
    let embedded = ask_every_socket(&TestServer::start(THREE_SOCKETS_JS).await).await;
    assert_eq!(
        embedded,
        BTreeMap::from([
            ("chat".to_owned(), "chat got hi on chat".to_owned()),
            ("closed".to_owned(), "refused 500".to_owned()),
            ("feed".to_owned(), "feed got hi on feed".to_owned()),
        ])
    );
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("handler.mjs", THREE_SOCKETS_JS)], Some(&node_modules));
    let config = services_config(dir.path(), &["node handler.mjs"]);
    let real = ask_every_socket(&start(dir, config).await).await;
    assert_eq!(embedded, real, "embedded vs @nitric/sdk");
}
