//! Third-party clients drive the embedded server through the chat example:
//! Python's `websockets`, Node's `ws` and headless Chromium. Each is refused
//! without a name (500, as nitric start refuses), joins with a query string, sends text and binary,
//! and closes; the test compares every line the client observed.
//!
//! A missing tool skips its test with a loud note, unless
//! `SOCKSCOPE_REQUIRE_REAL_CLIENTS=1` (set by `.ci/run`, which installs
//! them) turns the absence into a failure. Overrides: `SOCKSCOPE_PYTHON`
//! (an interpreter with `websockets`), `SOCKSCOPE_NODE_PATH` (a
//! `node_modules` holding `ws`), `SOCKSCOPE_CHROMIUM` (the browser binary).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sockscope::core::events::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::util::{TestServer, example_path, missing_tool};

/// Longest a client program may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

async fn chat_server(configure: impl FnOnce(&mut sockscope::launch::LaunchConfig)) -> TestServer {
    let chat = std::fs::read_to_string(example_path("chat.js")).expect("read chat.js");
    TestServer::start_with(&chat, configure).await
}

/// Runs a tool's probe command; `Err` says why the tool is unusable.
async fn probe(command: &mut Command) -> Result<(), String> {
    match command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
    {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// Runs a client program to completion and returns its stdout lines.
async fn run_client(command: &mut Command) -> Vec<String> {
    let output = tokio::time::timeout(
        CLIENT_TIMEOUT,
        command.kill_on_drop(true).stdin(Stdio::null()).output(),
    )
    .await
    .expect("client finishes in time")
    .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

fn expected(name: &str, denied: &str) -> Vec<String> {
    vec![
        format!("denied {denied}"),
        "open".to_owned(),
        format!(r#"recv text {{"type":"message","from":"{name}","text":"hello"}}"#),
        format!(r#"recv text {{"type":"message","from":"{name}","text":"bin ✓"}}"#),
        "closed 1000".to_owned(),
    ]
}

/// The server saw the join with its whole query, and the client's close.
async fn check_server_side(server: &mut TestServer, name: &str) {
    let opened = server
        .wait_for("the client's connection", |event| {
            matches!(event, Event::ConnectionOpened { query, .. } if query.get("name").is_some())
        })
        .await;
    let Event::ConnectionOpened { query, .. } = opened.as_ref() else {
        unreachable!()
    };
    assert_eq!(query["name"], vec![name]);
    assert_eq!(query["room"], vec!["a", "b"]);
    server
        .wait_for("the client's close", |event| {
            matches!(
                event,
                Event::ConnectionClosed {
                    code: Some(1000),
                    ..
                }
            )
        })
        .await;
}

#[tokio::test]
async fn python_websockets_client() {
    let python = std::env::var("SOCKSCOPE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if let Err(why) =
        probe(Command::new(&python).args(["-c", "import websockets.sync.client"])).await
    {
        return missing_tool("Python `websockets`", &why);
    }
    let mut server = chat_server(|_| {}).await;
    let lines = run_client(
        Command::new(&python)
            .arg(clients_dir().join("chat_python.py"))
            .arg(server.engine.url().trim_end_matches('/')),
    )
    .await;
    assert_eq!(lines, expected("ann py", "500"));
    check_server_side(&mut server, "ann py").await;
}

#[tokio::test]
async fn node_ws_client() {
    let node_path = std::env::var("SOCKSCOPE_NODE_PATH")
        .or_else(|_| std::env::var("NODE_PATH"))
        .unwrap_or_default();
    if let Err(why) = probe(
        Command::new("node")
            .env("NODE_PATH", &node_path)
            .args(["-e", "require('ws')"]),
    )
    .await
    {
        return missing_tool("Node.js with the `ws` package", &why);
    }
    let mut server = chat_server(|_| {}).await;
    let lines = run_client(
        Command::new("node")
            .env("NODE_PATH", &node_path)
            .arg(clients_dir().join("chat_node.cjs"))
            .arg(server.engine.url().trim_end_matches('/')),
    )
    .await;
    assert_eq!(lines, expected("ann node", "500"));
    check_server_side(&mut server, "ann node").await;
}

/// Serves the browser page on `GET /` and hands back the body POSTed to
/// `/result`: a minimal HTTP/1.1 server, one request per connection.
async fn serve_page(listener: TcpListener, page: String) -> String {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        let (head_end, content_length) = loop {
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                break (None, 0);
            }
            request.extend_from_slice(&buffer[..read]);
            if let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (Some(end + 4), length);
            }
        };
        let Some(head_end) = head_end else { continue };
        while request.len() < head_end + content_length {
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        let request_line = String::from_utf8_lossy(&request[..head_end]).into_owned();
        let (status, body) = if request_line.starts_with("GET / ") {
            ("200 OK", page.clone())
        } else if request_line.starts_with("POST /result ") {
            ("200 OK", String::new())
        } else {
            ("404 Not Found", String::new())
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if request_line.starts_with("POST /result ") {
            let end = (head_end + content_length).min(request.len());
            return String::from_utf8_lossy(&request[head_end..end]).into_owned();
        }
    }
}

fn chromium_binary() -> String {
    std::env::var("SOCKSCOPE_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

#[tokio::test]
async fn headless_chromium_page() {
    let chromium = chromium_binary();
    if let Err(why) = probe(Command::new(&chromium).arg("--version")).await {
        return missing_tool("Chromium", &why);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let page_origin = format!("http://{}", listener.local_addr().expect("address"));
    // The page's origin is the only one allowed, as a deployment would set it.
    let allowed = page_origin.clone();
    let mut server = chat_server(move |config| config.server.allowed_origins = vec![allowed]).await;
    let page = std::fs::read_to_string(clients_dir().join("chat_page.html"))
        .expect("read page")
        .replace("WS_URL", server.engine.url().trim_end_matches('/'));
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{page_origin}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
    let result = tokio::time::timeout(CLIENT_TIMEOUT, serve_page(listener, page)).await;
    let _ = browser.kill().await;
    let result = result.expect("the page reports in time");
    let lines: Vec<String> = result.lines().map(str::to_owned).collect();
    // A browser never sees the HTTP status of a refused upgrade: 1006.
    assert_eq!(lines, expected("ann browser", "1006"));
    // The nameless connect came from the allowed page origin, so it reached
    // the handler and was refused there (500), before the join.
    server
        .wait_for("the nameless connect refused by the handler", |event| {
            matches!(event, Event::ConnectionDenied { status: 500, .. })
        })
        .await;
    check_server_side(&mut server, "ann browser").await;
}
