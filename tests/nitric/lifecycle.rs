//! The real lane's life: services that also declare what sockscope does not
//! serve, topics, permissions as deployed, concurrency as in Node, a
//! service killed mid-session, bad gRPC input, and `serve --project`.

use std::time::{Duration, Instant};

use sockscope::core::events::Event;
use sockscope::engine::command::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{node_modules, project, services_config};
use crate::util::process::serve;
use crate::util::{TestServer, WAIT, recv_text, send_text};

/// Waits for a log line containing `text`.
async fn wait_for_log(server: &mut TestServer, text: &str) -> String {
    let event = server
        .wait_for(
            text,
            |event| matches!(event, Event::Log { message, .. } if message.contains(text)),
        )
        .await;
    match &*event {
        Event::Log { message, .. } => message.clone(),
        _ => unreachable!("matched a log line"),
    }
}

const EVERYTHING_JS: &str = r#"import { websocket, kv, api, topic, bucket, schedule } from '@nitric/sdk';

const socket = websocket('board');
const notes = kv('notes').allow('get', 'set');
const news = topic('news');
const publisher = news.allow('publish');
api('main').get('/hello', async (ctx) => ctx);
bucket('files').on('write', '*', async (ctx) => ctx);
schedule('tidy').every('5 minutes', async (ctx) => ctx);

news.subscribe(async (ctx) => {
  await notes.set('last', { headline: ctx.req.json().headline });
});

socket.on('connect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  const text = ctx.req.text();
  if (text === 'delete') {
    try {
      await kv('notes').allow('get').delete('last');
    } catch (error) {
      await socket.send(ctx.req.connectionId, `${error.constructor.name}`);
    }
    return;
  }
  await publisher.publish({ headline: text });
  await socket.send(ctx.req.connectionId, 'published');
});
"#;

#[tokio::test]
async fn other_resources_are_held_open_topics_deliver_and_permissions_hold() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("board.mjs", EVERYTHING_JS)], Some(&node_modules));
    let config = services_config(dir.path(), &["node board.mjs"]);
    let mut server = TestServer::launch(dir, config).await;
    // Everything the service declared is listed; what sockscope does not
    // serve says so.
    let deadline = Instant::now() + WAIT;
    let expected = [
        "api main GET /hello (declared, not served)",
        "bucket listener files created * (declared, not served)",
        "schedule tidy every 5 minutes (declared, not served)",
        "kv notes",
        "topic news",
        "subscription news",
        "websocket board",
    ];
    loop {
        let declared = server.engine.services()[1].declared.clone();
        if expected
            .iter()
            .all(|item| declared.iter().any(|known| known == item))
        {
            break;
        }
        assert!(Instant::now() < deadline, "declared: {declared:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = server.connect("/").await;
    send_text(&mut client, "markets up").await;
    assert_eq!(recv_text(&mut client).await, "published");
    let last = server
        .wait_for_kv("notes", "last", |value| value["headline"] == "markets up")
        .await;
    assert_eq!(last["headline"], "markets up");
    // The service declared get and set, not delete: refused as deployed.
    send_text(&mut client, "delete").await;
    assert_eq!(recv_text(&mut client).await, "PermissionDeniedError");
    let denied = wait_for_log(&mut server, "is not permitted").await;
    assert!(
        denied.contains("kv store 'notes': delete") && denied.contains(".allow('delete')"),
        "{denied}"
    );
    // Still running, still serving, a second later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    send_text(&mut client, "still here").await;
    assert_eq!(recv_text(&mut client).await, "published");
}

const COUNTER_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';

const socket = websocket('count');
const counter = kv('counter').allow('get', 'set');

// The read-modify-write of the Nitric docs, with a pause a real handler's
// other work would make: under Node every await lets other handlers run.
socket.on('connect', async (ctx) => {
  let hits = 0;
  try {
    hits = (await counter.get('hits')).hits;
  } catch (_) {}
  await new Promise((resolve) => setTimeout(resolve, 50));
  await counter.set('hits', { hits: hits + 1 });
  return ctx;
});
"#;

#[tokio::test]
async fn handlers_of_different_connections_run_concurrently_and_lose_updates() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("count.mjs", COUNTER_JS)], Some(&node_modules));
    let config = services_config(dir.path(), &["node count.mjs"]);
    let server = TestServer::launch(dir, config).await;
    let connects = (0..30).map(|_| {
        let url = server.url("/");
        tokio::spawn(async move {
            tokio_tungstenite::connect_async(url)
                .await
                .map(|(client, _)| client)
        })
    });
    let clients: Vec<_> = futures_util::future::join_all(connects).await;
    assert!(
        clients.iter().all(|client| matches!(client, Ok(Ok(_)))),
        "every connect accepted"
    );
    let hits = server.kv_json("counter", "hits").expect("a count")["hits"]
        .as_f64()
        .expect("a number");
    assert!(
        hits < 30.0,
        "30 concurrent read-modify-writes kept every update ({hits}): handlers did not interleave"
    );
}

const PID_JS: &str = r#"import { websocket } from '@nitric/sdk';
import { writeFileSync } from 'node:fs';

writeFileSync('service.pid', String(process.pid));
const socket = websocket('echo');
socket.on('connect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.text());
});
"#;

#[tokio::test]
async fn a_killed_service_is_reported_refuses_connects_and_serves_again_after_a_restart() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("echo.mjs", PID_JS)], Some(&node_modules));
    let pid_file = dir.path().join("service.pid");
    let config = services_config(dir.path(), &["exec node echo.mjs"]);
    let mut server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "one").await;
    assert_eq!(recv_text(&mut client).await, "one");

    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the service wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    // SAFETY: a signal to the test's own child process.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let report = wait_for_log(&mut server, "was killed by signal 9").await;
    assert!(report.contains("not restarted"), "{report}");
    // New connects are refused at once with the reason; the open one stays.
    let started = Instant::now();
    let status = loop {
        let status = server.refused_status_or_accepted("/").await;
        if status != 101 {
            break status;
        }
        assert!(
            started.elapsed() < WAIT,
            "connects are still accepted after the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the refusal took {:?}",
        started.elapsed()
    );
    send_text(&mut client, "two").await;
    wait_for_log(&mut server, "not handled").await;

    server
        .engine
        .execute(Command::ReloadScript { source: None })
        .await
        .expect("the service restarts");
    let mut again = loop {
        if server.refused_status_or_accepted("/").await == 101 {
            break server.connect("/").await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    send_text(&mut again, "three").await;
    assert_eq!(recv_text(&mut again).await, "three");
}

#[tokio::test]
async fn bad_grpc_input_gets_a_status_and_the_server_stays_up() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("echo.mjs", PID_JS)], Some(&node_modules));
    let mut config = services_config(dir.path(), &["node echo.mjs"]);
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    if let Some(services) = &mut config.services {
        services.service_address = Some(address);
    }
    let server = TestServer::launch(dir, config).await;
    // Not HTTP/2 at all: the connection is closed, nothing else happens.
    let mut garbage = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the gRPC port");
    garbage
        .write_all(b"GET / HTTP/1.1\r\n\r\nnot a preface")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(WAIT, garbage.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "the server closes a connection that is not HTTP/2"
    );
    // An unknown method, from the SDK's own gRPC library: UNIMPLEMENTED.
    let probe = format!(
        "const grpc = require('@grpc/grpc-js');
const client = new grpc.Client('{address}', grpc.credentials.createInsecure());
client.makeUnaryRequest('/nitric.proto.nothing.v1.Nothing/Call', (x) => x, (x) => x, Buffer.alloc(0), (error) => {{
  console.log(error ? error.code : 'ok');
  process.exit(0);
}});"
    );
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new("node")
            .arg("-e")
            .arg(probe)
            .current_dir(server.dir.path())
            .output(),
    )
    .await
    .expect("the probe ends in time")
    .expect("node runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "12",
        "{output:?}"
    );
    let mut client = server.connect("/").await;
    send_text(&mut client, "alive").await;
    assert_eq!(recv_text(&mut client).await, "alive");
}

#[tokio::test]
async fn serve_project_runs_every_service_its_nitric_yaml_matches() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let nitric_yaml =
        "name: two\nservices:\n  - match: services/*.mjs\n    start: node $SERVICE_PATH\n";
    let first = PID_JS.replace("service.pid", "first.pid");
    let second = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('shout');
socket.on('connect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.text().toUpperCase());
});
"#;
    let dir = project(
        &[
            ("nitric.yaml", nitric_yaml),
            ("services/echo.mjs", &first),
            ("services/shout.mjs", second),
        ],
        Some(&node_modules),
    );
    let serving = serve(
        &[
            "--project",
            &dir.path().display().to_string(),
            "--port",
            "0",
            "--service-address",
            "127.0.0.1:0",
            "--kv",
            ":memory:",
        ],
        dir.path(),
    );
    // One line per socket; the first announces the first socket.
    let url = serving.url.split(' ').next().expect("a URL").to_owned();
    assert!(serving.url.contains("(socket "), "{}", serving.url);
    let (mut client, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    send_text(&mut client, "hey").await;
    let reply = recv_text(&mut client).await;
    assert!(reply == "hey" || reply == "HEY", "{reply}");
}

#[tokio::test]
async fn a_service_that_cannot_start_is_one_clear_error() {
    let dir = project(&[], None);
    let output = crate::util::process::sockscope()
        .args([
            "serve",
            "--run",
            "no-such-command-here",
            "--port",
            "0",
            "--service-address",
            "127.0.0.1:0",
            "--kv",
            ":memory:",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run sockscope");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("service no-such-command-here (no-such-command-here) exited with code 127 before registering a websocket handler"),
        "{stderr}"
    );
    assert!(stderr.contains("not found"), "{stderr}");
}

/// A session recorded against an echo: a refusal, then two messages back.
const ECHO_SESSION: &str = r#"{"format":"sockscope.session","version":1,"created":"2026-12-01T00:00:00Z","source":"recorded"}
{"t":0,"conn":"c1","ev":"connect","path":"/","query":{"deny":["1"]}}
{"t":0,"conn":"c1","ev":"rejected","status":500}
{"t":1,"conn":"c2","ev":"connect","path":"/","query":{}}
{"t":1,"conn":"c2","ev":"accepted","id":"342feabe-a2b0-4ee0-b0a6-172debedd677"}
{"t":2,"conn":"c2","ev":"send","text":"hello"}
{"t":3,"conn":"c2","ev":"recv","text":"hello"}
{"t":4,"conn":"c2","ev":"send","text":"again"}
{"t":5,"conn":"c2","ev":"recv","text":"again"}
{"t":6,"conn":"c2","ev":"close","code":1000,"by":"client"}
"#;

const ECHO_OR_DENY_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('echo');
socket.on('connect', async (ctx) => {
  ctx.res.success = !ctx.req.query.deny;
  return ctx;
});
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.text()TRANSFORM);
});
"#;

#[test]
fn replay_runs_a_session_against_the_real_service_and_names_a_change() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let same = ECHO_OR_DENY_JS.replace("TRANSFORM", "");
    let changed = ECHO_OR_DENY_JS.replace("TRANSFORM", ".toUpperCase()");
    let dir = project(
        &[
            ("echo.mjs", &same),
            ("shout.mjs", &changed),
            ("echo.jsonl", ECHO_SESSION),
        ],
        Some(&node_modules),
    );
    let replay = |command: &str| {
        crate::util::process::sockscope()
            .args(["replay", "echo.jsonl", "--run", command])
            .current_dir(dir.path())
            .output()
            .expect("run sockscope replay")
    };
    let passed = replay("node echo.mjs");
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr)
    );
    let failed = replay("node shout.mjs");
    assert_eq!(failed.status.code(), Some(1));
    let report = String::from_utf8_lossy(&failed.stdout);
    assert!(report.contains("HELLO"), "{report}");
}

#[test]
fn stopping_sockscope_stops_its_services() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("echo.mjs", PID_JS)], Some(&node_modules));
    let mut serving = serve(
        &[
            "--run",
            "node echo.mjs",
            "--port",
            "0",
            "--service-address",
            "127.0.0.1:0",
            "--kv",
            ":memory:",
        ],
        dir.path(),
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("service.pid"))
        .expect("the service wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    let sockscope = i32::try_from(serving.child.id()).expect("a pid");
    // SAFETY: signals to the test's own child processes.
    unsafe {
        libc::kill(sockscope, libc::SIGTERM);
    }
    let status = serving.child.wait().expect("sockscope exits");
    assert_eq!(status.code(), Some(0));
    let gone = |pid: i32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + WAIT;
    while !gone(pid) {
        assert!(Instant::now() < deadline, "the service outlived sockscope");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn one_service_can_be_stopped_and_restarted_by_name() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("echo.mjs", PID_JS)], Some(&node_modules));
    let config = services_config(dir.path(), &["node echo.mjs"]);
    let server = TestServer::launch(dir, config).await;
    let name = "node echo.mjs".to_owned();
    server
        .engine
        .execute(Command::StopService { name: name.clone() })
        .await
        .expect("the service stops");
    assert_eq!(server.engine.services()[1].state, "stopped");
    let started = Instant::now();
    while server.refused_status_or_accepted("/").await != 503 {
        assert!(
            started.elapsed() < WAIT,
            "a stopped service still takes connects"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unknown = server
        .engine
        .execute(Command::RestartService {
            name: "nothing like it".to_owned(),
        })
        .await
        .expect_err("no such service");
    assert!(
        unknown
            .to_string()
            .contains("no service named nothing like it"),
        "{unknown}"
    );
    server
        .engine
        .execute(Command::RestartService { name })
        .await
        .expect("the service restarts");
    while server.refused_status_or_accepted("/").await != 101 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.engine.services()[1].restarts, 1);
}

#[test]
fn a_service_that_never_registers_is_named_after_the_startup_timeout() {
    let dir = project(&[], None);
    let started = Instant::now();
    let mut serving = serve(
        &[
            "--run",
            "sleep 30",
            "--startup-timeout",
            "1",
            "--port",
            "0",
            "--service-address",
            "127.0.0.1:0",
            "--kv",
            ":memory:",
        ],
        dir.path(),
    );
    // The server goes on without it, after the timeout.
    assert!(
        serving.url.starts_with("ws://127.0.0.1:"),
        "{}",
        serving.url
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let _ = serving.child.kill();
    let _ = serving.child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = serving.child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(
        stderr.contains("these services have registered no websocket handler: sleep 30"),
        "{stderr}"
    );
}
