//! Sessions: record real traffic, replay it against real engines, compare.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope::engine::EngineHandle;
use sockscope::engine::config::{EngineConfig, KvLocation};
use sockscope::engine::events::Event;
use sockscope::session::format::{Frame, IgnoreRule, SessionEvent};
use sockscope::session::replay::{ReplayOptions, Timing, replay_session};
use sockscope::session::{Header, Recorder, ReplayReport, Session, read_session, script_reference};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::{Client, TestServer, recv, recv_json, send_text};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/examples")
        .join(name)
}

fn sockscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = sockscope().args(args).output().expect("run sockscope");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Closes from the client side with 1000 and reads until the server's reply.
async fn close(mut client: Client) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    client
        .send(Message::Close(Some(frame)))
        .await
        .expect("close");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(crate::util::WAIT, client.next()).await {}
}

/// Starts `script` on a server, records what `drive` does, returns the file.
async fn record<F, Fut>(script: &Path, session_path: &Path, closes: usize, drive: F) -> Session
where
    F: FnOnce(EngineHandle) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let source = std::fs::read_to_string(script).expect("script");
    let mut server = TestServer::start(&source).await;
    std::fs::File::create(session_path).expect("create session");
    let mut header = Header::new("recorded");
    header.script = Some(script_reference(session_path, script));
    let recording = Recorder::start(&server.engine, session_path, header).expect("record");
    drive(server.engine.clone()).await;
    for _ in 0..closes {
        server
            .wait_for("a close", |event| {
                matches!(event, Event::ConnectionClosed { .. })
            })
            .await;
    }
    let status = recording.stop().await;
    assert_eq!(status.failure, None);
    read_session(session_path).expect("recorded session reads back")
}

async fn connect(engine: &EngineHandle, path_and_query: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("{}{path_and_query}", engine.url()))
        .await
        .expect("connect");
    client
}

/// ann and bob chat; bob leaves first.
async fn record_chat(session_path: &Path) -> Session {
    record(&example("chat.js"), session_path, 2, |engine| async move {
        let mut ann = connect(&engine, "/?name=ann").await;
        let mut bob = connect(&engine, "/?name=bob").await;
        assert_eq!(recv_json(&mut ann).await["name"], "bob");
        send_text(&mut ann, "hi bob").await;
        assert_eq!(recv_json(&mut ann).await["text"], "hi bob");
        assert_eq!(recv_json(&mut bob).await["text"], "hi bob");
        send_text(&mut bob, "hello ann").await;
        assert_eq!(recv_json(&mut ann).await["text"], "hello ann");
        assert_eq!(recv_json(&mut bob).await["text"], "hello ann");
        close(bob).await;
        assert_eq!(recv_json(&mut ann).await["type"], "left");
        close(ann).await;
    })
    .await
}

async fn record_echo(session_path: &Path) -> Session {
    record(&example("echo.js"), session_path, 1, |engine| async move {
        let mut client = connect(&engine, "/echo?mode=test").await;
        send_text(&mut client, "hello").await;
        assert_eq!(recv(&mut client).await, Message::text("hello"));
        client
            .send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .expect("send binary");
        assert_eq!(
            recv(&mut client).await,
            Message::binary(vec![0u8, 1, 2, 255])
        );
        send_text(&mut client, r#"{"n":1,"tags":["a"]}"#).await;
        recv(&mut client).await;
        close(client).await;
    })
    .await
}

async fn record_denied(session_path: &Path) -> Session {
    record(&example("chat.js"), session_path, 0, |engine| async move {
        let url = format!("{}/", engine.url());
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401)
            }
            _ => panic!("chat without ?name= must be refused"),
        }
        // The refusal is published after the response; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await
}

async fn start_engine(script: &Path) -> EngineHandle {
    let mut config = EngineConfig::new(script);
    config.port = 0;
    config.kv = KvLocation::Memory;
    EngineHandle::start(config).await.expect("engine")
}

async fn replay_against(script: &Path, session: &Session, timing: Timing) -> ReplayReport {
    let engine = start_engine(script).await;
    let mut options = ReplayOptions::new(engine.url());
    options.timing = timing;
    let report = replay_session(session, &options, |_| {})
        .await
        .expect("replay runs");
    engine.shutdown().await;
    report
}

#[tokio::test]
async fn a_recorded_chat_replays_and_a_changed_script_names_the_first_divergence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record_chat(&dir.path().join("chat.jsonl")).await;
    let kinds: Vec<&str> = session
        .lines
        .iter()
        .map(|line| match line.event {
            SessionEvent::Connect { .. } => "connect",
            SessionEvent::Accepted { .. } => "accepted",
            SessionEvent::Rejected { .. } => "rejected",
            SessionEvent::Send(_) => "send",
            SessionEvent::Recv(_) => "recv",
            SessionEvent::Close { .. } => "close",
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|kind| **kind == "recv").count(),
        6,
        "{kinds:?}"
    );
    assert_eq!(session.connection_labels(), vec!["c1", "c2"]);

    let report = replay_against(&example("chat.js"), &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
    assert_eq!(report.connections.len(), 2);

    let changed = dir.path().join("shouting.js");
    let source = std::fs::read_to_string(example("chat.js")).expect("chat.js");
    let shouting = source.replace("text: ctx.req.text()", "text: ctx.req.text().toUpperCase()");
    assert_ne!(source, shouting);
    std::fs::write(&changed, shouting).expect("write");
    let report = replay_against(&changed, &session, Timing::Fast).await;
    let divergence = report.divergence.expect("the shouting script diverges");
    // "hi bob" was delivered to both; whoever got it first in the recording
    // (ties broken by label) diverges first. ann (c1) had one message
    // before it, bob (c2) none.
    let first_hi = session
        .lines
        .iter()
        .filter(|line| {
            matches!(&line.event, SessionEvent::Recv(Frame::Text(text)) if text.contains("hi bob"))
        })
        .min_by_key(|line| (line.t, line.conn.clone()))
        .expect("hi bob recorded");
    assert_eq!(divergence.conn, first_hi.conn);
    let expected_index = if first_hi.conn == "c1" { 1 } else { 0 };
    assert_eq!(divergence.message_index, Some(expected_index));
    assert_eq!(
        divergence.expected.as_deref(),
        Some(r#"{"type":"message","from":"ann","text":"hi bob"}"#)
    );
    assert_eq!(
        divergence.actual.as_deref(),
        Some(r#"{"type":"message","from":"ann","text":"HI BOB"}"#)
    );
    assert_eq!(divergence.json_path.as_deref(), Some("$.text"));
    println!("first divergence: {divergence}");
}

#[tokio::test]
async fn recorded_connection_ids_are_mapped_to_the_new_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("whoami.js");
    std::fs::write(
        &script,
        crate::util::script(
            "const socket = websocket('s');\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             { you: ctx.req.connectionId, said: `${ctx.req.connectionId}: ${ctx.req.text()}` }));",
        ),
    )
    .expect("write");
    let session = record(
        &script,
        &dir.path().join("ids.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            send_text(&mut client, "one").await;
            recv(&mut client).await;
            send_text(&mut client, "two").await;
            recv(&mut client).await;
            close(client).await;
        },
    )
    .await;
    let report = replay_against(&script, &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
    assert_eq!(report.id_mappings.len(), 1, "{:?}", report.id_mappings);
    let (recorded, replayed) = &report.id_mappings[0];
    assert_ne!(recorded, replayed);
}

#[tokio::test]
async fn a_volatile_timestamp_passes_only_with_its_ignore_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("stamped.js");
    std::fs::write(
        &script,
        crate::util::script(
            "const socket = websocket('s');\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             { echo: ctx.req.text(), meta: { timestamp: Date.now() + Math.random() } }));",
        ),
    )
    .expect("write");
    let mut session = record(
        &script,
        &dir.path().join("ts.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            send_text(&mut client, "tick").await;
            recv(&mut client).await;
            close(client).await;
        },
    )
    .await;
    let report = replay_against(&script, &session, Timing::Fast).await;
    let divergence = report.divergence.expect("timestamps differ without a rule");
    assert_eq!(divergence.json_path.as_deref(), Some("$.meta.timestamp"));

    session.header.ignore = vec![IgnoreRule::Path("$..timestamp".into())];
    let report = replay_against(&script, &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
}

#[tokio::test]
async fn recorded_timing_keeps_the_gaps_between_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record(
        &example("echo.js"),
        &dir.path().join("gaps.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            for text in ["a", "b", "c"] {
                send_text(&mut client, text).await;
                recv(&mut client).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            close(client).await;
        },
    )
    .await;
    let report = replay_against(&example("echo.js"), &session, Timing::Recorded).await;
    assert!(report.passed(), "{:?}", report.divergence);
    let connection = &report.connections[0];
    let times = |steps: &[sockscope::session::compare::Step]| -> Vec<i64> {
        steps
            .iter()
            .filter(|step| matches!(step.kind, sockscope::session::compare::StepKind::Recv(_)))
            .map(|step| step.t_ms as i64)
            .collect()
    };
    let expected = times(&connection.expected);
    let actual = times(&connection.actual);
    for index in 1..expected.len() {
        let recorded_gap = expected[index] - expected[index - 1];
        let replayed_gap = actual[index] - actual[index - 1];
        println!("gap {index}: recorded {recorded_gap} ms, replayed {replayed_gap} ms");
        assert!(
            recorded_gap >= 250,
            "the recording paused 300 ms: {recorded_gap}"
        );
        assert!(
            (replayed_gap - recorded_gap).abs() <= 200,
            "recorded {recorded_gap} ms, replayed {replayed_gap} ms"
        );
    }
}

#[tokio::test]
async fn the_cli_replays_reports_junit_and_tolerates_a_torn_last_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("echo.jsonl");
    record_echo(&good).await;
    let torn = dir.path().join("torn.jsonl");
    let mut text = std::fs::read_to_string(&good).expect("read");
    text.push_str(r#"{"t":99,"conn":"c1","ev":"se"#);
    std::fs::write(&torn, text).expect("write");

    let (code, stdout, stderr) = run(&["replay", &arg(&good), &arg(&torn)]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("PASS {}", arg(&good))), "{stdout}");
    assert!(stdout.contains(&format!("PASS {}", arg(&torn))), "{stdout}");
    assert!(stderr.contains("torn last line ignored"), "{stderr}");

    // Against a script that answers differently: exit 1, divergence shown.
    let reversed = dir.path().join("reverse.js");
    std::fs::write(
        &reversed,
        crate::util::script(
            "const socket = websocket('s');\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             typeof ctx.req.data === 'string' ? ctx.req.data.split('').reverse().join('') : ctx.req.data));",
        ),
    )
    .expect("write");
    let junit = dir.path().join("junit.xml");
    let (code, stdout, stderr) = run(&[
        "replay",
        &arg(&good),
        "--script",
        &arg(&reversed),
        "--junit",
        &arg(&junit),
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("FAIL {}", arg(&good))), "{stdout}");
    assert!(
        stdout.contains("first divergence: c1 message 0: expected hello, actual olleh"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert_well_formed(&xml);
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<failure message=\"c1 message 0"), "{xml}");
}

fn assert_well_formed(xml: &str) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(error) => panic!("JUnit XML is not well-formed: {error}\n{xml}"),
        }
        assert!(depth >= 0, "{xml}");
    }
    assert_eq!(depth, 0, "unclosed elements in:\n{xml}");
}

#[test]
fn unusable_input_exits_2_and_names_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.jsonl");
    let (code, stdout, stderr) = run(&["replay", &arg(&missing)]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("missing.jsonl") && stdout.contains("No such file"),
        "{stdout}"
    );

    let header = r#"{"format":"sockscope.session","version":1,"created":"2026-11-27T23:00:00Z","source":"recorded"}"#;
    let bad_json = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad_json,
        format!(
            "{header}\n{{oops\n{{\"t\":0,\"conn\":\"c1\",\"ev\":\"connect\",\"path\":\"/\"}}\n"
        ),
    )
    .expect("write");
    let (code, stdout, stderr) = run(&["replay", &arg(&bad_json)]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("bad.jsonl:2: bad event"), "{stdout}");

    let future = dir.path().join("v9.jsonl");
    std::fs::write(&future, header.replace("\"version\":1", "\"version\":9")).expect("write");
    let (code, stdout, stderr) = run(&["replay", &arg(&future)]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("v9.jsonl:1: unsupported session version 9"),
        "{stdout}"
    );

    // A server that is not there.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let session = dir.path().join("one.jsonl");
    std::fs::write(
        &session,
        format!("{header}\n{{\"t\":0,\"conn\":\"c1\",\"ev\":\"connect\",\"path\":\"/\"}}\n"),
    )
    .expect("write");
    let url = format!("ws://127.0.0.1:{closed_port}");
    let (code, stdout, stderr) = run(&["replay", &arg(&session), "--url", &url]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("cannot reach {url}/")), "{stdout}");
}

#[tokio::test]
async fn har_import_replays_against_echo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let har = dir.path().join("capture.har");
    let entry = |url: &str, start: &str, base: f64| {
        serde_json::json!({
            "startedDateTime": start,
            "request": {"method": "GET", "url": url},
            "response": {"status": 101},
            "_resourceType": "websocket",
            "_webSocketMessages": [
                {"type": "send", "time": base + 0.010, "opcode": 1, "data": "hello"},
                {"type": "receive", "time": base + 0.012, "opcode": 1, "data": "hello"},
                {"type": "send", "time": base + 0.020, "opcode": 2, "data": "AAEC/w=="},
                {"type": "receive", "time": base + 0.021, "opcode": 2, "data": "AAEC/w=="}
            ]
        })
    };
    let document = serde_json::json!({"log": {"version": "1.2", "entries": [
        {"request": {"method": "GET", "url": "http://127.0.0.1:4001/index.html"}, "response": {"status": 200}},
        entry("ws://127.0.0.1:4001/echo?room=a&room=b", "2026-11-27T10:00:00.000Z", 1_795_773_600.0),
        entry("ws://127.0.0.1:4001/", "2026-11-27T10:00:00.500Z", 1_795_773_600.5),
    ]}});
    std::fs::write(&har, document.to_string()).expect("write");
    let session_path = dir.path().join("from-har.jsonl");
    let (code, stdout, stderr) = run(&["import-har", &arg(&har), "-o", &arg(&session_path)]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 connections, 8 messages"), "{stdout}");

    let session = read_session(&session_path).expect("imported session reads");
    assert_eq!(session.header.source, "har");
    let SessionEvent::Connect { path, query } = &session.lines[0].event else {
        panic!("first line is a connect: {:?}", session.lines[0]);
    };
    assert_eq!(path, "/echo");
    assert_eq!(query["room"], vec!["a", "b"]);
    assert_eq!(session.lines[2].t, 10);

    let (code, stdout, stderr) = run(&[
        "replay",
        &arg(&session_path),
        "--script",
        &arg(&example("echo.js")),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("PASS "), "{stdout}");
}

#[tokio::test]
async fn artillery_export_has_the_ws_scenario_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session_path = dir.path().join("chat.jsonl");
    record_chat(&session_path).await;
    let yaml_path = dir.path().join("load.yml");
    let (code, stdout, stderr) = run(&[
        "export-artillery",
        &arg(&session_path),
        "-o",
        &arg(&yaml_path),
        "--target",
        "ws://localhost:9000",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let yaml = std::fs::read_to_string(&yaml_path).expect("yaml written");
    let script: serde_json::Value = serde_norway::from_str(&yaml).expect("valid YAML");
    assert_eq!(script["config"]["target"], "ws://localhost:9000");
    assert!(
        script["config"]["phases"][0]["arrivalCount"].as_u64() == Some(2),
        "{yaml}"
    );
    let scenarios = script["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 2, "{yaml}");
    let ann = &scenarios[0];
    assert_eq!(ann["engine"], "ws");
    let flow = ann["flow"].as_array().expect("flow");
    assert_eq!(flow[0]["connect"], "ws://localhost:9000/?name=ann");
    let sends: Vec<&str> = flow
        .iter()
        .filter_map(|step| step["send"].as_str())
        .collect();
    assert_eq!(sends, vec!["hi bob"]);
    assert!(
        flow.iter().any(|step| step["think"].as_f64().is_some()),
        "{yaml}"
    );
}

#[tokio::test]
async fn a_full_disk_stops_the_recording_not_the_server() {
    struct FullDisk {
        header_written: bool,
    }
    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.header_written {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            self.header_written = true;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let server =
        TestServer::start(&std::fs::read_to_string(example("echo.js")).expect("echo")).await;
    let recording = Recorder::start_to(
        &server.engine,
        Box::new(FullDisk {
            header_written: false,
        }),
        Path::new("full.jsonl"),
        Header::new("recorded"),
    )
    .expect("header fits");
    let mut client = server.connect("/").await;
    send_text(&mut client, "still served").await;
    assert_eq!(recv(&mut client).await, Message::text("still served"));
    let deadline = tokio::time::Instant::now() + crate::util::WAIT;
    while recording.status().failure.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "failure not reported"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    send_text(&mut client, "and again").await;
    assert_eq!(recv(&mut client).await, Message::text("and again"));
    let status = recording.stop().await;
    let failure = status.failure.expect("failure kept");
    assert!(
        failure.contains("full.jsonl") && failure.contains("No space left"),
        "{failure}"
    );
}

#[tokio::test]
async fn external_events_get_their_own_labels() {
    let server =
        TestServer::start(&std::fs::read_to_string(example("echo.js")).expect("echo")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("external.jsonl");
    let recording = Recorder::start(&server.engine, &path, Header::new("gui")).expect("record");
    let now = chrono::Utc::now();
    recording.record_external(
        "remote-1",
        SessionEvent::Connect {
            path: "/x".into(),
            query: Default::default(),
        },
        now,
    );
    recording.record_external("remote-1", SessionEvent::Accepted { id: None }, now);
    recording.record_external(
        "remote-1",
        SessionEvent::Send(Frame::Text("hi".into())),
        now,
    );
    let status = recording.stop().await;
    assert_eq!(
        (status.connections, status.messages, status.lines_written),
        (1, 1, 3)
    );
    let session = read_session(&path).expect("reads");
    assert_eq!(session.connection_labels(), vec!["c1"]);
}

#[test]
fn serve_record_writes_a_session_until_the_server_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session_path = dir.path().join("served.jsonl");
    let mut child = sockscope()
        .args(["serve", "--port", "0", "--kv", ":memory:", "-q", "--script"])
        .arg(example("echo.js"))
        .arg("--record")
        .arg(&session_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut first_line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut first_line,
    )
    .expect("first line");
    let url = first_line
        .trim()
        .trim_start_matches("listening on ")
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (mut client, _) = tokio_tungstenite::connect_async(format!("{url}/?who=me"))
            .await
            .expect("connect");
        send_text(&mut client, "recorded").await;
        recv(&mut client).await;
        close(client).await;
        // Lines are flushed as they happen: the file has them before the stop.
        let deadline = std::time::Instant::now() + crate::util::WAIT;
        while !std::fs::read_to_string(&session_path)
            .unwrap_or_default()
            .contains("\"ev\":\"close\"")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "close line not flushed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait_with_output().expect("wait");
    assert_eq!(
        exit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&exit.stderr)
    );
    let session = read_session(&session_path).expect("reads");
    assert_eq!(session.header.source, "recorded");
    let script = session.script_path().expect("script recorded");
    assert_eq!(
        script.canonicalize().expect("script exists"),
        example("echo.js").canonicalize().expect("echo")
    );
    let events: Vec<String> = session
        .lines
        .iter()
        .map(|line| serde_json::to_value(&line.event).expect("json")["ev"].to_string())
        .collect();
    assert_eq!(
        events,
        vec![
            "\"connect\"",
            "\"accepted\"",
            "\"send\"",
            "\"recv\"",
            "\"close\""
        ]
    );
}

#[test]
fn the_sample_sessions_pass_against_their_scripts() {
    let sessions = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let mut files: Vec<String> = std::fs::read_dir(&sessions)
        .expect("sessions/ exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .map(|path| arg(&path))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut args = vec!["replay".to_owned()];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches("PASS ").count(), files.len(), "{stdout}");
}

/// Re-records `sessions/*.jsonl` with the real recorder:
/// `cargo test --test integration -- --ignored record_sample_sessions`.
#[tokio::test]
#[ignore = "writes into sessions/; run by hand to re-record the samples"]
async fn record_sample_sessions() {
    let sessions = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    std::fs::create_dir_all(&sessions).expect("sessions/");
    record_chat(&sessions.join("chat-two-clients.jsonl")).await;
    record_echo(&sessions.join("echo-text-and-binary.jsonl")).await;
    record_denied(&sessions.join("chat-denied-without-name.jsonl")).await;
}
