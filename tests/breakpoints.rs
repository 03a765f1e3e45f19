//! Message breakpoints through the command API, on real connections: the
//! embedded lane (echo.js), the real-runtime lane (echo.js under `node` with
//! the real SDK) and the proxy lane (a Python target). A held
//! frame waits for forward, edit or drop (or the timeout), the frames behind
//! it on its connection wait too, and other connections flow.

use std::time::Duration;

use sockscope::core::events::{Event, FrameDirection, HoldDecision, Payload};
use sockscope::engine::breakpoints::{BreakpointRule, HoldSettings, OnTimeout, PayloadMatch};
use sockscope::engine::command::Command;

use crate::util::{TestServer, example_path, recv_text, send_text};

async fn echo_server() -> TestServer {
    let echo = std::fs::read_to_string(example_path("echo.js")).expect("read echo.js");
    TestServer::start(&echo).await
}

fn rule(direction: Option<FrameDirection>, contains: &str) -> BreakpointRule {
    BreakpointRule {
        direction,
        connection_id: None,
        payload: PayloadMatch::Contains(contains.to_owned()),
    }
}

async fn execute(server: &TestServer, command: Command) {
    server.engine.execute(command).await.expect("the command");
}

/// Waits for the next hold and returns its id.
async fn next_hold(server: &mut TestServer) -> (u64, Payload) {
    let event = server
        .wait_for("a held message", |event| {
            matches!(event, Event::FrameHeld { .. })
        })
        .await;
    let Event::FrameHeld { held } = event.as_ref() else {
        unreachable!()
    };
    (held.hold_id, held.payload.clone())
}

#[tokio::test]
async fn a_held_message_is_edited_and_the_ones_behind_it_keep_their_order() {
    let mut server = echo_server().await;
    execute(
        &server,
        Command::SetBreakpoints(vec![rule(Some(FrameDirection::In), "hold me")]),
    )
    .await;
    let mut held_client = server.connect("/").await;
    let mut free_client = server.connect("/").await;
    send_text(&mut held_client, "hold me").await;
    send_text(&mut held_client, "after").await;
    let (hold_id, payload) = next_hold(&mut server).await;
    assert_eq!(payload, Payload::Text("hold me".into()));
    assert_eq!(server.engine.held_frames().len(), 1);

    // Another connection flows while this one waits.
    send_text(&mut free_client, "free").await;
    assert_eq!(recv_text(&mut free_client).await, "free");

    execute(
        &server,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Edited(Payload::Text("edited".into())),
        },
    )
    .await;
    assert_eq!(recv_text(&mut held_client).await, "edited");
    assert_eq!(recv_text(&mut held_client).await, "after");
    // The handler saw the edited text: that is what the bus (and a
    // recording) says came in.
    server
        .wait_for("the edited message in", |event| {
            matches!(event, Event::FrameIn { payload: Payload::Text(text), .. } if text.as_str() == "edited")
        })
        .await;
    assert!(server.engine.held_frames().is_empty());
}

#[tokio::test]
async fn a_held_reply_is_dropped_and_the_next_one_arrives() {
    let mut server = echo_server().await;
    execute(
        &server,
        Command::SetBreakpoints(vec![rule(Some(FrameDirection::Out), "secret")]),
    )
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "a secret").await;
    send_text(&mut client, "public").await;
    let (hold_id, _) = next_hold(&mut server).await;
    execute(
        &server,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Drop,
        },
    )
    .await;
    assert_eq!(recv_text(&mut client).await, "public");
    let released = server
        .wait_for("the release", |event| {
            matches!(event, Event::FrameReleased { .. })
        })
        .await;
    assert!(matches!(
        released.as_ref(),
        Event::FrameReleased {
            decision: HoldDecision::Drop,
            is_timeout: false,
            ..
        }
    ));
}

#[tokio::test]
async fn undecided_messages_are_forwarded_at_the_timeout_and_forward_all_releases_everyone() {
    let mut server = echo_server().await;
    execute(
        &server,
        Command::SetHoldSettings(HoldSettings {
            timeout: Duration::from_millis(50),
            on_timeout: OnTimeout::Forward,
        }),
    )
    .await;
    execute(&server, Command::SetBreakpoints(vec![rule(None, "wait")])).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "wait for it").await;
    // Held in, then (the echo) held out: each forwarded by the timeout.
    assert_eq!(recv_text(&mut client).await, "wait for it");
    server
        .wait_for("a timed-out release", |event| {
            matches!(
                event,
                Event::FrameReleased {
                    decision: HoldDecision::Forward,
                    is_timeout: true,
                    ..
                }
            )
        })
        .await;

    execute(
        &server,
        Command::SetHoldSettings(HoldSettings {
            timeout: Duration::from_secs(600),
            on_timeout: OnTimeout::Drop,
        }),
    )
    .await;
    let mut first = server.connect("/").await;
    let mut second = server.connect("/").await;
    send_text(&mut first, "wait one").await;
    send_text(&mut second, "wait two").await;
    next_hold(&mut server).await;
    next_hold(&mut server).await;
    execute(&server, Command::SetBreakpoints(Vec::new())).await;
    execute(&server, Command::ForwardAllHeld).await;
    assert_eq!(recv_text(&mut first).await, "wait one");
    assert_eq!(recv_text(&mut second).await, "wait two");
}

#[tokio::test]
async fn a_proxied_message_is_held_and_edited_before_the_target_sees_it() {
    let Some(target) = crate::proxy::PythonTarget::start(&[]) else {
        return;
    };
    let mut proxy = crate::proxy::proxy_to(&target.url()).await;
    execute(
        &proxy,
        Command::SetBreakpoints(vec![rule(Some(FrameDirection::In), "price")]),
    )
    .await;
    let mut client = proxy.connect("/echo").await;
    send_text(&mut client, r#"{"price": 10}"#).await;
    send_text(&mut client, "behind").await;
    let (hold_id, _) = next_hold(&mut proxy).await;
    execute(
        &proxy,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Edited(Payload::Text(r#"{"price": 1}"#.into())),
        },
    )
    .await;
    // The target echoes what it got: the edit, then the frame behind it.
    assert_eq!(recv_text(&mut client).await, r#"{"price": 1}"#);
    assert_eq!(recv_text(&mut client).await, "behind");
}

#[tokio::test]
async fn a_target_that_sends_past_the_queue_behind_a_held_frame_waits_for_the_decision() {
    let Some(target) = crate::proxy::PythonTarget::start(&[]) else {
        return;
    };
    let target_config = sockscope::proxy::ProxyConfig::new(&target.url()).expect("a valid target");
    let mut proxy = crate::proxy::proxy_configured(target_config, |config| {
        config.server.limits.outbound_queue_bytes = 16 * 1024;
    })
    .await;
    execute(
        &proxy,
        Command::SetBreakpoints(vec![rule(Some(FrameDirection::Out), "0:")]),
    )
    .await;
    let mut client = proxy.connect("/flood").await;
    // 300 × 4 KiB: the first is held, the queue behind it fills at once.
    send_text(&mut client, "300").await;
    let (hold_id, _) = next_hold(&mut proxy).await;
    // Longer than a client may take nothing: a hold is not the client's doing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    execute(&proxy, Command::SetBreakpoints(Vec::new())).await;
    execute(
        &proxy,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Forward,
        },
    )
    .await;
    for expected in 0..300 {
        let text = recv_text(&mut client).await;
        assert_eq!(text.split(':').next(), Some(expected.to_string().as_str()));
    }
    assert_eq!(recv_text(&mut client).await, "done");
}

/// The hold is the engine's, so it works the same in front of a service run
/// by its own toolchain: echo.js under `node` with the real `@nitric/sdk`.
#[tokio::test]
async fn in_the_real_runtime_lane_a_held_message_is_edited_and_a_held_reply_dropped() {
    let Some(node_modules) = crate::nitric::node_modules() else {
        return;
    };
    let echo = std::fs::read_to_string(example_path("echo.js")).expect("read echo.js");
    let dir = crate::nitric::project(&[("handler.mjs", &echo)], Some(&node_modules));
    let config = crate::nitric::services_config(dir.path(), &["node handler.mjs"]);
    let mut server = TestServer::launch(dir, config).await;
    execute(
        &server,
        Command::SetBreakpoints(vec![
            rule(Some(FrameDirection::In), "hold me"),
            rule(Some(FrameDirection::Out), "secret"),
        ]),
    )
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "hold me").await;
    send_text(&mut client, "after").await;
    let (hold_id, payload) = next_hold(&mut server).await;
    assert_eq!(payload, Payload::Text("hold me".into()));
    execute(
        &server,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Edited(Payload::Text("edited".into())),
        },
    )
    .await;
    // The service echoed what it was given: the edited text, then the rest.
    assert_eq!(recv_text(&mut client).await, "edited");
    assert_eq!(recv_text(&mut client).await, "after");

    send_text(&mut client, "a secret").await;
    send_text(&mut client, "public").await;
    let (hold_id, payload) = next_hold(&mut server).await;
    assert_eq!(payload, Payload::Text("a secret".into()));
    execute(
        &server,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Drop,
        },
    )
    .await;
    assert_eq!(recv_text(&mut client).await, "public");
}

/// A reply held at a breakpoint keeps its connection's queue from draining:
/// what the handler sends behind it past the queue limit is refused with
/// its reason (the client is not to blame), not closed with 1008 as a client
/// that does not read.
#[tokio::test]
async fn replies_behind_a_held_one_past_the_queue_limit_are_refused_and_the_connection_stays() {
    let mut server = TestServer::start_with(
        &crate::util::script(
            "const socket = websocket('s');
let sent = 0;
let refused = 0;
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  if (ctx.req.text() === 'count') {
    await socket.send(id, `refused ${refused}`);
    return;
  }
  const n = sent++;
  await socket.send(id, `${n} ${'x'.repeat(1000)}`).catch((e) => { refused += 1; console.warn(e.message.split('\\n')[0]); });
  console.log(`attempted ${n}`);
});",
        ),
        |config| config.server.limits.outbound_queue_bytes = 4096,
    )
    .await;
    execute(
        &server,
        Command::SetBreakpoints(vec![rule(Some(FrameDirection::Out), "0 x")]),
    )
    .await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "go").await;
    let (hold_id, _) = next_hold(&mut server).await;
    for _ in 1..8 {
        send_text(&mut client, "go").await;
    }
    server
        .wait_for("a refused send", |event| {
            matches!(event, Event::Log { message, .. } if message.contains("behind a message held at a breakpoint"))
        })
        .await;
    // Every reply was tried while the first one was held.
    server
        .wait_for(
            "the last reply tried",
            |event| matches!(event, Event::Log { message, .. } if message == "attempted 7"),
        )
        .await;
    execute(&server, Command::SetBreakpoints(Vec::new())).await;
    execute(
        &server,
        Command::ResolveHold {
            hold_id,
            decision: HoldDecision::Forward,
        },
    )
    .await;
    send_text(&mut client, "count").await;
    let mut replies = Vec::new();
    let refused = loop {
        let text = recv_text(&mut client).await;
        if let Some(count) = text.strip_prefix("refused ") {
            break count.parse::<usize>().expect("a count");
        }
        replies.push(text.split(' ').next().unwrap_or_default().to_owned());
    };
    // The held reply and those that fitted came in order, the rest were
    // refused, and the connection is still open and serving.
    assert!(refused >= 1, "some replies were refused");
    assert_eq!(replies.len() + refused, 8, "{replies:?}");
    let expected: Vec<String> = (0..replies.len()).map(|n| n.to_string()).collect();
    assert_eq!(replies, expected);
}
