//! Topics in the embedded lane, delivered in process as `nitric start`
//! delivers them: every subscription of every service gets each message,
//! as the Struct's JSON text, after the publish has answered; a throwing
//! subscriber goes to `console.error`; a delay is honoured; a topic nobody
//! subscribes to is logged. (The same handlers against the real SDK are in
//! `nitric::differential`.)

use sockscope::core::events::{Event, LogLevel};

use crate::util::{TestServer, recv_text, script, send_text};

const PUBSUB_JS: &str = "const socket = websocket('s');
const members = kv('members').allow('get', 'set', 'delete');
const updates = topic('updates');
const publisher = updates.allow('publish');
socket.on('connect', async (ctx) => { await members.set(ctx.req.connectionId, {}); });
socket.on('disconnect', async (ctx) => { await members.delete(ctx.req.connectionId); });
socket.on('message', async (ctx) => {
  const body = ctx.req.json();
  if (body.op === 'publish') {
    const published = await publisher.publish({ z: 1, a: { y: [1, 'x'], b: true }, text: body.text });
    await socket.send(ctx.req.connectionId, `published ${published}`);
  } else if (body.op === 'later') {
    await publisher.publish({ text: 'later' }, { delay: 1 });
    await publisher.publish({ text: 'now' });
  } else if (body.op === 'bad') {
    try {
      await publisher.publish({ f: undefined });
    } catch (e) {
      await socket.send(ctx.req.connectionId, `rejected: ${e.message}`);
    }
  } else if (body.op === 'nobody') {
    await topics().topic('nobody').publish({});
    await socket.send(ctx.req.connectionId, 'sent to nobody');
  } else if (body.op === 'perms') {
    for (const make of [() => topic('t').allow('subscribe'), () => topics().topic('')]) {
      try { make(); } catch (e) { await socket.send(ctx.req.connectionId, e.message); }
    }
  }
});
updates.subscribe(async (ctx) => {
  for await (const id of members.keys()) {
    await socket.send(id, `1st ${ctx.req.topic} ${typeof ctx.req.data} ${ctx.req.data} ${ctx.req.json().text}`);
  }
});
updates.subscribe((ctx) => {
  if (JSON.parse(ctx.req.data).text === 'boom') throw new Error('the second subscriber fails');
  ctx.res.success = false;
});";

fn pubsub_script() -> String {
    script(PUBSUB_JS).replace(
        "import { websocket, kv }",
        "import { websocket, kv, topic, topics }",
    )
}

#[tokio::test]
async fn every_subscription_gets_a_published_message_as_json_text() {
    let server = TestServer::start(&pubsub_script()).await;
    let mut ann = server.connect("/").await;
    let mut bob = server.connect("/").await;
    send_text(&mut ann, r#"{"op":"publish","text":"hi"}"#).await;
    // The publish answers first (Node always sends a delay, so nitric start
    // answers before it delivers); the subscriber then reaches everyone.
    assert_eq!(recv_text(&mut ann).await, "published undefined");
    let delivered = r#"1st updates string {"a":{"b":true,"y":[1,"x"]},"text":"hi","z":1} hi"#;
    assert_eq!(recv_text(&mut ann).await, delivered);
    assert_eq!(recv_text(&mut bob).await, delivered);
}

#[tokio::test]
async fn a_throwing_subscriber_goes_to_console_error_and_others_still_run() {
    let mut server = TestServer::start(&pubsub_script()).await;
    let mut ann = server.connect("/").await;
    send_text(&mut ann, r#"{"op":"publish","text":"boom"}"#).await;
    assert_eq!(recv_text(&mut ann).await, "published undefined");
    assert!(recv_text(&mut ann).await.starts_with("1st updates"));
    let logged = server
        .wait_for("the subscriber's error", |event| {
            matches!(event, Event::Log { level: LogLevel::Error, message, .. } if message.contains("the second subscriber fails"))
        })
        .await;
    let Event::Log { message, .. } = logged.as_ref() else {
        unreachable!()
    };
    assert!(
        message.contains("handler.js:"),
        "the stack names the line: {message}"
    );
}

#[tokio::test]
async fn a_delayed_message_comes_after_a_later_immediate_one() {
    a_delayed_message_comes_after_a_later_immediate_one_with(|_| {}).await;
}

/// Also run under `--low-cpu` (`low_cpu.rs`).
pub(crate) async fn a_delayed_message_comes_after_a_later_immediate_one_with(
    configure: impl FnOnce(&mut sockscope::launch::LaunchConfig),
) {
    let server = TestServer::start_with(&pubsub_script(), configure).await;
    let mut ann = server.connect("/").await;
    send_text(&mut ann, r#"{"op":"later"}"#).await;
    assert!(recv_text(&mut ann).await.ends_with(" now"));
    assert!(recv_text(&mut ann).await.ends_with(" later"));
}

#[tokio::test]
async fn struct_errors_reject_and_a_topic_without_subscribers_is_logged() {
    let mut server = TestServer::start(&pubsub_script()).await;
    let mut ann = server.connect("/").await;
    send_text(&mut ann, r#"{"op":"bad"}"#).await;
    assert_eq!(
        recv_text(&mut ann).await,
        "rejected: Unexpected struct type."
    );
    send_text(&mut ann, r#"{"op":"nobody"}"#).await;
    assert_eq!(recv_text(&mut ann).await, "sent to nobody");
    server
        .wait_for("the no-subscribers warning", |event| {
            matches!(event, Event::Log { level: LogLevel::Warn, message, .. } if message == "topic 'nobody' has no subscribers")
        })
        .await;
    send_text(&mut ann, r#"{"op":"perms"}"#).await;
    assert_eq!(
        recv_text(&mut ann).await,
        "unknown permission subscribe, supported permission is publish"
    );
    assert_eq!(
        recv_text(&mut ann).await,
        "A topic name is needed to use a Topic."
    );
}

const RESOURCES_TS: &str = "import { websocket, kv, topic } from '@nitric/sdk';
export const socket = websocket('s');
export const members = kv('members').allow('get', 'set', 'delete');
export const news = topic('news');
";

const PUBLISHER_TS: &str = "import { socket, members, news } from '../resources';
const publisher = news.allow('publish');
socket.on('connect', async (ctx) => { await members.set(ctx.req.connectionId, {}); });
socket.on('message', async (ctx) => { await publisher.publish({ text: ctx.req.text() }); });
";

const SUBSCRIBER_TS: &str = "import { socket, members, news } from '../resources';
(globalThis as any).service = 'subscriber';
news.subscribe(async (ctx) => {
  for await (const id of members.keys()) {
    await socket.send(id, `${(globalThis as any).service} got ${ctx.req.json().text}`);
  }
});
";

#[tokio::test]
async fn a_message_published_in_one_service_reaches_another_services_subscriber() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [
        (
            "nitric.yaml",
            "name: p\nservices:\n  - match: services/*.ts\n    start: npx tsx $SERVICE_PATH\n",
        ),
        ("resources/index.ts", RESOURCES_TS),
        ("services/publisher.ts", PUBLISHER_TS),
        ("services/subscriber.ts", SUBSCRIBER_TS),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
        std::fs::write(path, text).expect("write");
    }
    let mut config = sockscope::launch::LaunchConfig::new(dir.path().join("services/publisher.ts"));
    config.server.port = 0;
    config.server.kv = sockscope::core::config::KvLocation::Memory;
    config.script.other_services = vec![dir.path().join("services/subscriber.ts")];
    let server = TestServer::launch(dir, config).await;
    let mut ann = server.connect("/").await;
    send_text(&mut ann, "hello").await;
    assert_eq!(recv_text(&mut ann).await, "subscriber got hello");
}

#[tokio::test]
async fn a_subscriber_past_its_budget_is_stopped_and_reported_and_serving_goes_on() {
    let mut server = TestServer::start_with(
        &script(
            "const socket = websocket('s');
const spin = topic('spin');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  if (ctx.req.text() === 'spin') await spin.allow('publish').publish({});
  await socket.send(ctx.req.connectionId, `echo ${ctx.req.text()}`);
});
spin.subscribe(() => { for (;;) {} });",
        )
        .replace(
            "import { websocket, kv }",
            "import { websocket, kv, topic }",
        ),
        |config| config.server.limits.handler_timeout = std::time::Duration::from_millis(300),
    )
    .await;
    let mut ann = server.connect("/").await;
    send_text(&mut ann, "spin").await;
    assert_eq!(recv_text(&mut ann).await, "echo spin");
    let reported = server
        .wait_for("the subscriber's failure", |event| {
            matches!(event, Event::ScriptError { failure, .. } if failure.message.starts_with("topic 'spin' subscriber: handler ran longer than its 300 ms budget"))
        })
        .await;
    assert!(matches!(
        reported.as_ref(),
        Event::ScriptError {
            connection_id: None,
            ..
        }
    ));
    send_text(&mut ann, "after").await;
    assert_eq!(recv_text(&mut ann).await, "echo after");
}
