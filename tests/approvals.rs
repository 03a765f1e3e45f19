//! Held connections ("Hold new connections"): before the connect handler
//! runs (the default) or after it accepted, decided by the user, by Accept
//! all, by turning holding off or by the timeout, and clients that leave
//! while they wait — in the embedded lane and the proxy lane.

use std::time::Duration;

use sockscope::core::events::{
    ApprovalDecider, ApprovalDecision, ApprovalOutcome, ApprovalStage, ConnectionId, Event,
};
use sockscope::engine::command::Command;

use crate::util::{TestServer, recv_json, recv_text, script, send_text};

/// Counts connects per name and disconnects per connection id in kv
/// (`trace`), refuses a connect without `?name=`, and echoes.
const TRACED: &str = "const socket = websocket('s');
const trace = kv('trace').allow('get', 'set');
const bump = async (key) => {
  let count = 0;
  try { count = (await trace.get(key)).count; } catch (e) { if (!isNotFound(e)) throw e; }
  await trace.set(key, { count: count + 1 });
};
socket.on('connect', async (ctx) => {
  const name = (ctx.req.query.name || [''])[0];
  if (!name) { ctx.res.success = false; return; }
  await bump('connect:' + name);
});
socket.on('disconnect', async (ctx) => { await bump('disconnect:' + ctx.req.connectionId); });
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'echo:' + ctx.req.text()));";

type PendingConnect = tokio::task::JoinHandle<
    Result<
        (
            crate::util::Client,
            tokio_tungstenite::tungstenite::handshake::client::Response,
        ),
        tokio_tungstenite::tungstenite::Error,
    >,
>;

/// Starts a client connecting to `path_and_query` while connections are held,
/// and waits until it is held; returns the pending connect and its id.
async fn connect_held(
    server: &mut TestServer,
    path_and_query: &str,
) -> (PendingConnect, ConnectionId) {
    let url = server.url(path_and_query);
    let connecting = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    let held = server
        .wait_for(path_and_query, |event| {
            matches!(event, Event::ApprovalPending { .. })
        })
        .await;
    let Event::ApprovalPending { pending } = held.as_ref() else {
        unreachable!()
    };
    (connecting, pending.connection_id)
}

/// Waits for the end of `connection_id`'s wait; returns what it says.
async fn resolution_of(server: &mut TestServer, connection_id: ConnectionId) -> String {
    resolutions_of(server, &[connection_id]).await.remove(0)
}

/// Waits for the ends of these waits, in whatever order they come; returns
/// what each says, in the order of `connection_ids`.
async fn resolutions_of(server: &mut TestServer, connection_ids: &[ConnectionId]) -> Vec<String> {
    let mut said = vec![None; connection_ids.len()];
    while said.iter().any(Option::is_none) {
        let resolved = server
            .wait_for("the approvals' resolutions", |event| {
                matches!(event, Event::ApprovalResolved { .. })
            })
            .await;
        let Event::ApprovalResolved {
            pending,
            resolution,
            ..
        } = resolved.as_ref()
        else {
            unreachable!()
        };
        if let Some(index) = connection_ids
            .iter()
            .position(|id| *id == pending.connection_id)
        {
            said[index] = Some(resolution.to_string());
        }
    }
    said.into_iter().flatten().collect()
}

async fn refusal_status(connecting: PendingConnect) -> u16 {
    match connecting.await.expect("join") {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Ok(_) => panic!("expected a refusal, got an upgrade"),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn execute(server: &TestServer, command: Command) {
    server
        .engine
        .execute(command)
        .await
        .expect("the command is carried out");
}

/// Connects a client with holding off and waits for its connect handler to
/// finish: everything the script thread was given before has run by then.
async fn probe(server: &mut TestServer) {
    execute(server, Command::SetHoldConnections(false)).await;
    let _client = server.connect("/?name=probe").await;
    server.wait_for_kv("trace", "connect:probe", |_| true).await;
}

fn count(server: &TestServer, key: &str) -> Option<u64> {
    server
        .kv_json("trace", key)
        .and_then(|value| value["count"].as_u64())
}

#[tokio::test]
async fn held_before_the_connect_handler_a_denied_client_leaves_no_trace() {
    let mut server = TestServer::start(&script(TRACED)).await;
    assert_eq!(
        server.engine.approval_stage(),
        ApprovalStage::BeforeConnectHandler,
        "the default"
    );
    execute(&server, Command::SetHoldConnections(true)).await;
    let (denied, denied_id) = connect_held(&mut server, "/?name=ann").await;
    let pending = server.engine.pending_approvals();
    assert_eq!(pending[0].stage, ApprovalStage::BeforeConnectHandler);
    assert_eq!(count(&server, "connect:ann"), None, "the handler waits too");
    execute(
        &server,
        Command::ResolveApproval {
            connection_id: denied_id,
            decision: ApprovalDecision::Deny("not today".into()),
        },
    )
    .await;
    assert_eq!(refusal_status(denied).await, 401);

    // Accepted, the connect handler runs as usual: it may still refuse...
    let (refused, refused_id) = connect_held(&mut server, "/?nobody").await;
    execute(
        &server,
        Command::ResolveApproval {
            connection_id: refused_id,
            decision: ApprovalDecision::Accept,
        },
    )
    .await;
    assert_eq!(
        refusal_status(refused).await,
        500,
        "as nitric start refuses"
    );
    // ...or accept.
    let (accepted, accepted_id) = connect_held(&mut server, "/?name=bob").await;
    execute(
        &server,
        Command::ResolveApproval {
            connection_id: accepted_id,
            decision: ApprovalDecision::Accept,
        },
    )
    .await;
    let (mut bob, _) = accepted.await.expect("join").expect("bob upgrades");
    send_text(&mut bob, "hi").await;
    assert_eq!(recv_text(&mut bob).await, "echo:hi");
    assert_eq!(count(&server, "connect:bob"), Some(1));

    probe(&mut server).await;
    assert_eq!(
        count(&server, "connect:ann"),
        None,
        "ann's handler never ran"
    );
    assert_eq!(
        count(&server, &format!("disconnect:{denied_id}")),
        None,
        "no disconnect is owed to a connection no handler accepted"
    );
}

#[tokio::test]
async fn held_after_the_connect_handler_a_deny_runs_the_disconnect_chain_once() {
    let mut server = TestServer::start(&script(TRACED)).await;
    execute(
        &server,
        Command::SetApprovalStage(ApprovalStage::AfterConnectHandler),
    )
    .await;
    execute(&server, Command::SetHoldConnections(true)).await;
    let (denied, denied_id) = connect_held(&mut server, "/?name=ann").await;
    assert_eq!(
        server.engine.pending_approvals()[0].stage,
        ApprovalStage::AfterConnectHandler
    );
    assert_eq!(
        count(&server, "connect:ann"),
        Some(1),
        "the handler ran first"
    );
    execute(
        &server,
        Command::ResolveApproval {
            connection_id: denied_id,
            decision: ApprovalDecision::Deny("not today".into()),
        },
    )
    .await;
    assert_eq!(refusal_status(denied).await, 401);
    let disconnect = format!("disconnect:{denied_id}");
    server.wait_for_kv("trace", &disconnect, |_| true).await;
    probe(&mut server).await;
    assert_eq!(count(&server, &disconnect), Some(1));
}

#[tokio::test]
async fn a_client_that_leaves_while_held_is_resolved_and_owed_a_disconnect_only_after_the_handler()
{
    let mut server = TestServer::start(&script(TRACED)).await;
    execute(&server, Command::SetHoldConnections(true)).await;

    // Before the handler: nothing ran, so nothing is owed.
    let (leaving, before_id) = connect_held(&mut server, "/?name=ann").await;
    leaving.abort();
    assert_eq!(
        resolution_of(&mut server, before_id).await,
        "client left while held"
    );
    assert!(server.engine.pending_approvals().is_empty());

    // After the handler accepted: its disconnect chain runs, once.
    execute(
        &server,
        Command::SetApprovalStage(ApprovalStage::AfterConnectHandler),
    )
    .await;
    let (leaving, after_id) = connect_held(&mut server, "/?name=bob").await;
    assert_eq!(count(&server, "connect:bob"), Some(1));
    leaving.abort();
    assert_eq!(
        resolution_of(&mut server, after_id).await,
        "client left while held"
    );
    assert!(server.engine.pending_approvals().is_empty());
    let disconnect = format!("disconnect:{after_id}");
    server.wait_for_kv("trace", &disconnect, |_| true).await;
    let error = server
        .engine
        .execute(Command::ResolveApproval {
            connection_id: after_id,
            decision: ApprovalDecision::Accept,
        })
        .await
        .expect_err("nobody waits any more");
    assert!(error.to_string().contains("left"), "{error}");

    probe(&mut server).await;
    assert_eq!(count(&server, &disconnect), Some(1), "exactly once");
    assert_eq!(count(&server, "connect:ann"), None);
    assert_eq!(count(&server, &format!("disconnect:{before_id}")), None);
}

#[tokio::test]
async fn every_decision_says_who_made_it() {
    let mut server = TestServer::start(&script(TRACED)).await;
    execute(&server, Command::SetHoldConnections(true)).await;

    let (first, first_id) = connect_held(&mut server, "/?name=a").await;
    let (second, second_id) = connect_held(&mut server, "/?name=b").await;
    execute(&server, Command::AcceptAllApprovals).await;
    assert_eq!(
        resolutions_of(&mut server, &[first_id, second_id]).await,
        ["accepted by Accept all", "accepted by Accept all"]
    );
    for connecting in [first, second] {
        connecting.await.expect("join").expect("upgraded");
    }

    let (third, third_id) = connect_held(&mut server, "/?name=c").await;
    execute(&server, Command::SetHoldConnections(false)).await;
    assert_eq!(
        resolution_of(&mut server, third_id).await,
        "accepted by holding off"
    );
    third.await.expect("join").expect("upgraded");

    execute(&server, Command::SetHoldConnections(true)).await;
    let (fourth, fourth_id) = connect_held(&mut server, "/?name=d").await;
    execute(
        &server,
        Command::ResolveApproval {
            connection_id: fourth_id,
            decision: ApprovalDecision::Deny("not you".into()),
        },
    )
    .await;
    assert_eq!(
        resolution_of(&mut server, fourth_id).await,
        "denied by you: not you"
    );
    assert_eq!(refusal_status(fourth).await, 401);

    execute(
        &server,
        Command::SetApprovalTimeout(Duration::from_millis(100)),
    )
    .await;
    let (fifth, fifth_id) = connect_held(&mut server, "/?name=e").await;
    let resolved = server
        .wait_for("the timeout", |event| {
            matches!(event, Event::ApprovalResolved { pending, .. } if pending.connection_id == fifth_id)
        })
        .await;
    let Event::ApprovalResolved { resolution, .. } = resolved.as_ref() else {
        unreachable!()
    };
    assert_eq!(resolution.by, ApprovalDecider::Timeout);
    assert!(matches!(resolution.outcome, ApprovalOutcome::Denied(_)));
    assert_eq!(
        resolution.to_string(),
        "denied by timeout: no approval decision within 0.1 s"
    );
    assert_eq!(refusal_status(fifth).await, 401);
}

#[tokio::test]
async fn a_send_to_an_accepted_connection_before_its_upgrade_fails_as_in_nitric() {
    let mut server = TestServer::start(&script(
        "const socket = websocket('s');
         const members = kv('members').allow('get', 'set');
         const failures = kv('failures').allow('set');
         socket.on('connect', async (ctx) => {
           for await (const id of members.keys()) {
             try {
               await socket.send(id, 'joined:' + ctx.req.query.name[0]);
             } catch (e) {
               await failures.set(ctx.req.connectionId, { to: id, error: e.message.split('\\n')[0] });
             }
           }
           await members.set(ctx.req.connectionId, {});
         });
         socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'echo:' + ctx.req.text()));",
    ))
    .await;
    // Held after their connect handlers accepted them, and not upgraded yet.
    execute(
        &server,
        Command::SetApprovalStage(ApprovalStage::AfterConnectHandler),
    )
    .await;
    execute(&server, Command::SetHoldConnections(true)).await;
    let (ann, ann_id) = connect_held(&mut server, "/?name=ann").await;

    // Bob's connect handler sends to ann, who is accepted but not upgraded
    // yet: Nitric registers a connection only after its upgrade.
    let (bob, bob_id) = connect_held(&mut server, "/?name=bob").await;

    for connection_id in [ann_id, bob_id] {
        server
            .engine
            .execute(Command::ResolveApproval {
                connection_id,
                decision: ApprovalDecision::Accept,
            })
            .await
            .expect("accept");
    }
    let (mut ann, _) = ann.await.expect("join").expect("ann upgraded");
    bob.await.expect("join").expect("bob upgraded");
    let failure = server
        .wait_for_kv("failures", &bob_id.to_string(), |_| true)
        .await;
    assert_eq!(
        failure,
        serde_json::json!({
            "to": ann_id.to_string(),
            "error": format!("2 UNKNOWN: could not get connection {ann_id}"),
        })
    );
    // Nothing was queued for ann: the first frame she gets is her own echo.
    send_text(&mut ann, "hi").await;
    assert_eq!(recv_text(&mut ann).await, "echo:hi");
}

#[tokio::test]
async fn held_connections_can_be_denied_and_time_out() {
    let mut server = TestServer::start_with(
        &script("websocket('s').on('connect', () => {});"),
        |config| {
            config.server.limits.approval_timeout = Duration::from_millis(300);
        },
    )
    .await;
    server
        .engine
        .execute(Command::SetHoldConnections(true))
        .await
        .expect("hold");
    let (denied, denied_id) = connect_held(&mut server, "/").await;
    server
        .engine
        .execute(Command::ResolveApproval {
            connection_id: denied_id,
            decision: ApprovalDecision::Deny("not today".into()),
        })
        .await
        .expect("deny");
    match denied.await.expect("join") {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // Nobody decides: denied after the timeout (changed while running).
    server
        .engine
        .execute(Command::SetApprovalTimeout(Duration::from_millis(150)))
        .await
        .expect("set timeout");
    assert_eq!(server.engine.approval_timeout(), Duration::from_millis(150));
    assert_eq!(server.refused_status("/").await, 401);
    assert!(server.engine.pending_approvals().is_empty());
}

#[tokio::test]
async fn in_the_proxy_lane_a_client_leaving_while_held_after_connect_closes_its_target_connection()
{
    let Some(target) = crate::proxy::PythonTarget::start(&[]) else {
        return;
    };
    let mut server = crate::proxy::proxy_to(&target.url()).await;
    execute(
        &server,
        Command::SetApprovalStage(ApprovalStage::AfterConnectHandler),
    )
    .await;
    execute(&server, Command::SetHoldConnections(true)).await;
    // The proxy's connect opened the target's connection before the hold.
    let (leaving, connection_id) = connect_held(&mut server, "/echo").await;
    leaving.abort();
    assert_eq!(
        resolution_of(&mut server, connection_id).await,
        "client left while held"
    );
    execute(&server, Command::SetHoldConnections(false)).await;
    // The target says how its last connection ended, once one has.
    let deadline = tokio::time::Instant::now() + crate::util::WAIT;
    loop {
        let mut client = server.connect("/lastclose").await;
        let last = recv_json(&mut client).await;
        if !last["code"].is_null() {
            assert_eq!(
                last,
                serde_json::json!({"code": 1001, "reason": "client went away"})
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the target's connection of the client that left stays open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
