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

use super::corpus::*;
use super::{node_modules, project, services_config};
use crate::util::TestServer;

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
    /// Waits until the kv store holds this many keys (a disconnect handler
    /// has run: a client sees its close before the server's handler ends).
    Stored(&'static str, usize),
}

use Step::{Binary, Close, Connect, Seen, Stored, Text};

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
            Stored(store, count) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
                let kv = server.engine.kv();
                loop {
                    let keys = kv.keys(store, "").expect("kv readable");
                    if keys.len() == *count {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "waited for {count} keys in {store}; it holds {keys:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
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
    both_lanes_in(
        &[("handler.mjs", source)],
        "handler.mjs",
        "node handler.mjs",
        steps,
        stores,
    )
    .await;
}

/// Runs the project of `files` in both lanes: `entry` embedded, `command`
/// with the real SDK; `steps` drive both and what was seen is compared.
async fn both_lanes_in(
    files: &[(&str, &str)],
    entry: &str,
    command: &str,
    steps: &[Step],
    stores: &[&str],
) {
    let embedded = {
        let dir = project(files, None);
        let mut config = sockscope::launch::LaunchConfig::new(dir.path().join(entry));
        config.server.port = 0;
        config.server.kv = sockscope::core::config::KvLocation::File(dir.path().join("kv.redb"));
        let server = TestServer::launch(dir, config).await;
        drive(&server, steps, stores).await
    };
    let Some(node_modules) = node_modules() else {
        return;
    };
    let real = {
        let dir = project(files, Some(&node_modules));
        let config = services_config(dir.path(), &[command]);
        let server = TestServer::launch(dir, config).await;
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
async fn a_typescript_project_with_its_resources_in_a_module() {
    both_lanes_in(
        &[
            (
                "nitric.yaml",
                "name: chat\nservices:\n  - match: services/*.ts\n",
            ),
            ("types.ts", TS_TYPES),
            ("resources/index.ts", TS_RESOURCES),
            ("services/chat.ts", TS_SERVICE),
        ],
        "services/chat.ts",
        "node_modules/.bin/tsx services/chat.ts",
        &[
            Connect("nobody", "?name=nobody"),
            Connect("ann", "?name=ann"),
            Connect("anon", ""),
            Text("ann", "hi"),
            Text("anon", "yo"),
            Seen(2),
            Close("anon"),
        ],
        &["members"],
    )
    .await;
}

#[tokio::test]
async fn topics_deliver_to_every_subscription() {
    both_lanes(
        TOPICS_JS,
        &[
            Connect("a", ""),
            Connect("b", ""),
            Text("a", r#"{"op":"publish","text":"hi"}"#),
            Seen(2),
            Text("b", r#"{"op":"publish","text":"boom"}"#),
            Seen(4),
            Text("a", r#"{"op":"later"}"#),
            Seen(8),
            Text("b", r#"{"op":"array"}"#),
            Seen(10),
            Text("b", r#"{"op":"string"}"#),
            Seen(12),
            Text("a", r#"{"op":"bad"}"#),
            Seen(15),
        ],
        &["members"],
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
            // Otherwise the broadcast may still find b, whose send rejects
            // and ends the loop (in Node too).
            Stored("connections", 1),
            Text("a", "again"),
            Seen(4),
        ],
        &["connections"],
    )
    .await;
}

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

#[tokio::test]
async fn provider_errors_keep_their_classes_and_messages() {
    both_lanes(
        ERRORS_JS,
        &[Connect("a", ""), Text("a", "go"), Seen(6)],
        &["things"],
    )
    .await;
}

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
    let real = ask_every_socket(&TestServer::launch(dir, config).await).await;
    assert_eq!(embedded, real, "embedded vs @nitric/sdk");
}
