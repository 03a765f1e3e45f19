//! Security: origin allow-list at the handshake, and the script sandbox.

use sockscope::core::events::Event;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::util::{TestServer, WAIT, recv_json, script, send_text};

/// Upgrades with (or without) an `Origin` header; returns the HTTP status.
async fn status_with_origin(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = server
        .url("/")
        .into_client_request()
        .expect("valid request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).expect("header"));
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("answer in time")
    {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP answer, got {other}"),
    }
}

#[tokio::test]
async fn allowed_origins_are_enforced_with_403() {
    let source = script("websocket('s').on('connect', () => {});");
    let mut server = TestServer::start_with(&source, |config| {
        config.server.allowed_origins = vec!["http://localhost:3000".to_owned()];
    })
    .await;
    assert_eq!(
        status_with_origin(&server, Some("http://localhost:3000")).await,
        101
    );
    assert_eq!(
        status_with_origin(&server, Some("https://evil.example")).await,
        403
    );
    assert_eq!(status_with_origin(&server, None).await, 403);
    let denied = server
        .wait_for("403 event", |event| {
            matches!(event, Event::ConnectionDenied { status: 403, .. })
        })
        .await;
    let Event::ConnectionDenied { reason, .. } = denied.as_ref() else {
        unreachable!()
    };
    assert!(
        reason.contains("https://evil.example") && reason.contains("--allowed-origin"),
        "{reason}"
    );

    // No list: any origin, and none, may connect.
    let open = TestServer::start(&source).await;
    assert_eq!(
        status_with_origin(&open, Some("https://evil.example")).await,
        101
    );
    assert_eq!(status_with_origin(&open, None).await, 101);
}

/// Every way out of the sandbox a script might try, each reported by name.
const ESCAPE_PROBES: &str = r#"
const socket = websocket('s');
socket.on('connect', () => {});
const probes = {};
const probe = (name, f) => { try { probes[name] = String(f()); } catch (e) { probes[name] = `throws ${e.name}`; } };
probe('require', () => typeof require);
probe('process', () => `${typeof process} env ${JSON.stringify(process.env)}`);
probe('processExit', () => process.exit(1));
probe('fetch', () => typeof fetch);
probe('XMLHttpRequest', () => typeof XMLHttpRequest);
probe('WebSocket', () => typeof WebSocket);
probe('setTimeout', () => typeof setTimeout);
probe('setInterval', () => typeof setInterval);
probe('std', () => typeof std);
probe('os', () => typeof os);
probe('scriptArgs', () => typeof scriptArgs);
probe('host', () => typeof globalThis.__sockscope);
probe('evalHost', () => eval('typeof globalThis.__sockscope'));
probe('functionHost', () => Function('return typeof this.__sockscope')());
probe('constructorHost', () => typeof ({}).constructor.constructor('return globalThis')().__sockscope);
const hostish = Object.getOwnPropertyNames(globalThis).filter((n) => /sockscope|host|native/i.test(n));
probes.hostishGlobals = hostish.join(',');
const imports = ['std', './missing.js', '/etc/passwd', '../../../../../../etc/passwd'];
const standIns = [['fs', 'readFileSync'], ['node:fs', 'readFileSync'], ['child_process', 'execSync'], ['os', 'hostname'], ['net', 'connect'], ['http', 'request']];
socket.on('message', async (ctx) => {
  for (const name of imports) {
    try { await import(name); probes[`import ${name}`] = 'loaded'; }
    catch (e) { probes[`import ${name}`] = 'refused'; }
  }
  for (const [name, call] of standIns) {
    const m = await import(name);
    try { probes[`use ${name}`] = `returned ${m.default[call]('/etc/passwd')}`; }
    catch (e) { probes[`use ${name}`] = e.message; }
  }
  await socket.send(ctx.req.connectionId, probes);
});
"#;

#[tokio::test]
async fn scripts_cannot_escape_the_sandbox() {
    let server = TestServer::start(&script(ESCAPE_PROBES)).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "probe").await;
    let probes = recv_json(&mut client).await;
    assert_eq!(
        probes["process"], "object env {}",
        "a stand-in with no environment"
    );
    assert!(
        probes["processExit"]
            .as_str()
            .is_some_and(|text| text.starts_with("throws")),
        "{probes}"
    );
    for name in [
        "require",
        "fetch",
        "XMLHttpRequest",
        "WebSocket",
        "setTimeout",
        "setInterval",
        "std",
        "os",
        "scriptArgs",
        "host",
        "evalHost",
        "functionHost",
        "constructorHost",
    ] {
        assert_eq!(probes[name], "undefined", "{name} must not exist: {probes}");
    }
    assert_eq!(probes["hostishGlobals"], "", "{probes}");
    for name in [
        "std",
        "./missing.js",
        "/etc/passwd",
        "../../../../../../etc/passwd",
    ] {
        assert_eq!(
            probes[format!("import {name}")],
            "refused",
            "import {name}: {probes}"
        );
    }
    // Node's built-ins load (a file may need them for other routes) but
    // do nothing: each call throws, naming itself.
    for name in ["fs", "node:fs", "child_process", "os", "net", "http"] {
        let used = probes[format!("use {name}")].as_str().unwrap_or_default();
        let bare = name.trim_start_matches("node:");
        assert!(
            used.starts_with(&format!("{bare}."))
                && used.contains("is not available in sockscope's embedded lane"),
            "use {name}: {probes}"
        );
    }
}

#[test]
fn session_rename_names_never_leave_the_sessions_folder() {
    use sockscope::ui::model::sessions::safe_session_file_name;
    use std::path::{Component, Path};

    let hostile = [
        "../x",
        "..",
        "../../etc/passwd",
        "a/../../b",
        "/etc/passwd",
        "\\\\server\\share",
        "..\\x",
        "....//x",
        "x/..",
        "./x",
        ".",
        "nul\0byte",
        "C:evil",
        "new\nline",
        "%2e%2e%2fx",
        "．．／x",
        "plain name",
    ];
    let folder = tempfile::tempdir().expect("temp dir");
    for name in hostile {
        let Ok(file_name) = safe_session_file_name(name) else {
            continue;
        };
        let components: Vec<Component<'_>> = Path::new(&file_name).components().collect();
        assert!(
            matches!(components.as_slice(), [Component::Normal(_)]),
            "{name:?} became {file_name:?}, which is not a plain file name"
        );
        assert_eq!(
            folder.path().join(&file_name).parent(),
            Some(folder.path()),
            "{name:?}"
        );
    }
}
