//! Session files and the CLI: JUnit, bad input, HAR, Artillery, disk
//! failures, `serve --record`, the committed sample sessions.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sockscope::session::format::{Frame, SessionEvent};
use sockscope::session::{Header, Recorder, read_session};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::util::process::{run, sockscope};
use crate::util::{TestServer, example_arg, example_path, recv, send_text};

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
            "const socket = websocket('s');
socket.on('connect', () => {});\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             ctx.req.text().split('').reverse().join('')));",
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
                // Bytes come back as text from a Nitric gateway.
                {"type": "send", "time": base + 0.020, "opcode": 2, "data": "aGk="},
                {"type": "receive", "time": base + 0.021, "opcode": 1, "data": "hi"}
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
        &example_arg("echo.js"),
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
        TestServer::start(&std::fs::read_to_string(example_path("echo.js")).expect("echo")).await;
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
        TestServer::start(&std::fs::read_to_string(example_path("echo.js")).expect("echo")).await;
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
        .arg(example_path("echo.js"))
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
        example_path("echo.js").canonicalize().expect("echo")
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
    // A refusal the session expects is not a problem worth a log line.
    assert!(!stderr.contains("connect denied"), "{stderr}");
}

#[tokio::test]
async fn a_replay_shows_the_handler_error_behind_a_divergence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("echo.jsonl");
    record_echo(&session).await;
    let throwing = dir.path().join("throwing.js");
    std::fs::write(
        &throwing,
        crate::util::script(
            "const socket = websocket('s');
socket.on('connect', () => {});\n\
             socket.on('message', (ctx) => { throw new Error('no echo today'); });",
        ),
    )
    .expect("write");
    let (code, stdout, stderr) = run(&["replay", &arg(&session), "--script", &arg(&throwing)]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("message handler error") && stderr.contains("no echo today"),
        "{stderr}"
    );
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

#[test]
fn the_interleavings_explorer_names_the_seed_of_a_lost_update_and_passes_a_safe_handler() {
    let dir = tempfile::tempdir().expect("temp dir");
    let racy = dir.path().join("racy.js");
    std::fs::write(&racy, crate::util::RACY_COUNTER).expect("write");
    let session = dir.path().join("two-senders.jsonl");
    crate::util::write_two_senders_session(&session, &racy);

    let (code, stdout, stderr) = run(&["replay", &arg(&session), "--interleavings", "5"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.starts_with("FAIL "), "{stdout}");
    assert!(
        stdout.contains("reproduce with --seed ")
            && stdout.contains("lost update: kv('counters') key 'shared'"),
        "{stdout}"
    );
    let seed = stdout
        .split("--seed ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("a seed")
        .to_owned();
    let (code, stdout, _) = run(&["replay", &arg(&session), "--seed", &seed]);
    assert_eq!(code, Some(0), "one run passes the session, {stdout}");
    assert!(
        stdout.contains("1 lost update"),
        "and counts its lost update: {stdout}"
    );

    // One key per connection: no run loses anything.
    let safe = dir.path().join("safe.js");
    std::fs::write(
        &safe,
        crate::util::RACY_COUNTER.replace("'shared'", "ctx.req.connectionId"),
    )
    .expect("write");
    let (code, stdout, stderr) = run(&[
        "replay",
        &arg(&session),
        "--script",
        &arg(&safe),
        "--interleavings",
        "5",
        "--seed",
        "40",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("5 interleavings, seeds 40..=44"),
        "{stdout}"
    );
}
