//! Handler semantics from DESIGN.md, through real sockets and the real engine.

use futures_util::SinkExt;
use sockscope::core::events::{Event, HandlerKind, LogLevel};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{TestServer, recv, recv_close_code, recv_json, recv_text, script, send_text};

#[tokio::test]
async fn a_denied_connect_is_refused_as_nitric_start_refuses_it() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
         socket.on('connect', (ctx) => { if (ctx.req.query.token?.[0] !== 'good') ctx.res.success = false; });",
    ))
    .await;
    server.connect("/?token=good").await;
    // nitric start's answer: 500 with the body "Connection Refused".
    let response = reqwest_like_refusal(&server, "/?token=bad").await;
    assert_eq!(response, (500, "Connection Refused".to_owned()));
    let denied = server
        .wait_for("denied event", |event| {
            matches!(event, Event::ConnectionDenied { .. })
        })
        .await;
    let Event::ConnectionDenied { status, query, .. } = denied.as_ref() else {
        unreachable!()
    };
    assert_eq!(*status, 500);
    assert_eq!(query["token"], vec!["bad"]);
}

/// The status and body of a refused upgrade.
pub(crate) async fn reqwest_like_refusal(
    server: &TestServer,
    path_and_query: &str,
) -> (u16, String) {
    match tokio_tungstenite::connect_async(server.url(path_and_query)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|(_, response)| response.status())
        ),
    }
}

#[tokio::test]
async fn connect_handler_that_throws_gives_500_and_the_line() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
         socket.on('connect', (ctx) => {
           throw new TypeError('boom');
         });",
    ))
    .await;
    assert_eq!(server.refused_status("/").await, 500);
    let error = server
        .wait_for("script error", |event| {
            matches!(event, Event::ScriptError { .. })
        })
        .await;
    let Event::ScriptError {
        failure, handler, ..
    } = error.as_ref()
    else {
        unreachable!()
    };
    assert_eq!(*handler, Some(HandlerKind::Connect));
    assert_eq!(failure.message, "TypeError: boom");
    let location = failure.location.as_ref().expect("a location");
    assert_eq!((location.file.as_str(), location.line), ("handler.js", 4));
    assert!(
        failure
            .stack
            .as_deref()
            .is_some_and(|stack| stack.contains("handler.js:4")),
        "{:?}",
        failure.stack
    );
}

#[tokio::test]
async fn query_values_are_arrays_in_order_and_other_events_see_empty_query() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
         const seen = kv('seen').allow('get', 'set');
         socket.on('connect', async (ctx) => { await seen.set('query', ctx.req.query); });
         socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.query));",
    ))
    .await;
    let mut client = server
        .connect("/room/1?tag=b&name=J%C3%BCrgen&tag=a&flag")
        .await;
    let stored = server
        .kv_json("seen", "query")
        .expect("connect stored the query");
    assert_eq!(
        stored,
        serde_json::json!({"tag": ["b", "a"], "name": ["Jürgen"], "flag": [""]})
    );
    send_text(&mut client, "hi").await;
    assert_eq!(recv_json(&mut client).await, serde_json::json!({}));
}

#[tokio::test]
async fn middleware_runs_in_order_and_stops_without_next() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         const log = [];
         const first = (ctx, next) => { log.push('first'); ctx.tag = 'a'; return next(ctx); };
         const second = async (ctx, next) => {
           log.push('second:' + ctx.tag);
           if (ctx.req.text() === 'stop') return ctx;
           return next(ctx);
         };
         const third = (ctx) => { log.push('third'); };
         const report = (ctx) => { socket.send(ctx.req.connectionId, log.splice(0)); };
         socket.on('message', (ctx, next) => next(ctx).then(report), first, second, third);",
    ))
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "go").await;
    assert_eq!(
        recv_json(&mut client).await,
        serde_json::json!(["first", "second:a", "third"])
    );
    send_text(&mut client, "stop").await;
    assert_eq!(
        recv_json(&mut client).await,
        serde_json::json!(["first", "second:a"])
    );
}

#[tokio::test]
async fn connect_chain_short_circuit_keeps_the_returned_ctx_decision() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
         const guard = (ctx, next) => {
           if (!ctx.req.query.key) { ctx.res.success = false; return ctx; }
           return next(ctx);
         };
         socket.on('connect', guard, (ctx) => { ctx.res.success = ctx.req.query.key[0] === 'k'; });",
    ))
    .await;
    assert_eq!(server.refused_status("/").await, 500);
    assert_eq!(server.refused_status("/?key=x").await, 500);
    server.connect("/?key=k").await;
}

#[tokio::test]
async fn messages_of_one_connection_are_handled_in_order() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', async (ctx) => {
           await Promise.resolve();
           await socket.send(ctx.req.connectionId, ctx.req.text());
         });",
    ))
    .await;
    let mut client = server.connect("/").await;
    for index in 0..200 {
        client
            .feed(Message::text(index.to_string()))
            .await
            .expect("feed");
    }
    client.flush().await.expect("flush");
    for index in 0..200 {
        assert_eq!(recv_text(&mut client).await, index.to_string());
    }
}

#[tokio::test]
async fn send_maps_strings_bytes_and_objects_to_frames() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', async (ctx) => {
           const id = ctx.req.connectionId;
           await socket.send(id, 'text');
           await socket.send(id, new Uint8Array([0, 255, 7]));
           await socket.send(id, { n: 1, list: [true] });
           await socket.send(id, new TextEncoder().encode('é'));
           const data = ctx.req.data;
           await socket.send(id, data instanceof Uint8Array ? 'binary:' + data.length + ':' + ctx.req.text() : 'text:' + data);
           await socket.send({ toString: () => id }, 'to an id that is not a string');
           await socket.send(id, new Uint8Array([1, 2]).buffer);
           await socket.send(id, 7);
           await socket.send(id, undefined);
           await socket.send(id, 10n).catch((error) => socket.send(id, error.name));
         });",
    ))
    .await;
    let mut client = server.connect("/").await;
    client
        .send(Message::binary(b"hi".to_vec()))
        .await
        .expect("send");
    // As the SDK converts and `nitric start` writes: always text frames.
    assert_eq!(recv(&mut client).await, Message::text("text"));
    assert_eq!(
        recv(&mut client).await,
        Message::text("Binary messages are not currently supported by AWS")
    );
    assert_eq!(
        recv_json(&mut client).await,
        serde_json::json!({"n": 1, "list": [true]})
    );
    assert_eq!(recv(&mut client).await, Message::text("é"));
    assert_eq!(recv_text(&mut client).await, "binary:2:hi");
    assert_eq!(
        recv_text(&mut client).await,
        "to an id that is not a string"
    );
    // An ArrayBuffer is not a Uint8Array: JSON of its (no) own properties.
    assert_eq!(recv_text(&mut client).await, "{}");
    assert_eq!(recv_text(&mut client).await, "7");
    assert_eq!(recv_text(&mut client).await, "");
    assert_eq!(recv_text(&mut client).await, "TypeError");
}

#[tokio::test]
async fn send_to_unknown_id_rejects_naming_the_id() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', async (ctx) => {
           try {
             await socket.send('00000000-0000-4000-8000-000000000000', 'x');
           } catch (error) {
             await socket.send(ctx.req.connectionId, error.message);
           }
         });",
    ))
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "go").await;
    let message = recv_text(&mut client).await;
    assert_eq!(
        message.lines().next(),
        Some("2 UNKNOWN: could not get connection 00000000-0000-4000-8000-000000000000"),
        "{message}"
    );
}

#[tokio::test]
async fn close_from_script_drops_the_connection_and_fires_disconnect() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         const seen = kv('seen').allow('set');
         socket.on('message', (ctx) => socket.close(ctx.req.connectionId));
         socket.on('disconnect', async (ctx) => { await seen.set(ctx.req.connectionId, { eventType: ctx.req.eventType, data: ctx.req.data }); });",
    ))
    .await;
    let (mut client, connection_id) = server.connect_with_id("/").await;
    let connection_id = connection_id.to_string();
    send_text(&mut client, "bye").await;
    // As `nitric start`: the TCP connection is dropped, no close frame.
    assert_eq!(recv_close_code(&mut client).await, None);
    let stored = server.wait_for_kv("seen", &connection_id, |_| true).await;
    assert_eq!(
        stored,
        serde_json::json!({"eventType": "disconnect", "data": ""})
    );
}

#[tokio::test]
async fn registering_an_event_twice_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("twice.js");
    std::fs::write(
        &path,
        script("const s = websocket('s');\ns.on('message', () => {});\ns.on('message', () => {});"),
    )
    .expect("write");
    let mut config = sockscope::launch::LaunchConfig::new(&path);
    config.server.port = 0;
    let Err(error) = sockscope::launch::start(config).await else {
        panic!("a script that registers message twice must not load");
    };
    let message = error.to_string();
    assert!(
        message.contains("websocket handler already registered, socket: s eventType: MESSAGE")
            && message.contains("twice.js:4"),
        "{message}"
    );
}

#[tokio::test]
async fn imports_that_find_nothing_or_leave_the_project_are_refused() {
    let cases = [
        ("std", "cannot find package 'std' in node_modules"),
        ("./other.js", "cannot find module './other.js'"),
        ("../outside.js", "outside the project"),
        ("/etc/passwd", "outside the project"),
    ];
    for (module, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().join("project");
        std::fs::create_dir(&project).expect("mkdir");
        std::fs::write(dir.path().join("outside.js"), "export const leaked = 1;\n").expect("write");
        let path = project.join("escape.js");
        std::fs::write(&path, format!("import * as m from '{module}';\n")).expect("write");
        let mut config = sockscope::launch::LaunchConfig::new(&path);
        config.server.port = 0;
        let Err(error) = sockscope::launch::start(config).await else {
            panic!("import of {module} must fail");
        };
        let message = error.to_string();
        assert!(
            message.contains(module)
                && message.contains(expected)
                && message.contains("escape.js:1"),
            "{module}: {message}"
        );
    }
}

#[tokio::test]
async fn console_output_is_attributed_to_the_connection() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', (ctx) => { console.warn('got', ctx.req.text(), { n: 1 }); });",
    ))
    .await;
    let (mut client, connection_id) = server.connect_with_id("/").await;
    send_text(&mut client, "hello").await;
    let log = server
        .wait_for("log line", |event| {
            matches!(
                event,
                Event::Log {
                    level: LogLevel::Warn,
                    ..
                }
            )
        })
        .await;
    let Event::Log {
        connection_id: from,
        message,
        location,
        ..
    } = log.as_ref()
    else {
        unreachable!()
    };
    assert_eq!(*from, Some(connection_id));
    assert_eq!(message, r#"got hello {"n":1}"#);
    // At the line that logged, as a devtools console shows it (the body
    // starts on the script's line 2).
    let location = location.as_ref().expect("a console line has its location");
    assert_eq!((location.file.as_str(), location.line), ("handler.js", 4));
}

#[tokio::test]
async fn bursts_from_many_connections_keep_per_connection_order_and_attribute_errors() {
    bursts_from_many_connections_keep_per_connection_order_and_attribute_errors_with(|_| {}).await;
}

/// Also run under `--low-cpu` (`low_cpu.rs`).
pub(crate) async fn bursts_from_many_connections_keep_per_connection_order_and_attribute_errors_with(
    configure: impl FnOnce(&mut sockscope::launch::LaunchConfig),
) {
    // Queued messages run in batches on the script thread; each still gets
    // its own outcome, attributed to its own connection, in order.
    let mut server = TestServer::start_with(
        &script(
            "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', (ctx) => {
           const n = Number(ctx.req.text());
           if (n % 50 === 49) throw new Error(`boom ${n}`);
           socket.send(ctx.req.connectionId, ctx.req.data);
         });",
        ),
        configure,
    )
    .await;
    const MESSAGES: usize = 200;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(server.connect("/").await);
    }
    for index in 0..MESSAGES {
        for client in &mut clients {
            client
                .feed(Message::text(index.to_string()))
                .await
                .expect("feed");
        }
    }
    for client in &mut clients {
        client.flush().await.expect("flush");
    }
    for client in &mut clients {
        let expected: Vec<String> = (0..MESSAGES)
            .filter(|n| n % 50 != 49)
            .map(|n| n.to_string())
            .collect();
        let mut received = Vec::new();
        while received.len() < expected.len() {
            received.push(recv_text(client).await);
        }
        assert_eq!(received, expected);
    }
    let mut errors = Vec::new();
    while errors.len() < 3 * MESSAGES / 50 {
        let event = server
            .wait_for("a script error", |event| {
                matches!(event, Event::ScriptError { .. })
            })
            .await;
        if let Event::ScriptError {
            connection_id,
            handler,
            failure,
            ..
        } = &*event
        {
            assert_eq!(*handler, Some(HandlerKind::Message));
            errors.push((connection_id.expect("attributed"), failure.message.clone()));
        }
    }
    let connections: std::collections::HashSet<_> = errors.iter().map(|(id, _)| *id).collect();
    assert_eq!(connections.len(), 3, "every connection has its own errors");
    for (_, message) in &errors {
        assert!(message.contains("boom"), "{message}");
    }
}

#[tokio::test]
async fn ctx_req_enumerates_only_its_fields_and_keeps_its_methods() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         socket.on('message', (ctx) => {
           const keys = [];
           for (const key in ctx.req) keys.push(key);
           socket.send(ctx.req.connectionId, { keys, text: ctx.req.text(), query: ctx.req.query });
         });",
    ))
    .await;
    let mut client = server.connect("/?a=1").await;
    send_text(&mut client, "hello").await;
    assert_eq!(
        recv_json(&mut client).await,
        serde_json::json!({
            "keys": ["data", "eventCaseToType", "socket", "eventType", "connectionId", "query"],
            "text": "hello",
            "query": {}
        })
    );
}

/// `socket.send` recognises the handler's own `ctx.req.data` and
/// `connectionId` by identity to skip a conversion; whatever else a handler
/// sends (an older message kept in a variable, a derived string, another
/// connection's id) must still arrive exactly as the handler meant it.
#[tokio::test]
async fn sends_of_kept_derived_and_current_strings_each_deliver_their_own_text() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
let previous;
let firstId;
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  if (firstId === undefined) firstId = id;
  const data = ctx.req.data;
  if (previous !== undefined) await socket.send(id, previous);
  if (ctx.req.text() === 'mutate') data[0] = 77;
  await socket.send(id, data);
  await socket.send(String(id), `${ctx.req.text()}!`);
  await Promise.resolve();
  await socket.send(firstId, data);
  previous = data;
});",
    ))
    .await;
    let mut first = server.connect("/").await;
    let mut second = server.connect("/").await;

    send_text(&mut first, "one").await;
    assert_eq!(recv_text(&mut first).await, "one");
    assert_eq!(recv_text(&mut first).await, "one!");
    assert_eq!(recv_text(&mut first).await, "one", "to firstId");

    let long = "é".repeat(5000);
    send_text(&mut second, &long).await;
    assert_eq!(recv_text(&mut second).await, "one", "the kept older string");
    assert_eq!(recv_text(&mut second).await, long);
    assert_eq!(recv_text(&mut second).await, format!("{long}!"));
    assert_eq!(
        recv_text(&mut first).await,
        long,
        "the current data, sent to another connection"
    );

    send_text(&mut first, "three").await;
    assert_eq!(recv_text(&mut first).await, long);
    assert_eq!(recv_text(&mut first).await, "three");
    assert_eq!(recv_text(&mut first).await, "three!");
    assert_eq!(recv_text(&mut first).await, "three");

    // The very same array, changed: what it holds now goes out.
    send_text(&mut first, "mutate").await;
    assert_eq!(recv_text(&mut first).await, "three");
    assert_eq!(recv_text(&mut first).await, "Mutate");
    assert_eq!(recv_text(&mut first).await, "Mutate!");
    assert_eq!(recv_text(&mut first).await, "Mutate");
}

/// One-handler chains take a shorter path in the SDK; `next` and the
/// returned ctx must still mean what they mean in a longer chain.
#[tokio::test]
async fn a_single_handler_gets_a_working_next_and_its_returned_ctx_counts() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', async (ctx, next) => {
  await Promise.resolve();
  if (ctx.req.query.mode?.[0] === 'replace') {
    return { ...ctx, res: { success: false } };
  }
  return next();
});
socket.on('message', async (ctx, next) => {
  const other = { req: ctx.req, res: { success: true } };
  const promised = next(ctx);
  socket.send(ctx.req.connectionId, {
    isAPromise: promised instanceof Promise,
    sameWithoutArgument: (await next()) === undefined,
    passesItsArgument: (await next(other)) === other,
  });
});",
    ))
    .await;
    // Not a context (no `.websocket.res`): the SDK's TypeError, so refused.
    assert_eq!(server.refused_status("/?mode=replace").await, 500);
    let mut client = server.connect("/?mode=next").await;
    send_text(&mut client, "hi").await;
    assert_eq!(
        recv_json(&mut client).await,
        serde_json::json!({ "isAPromise": true, "sameWithoutArgument": true, "passesItsArgument": true })
    );
}

/// Handlers that are one-parameter arrows get no `next` (they cannot see
/// one); every other shape must still get a working one.
#[tokio::test]
async fn every_handler_shape_that_can_see_next_gets_one() {
    let server = TestServer::start(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
const seen = [];
socket.on('message',
  (ctx, next) => { seen.length = 0; return next(ctx); },
  (...args) => { seen.push('rest'); return args[1](args[0]); },
  (ctx, next = null) => { seen.push('default'); return next(ctx); },
  function (ctx) { seen.push('function'); return arguments[1](ctx); },
  async function named(ctx) { seen.push('async function'); return arguments[1](ctx); },
  async (ctx, next) => { seen.push('async arrow'); return next(ctx); },
  (ctx, next) => { const { req } = ctx; seen.push('destructured ' + req.eventType); return next(ctx); },
  ctx => { seen.push('last'); socket.send(ctx.req.connectionId, seen.join(',')); },
);",
    ))
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "hi").await;
    assert_eq!(
        recv_text(&mut client).await,
        "rest,default,function,async function,async arrow,destructured message,last"
    );
}
