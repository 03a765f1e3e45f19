//! Real projects in the embedded lane: TypeScript with errors at the `.ts`
//! lines, relative modules (watched for changes), CommonJS and JSON
//! modules, npm packages installed by the test, Node built-ins as
//! stand-ins — each driven by a real websocket client.

use std::path::Path;
use std::process::Command;

use sockscope::core::config::KvLocation;
use sockscope::core::events::Event;
use sockscope::launch::LaunchConfig;

use crate::util::{TestServer, missing_tool, recv_text, send_text};

const NITRIC_YAML: &str =
    "name: project\nservices:\n  - match: services/*.ts\n    start: npx tsx $SERVICE_PATH\n";

/// Writes `files` into a fresh project folder.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), files);
    dir
}

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
        std::fs::write(path, text).expect("write");
    }
}

fn config_for(dir: &Path, entry: &str) -> LaunchConfig {
    let mut config = LaunchConfig::new(dir.join(entry));
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    config
}

async fn load_error(files: &[(&str, &str)], entry: &str) -> String {
    let dir = project(files);
    match sockscope::launch::start(config_for(dir.path(), entry)).await {
        Ok(_) => panic!("{entry} must not load"),
        Err(error) => error.to_string(),
    }
}

const SERVICE_TS: &str = r#"import type { Greeting } from '../resources/types';
import { socket, decorate } from '../resources';

interface Said {
  text: string;
}

// A legacy (experimentalDecorators) method decorator, lowered by the transpiler.
function upper(_target: object, _key: string, descriptor: PropertyDescriptor) {
  const original = descriptor.value as (text: string) => string;
  descriptor.value = (text: string) => original(text).toUpperCase();
  return descriptor;
}

class Shouter {
  @upper
  say(text: string): string {
    return text;
  }
}

const shout = <T extends Said>(said: T): Greeting => ({ line: new Shouter().say(said.text) });

socket.on('connect', (ctx) => ctx);
socket.on('message', async (ctx) => {
  const said: Said = { text: ctx.req.text() as string };
  if (said.text === 'fail') {
    console.warn(`failing on purpose: ${said.text as string}`);
    throw new Error('failed on purpose');
  }
  await socket.send(ctx.req.connectionId!, decorate(shout(said).line));
  return ctx;
});
"#;

const RESOURCES_TS: &str = r#"import { websocket } from '@nitric/sdk';
export const socket = websocket('chat');
export const decorate = (line: string): string => line;
"#;

const TYPES_TS: &str = "export interface Greeting { line: string }\n";

fn typescript_project() -> tempfile::TempDir {
    project(&[
        ("nitric.yaml", NITRIC_YAML),
        ("services/chat.ts", SERVICE_TS),
        ("resources/index.ts", RESOURCES_TS),
        ("resources/types.ts", TYPES_TS),
    ])
}

#[tokio::test]
async fn a_typescript_service_runs_and_its_errors_point_at_the_ts_line() {
    let dir = typescript_project();
    let config = config_for(dir.path(), "services/chat.ts");
    let mut server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "hi").await;
    assert_eq!(recv_text(&mut client).await, "HI");
    send_text(&mut client, "fail").await;
    let throw_line = SERVICE_TS
        .lines()
        .position(|line| line.contains("throw new Error"))
        .expect("the throw")
        + 1;
    // The console line before the throw is at its .ts line (the column is
    // QuickJS's: the call's last operand).
    let logged = server
        .wait_for("the console line", |event| {
            matches!(event, Event::Log { message, .. } if message.starts_with("failing on purpose"))
        })
        .await;
    let Event::Log { location, .. } = logged.as_ref() else {
        unreachable!()
    };
    let location = location.clone().expect("a console line has its location");
    assert_eq!(
        (location.file.as_str(), location.line as usize),
        ("services/chat.ts", throw_line - 1)
    );
    let failed = server
        .wait_for("the handler error", |event| {
            matches!(event, Event::ScriptError { .. })
        })
        .await;
    let Event::ScriptError { failure, .. } = failed.as_ref() else {
        unreachable!()
    };
    let location = failure.location.clone().expect("a location");
    assert_eq!(location.file, "services/chat.ts");
    assert_eq!(location.line as usize, throw_line, "{failure}");
    let stack = failure.stack.clone().unwrap_or_default();
    assert!(
        stack.contains(&format!("services/chat.ts:{throw_line}:")),
        "the stack is at the .ts lines too: {stack}"
    );
}

#[tokio::test]
async fn a_typescript_syntax_error_says_so_with_the_line_and_a_caret() {
    let message = load_error(
        &[
            ("nitric.yaml", NITRIC_YAML),
            (
                "services/chat.ts",
                "import { websocket } from '@nitric/sdk';\n\nlet count: = 0;\n",
            ),
        ],
        "services/chat.ts",
    )
    .await;
    assert!(message.contains("TypeScript syntax error"), "{message}");
    assert!(message.contains("(at services/chat.ts:3:12)"), "{message}");
    assert!(message.contains("3 | let count: = 0;"), "{message}");
    assert!(message.contains("  |            ^"), "{message}");
}

#[tokio::test]
async fn types_in_a_js_file_are_named_as_typescript() {
    let message = load_error(
        &[(
            "handler.js",
            "import { websocket } from '@nitric/sdk';\nconst n: number = 1;\n",
        )],
        "handler.js",
    )
    .await;
    assert!(message.contains("handler.js:2"), "{message}");
    assert!(message.contains("name it .ts"), "{message}");
}

#[tokio::test]
async fn editing_an_imported_module_reloads_the_service() {
    let dir = typescript_project();
    let mut config = config_for(dir.path(), "services/chat.ts");
    config.script.watch = true;
    let mut server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "one").await;
    assert_eq!(recv_text(&mut client).await, "ONE");
    // A change to the resources module, not to the file being served.
    write_files(
        server.dir.path(),
        &[(
            "resources/index.ts",
            &RESOURCES_TS.replace("=> line;", "=> `edited ${line}`;"),
        )],
    );
    server
        .wait_for("the reload", |event| {
            matches!(event, Event::ScriptReloaded { .. })
        })
        .await;
    send_text(&mut client, "two").await;
    assert_eq!(recv_text(&mut client).await, "edited TWO");
}

#[tokio::test]
async fn commonjs_modules_json_and_node_built_ins_load() {
    let dir = project(&[
        ("package.json", r#"{"name": "mixed", "private": true}"#),
        (
            "handler.js",
            r#"import { websocket, api } from '@nitric/sdk';
import { readFileSync } from 'fs';
import path from 'node:path';
import settings from './settings.json';
import counter, { prefix } from './lib/counter.cjs';
import { part } from './lib/index.cjs';

// `fs` only in an API route: the file loads, the route is declared, not served.
api('files').get('/passwd', async (ctx) => {
  ctx.res.body = readFileSync('/etc/passwd', 'utf8');
});

const socket = websocket('mixed');
socket.on('connect', (ctx) => ctx);
socket.on('message', async (ctx) => {
  let denied;
  try {
    readFileSync('/etc/passwd');
  } catch (error) {
    denied = error.message.startsWith('fs.readFileSync is not available');
  }
  const id = Buffer.from(crypto_uuid()).toString('hex').length;
  await socket.send(ctx.req.connectionId, [prefix, counter.next(), settings.motd, path.join('a', '../b'), denied, id, part].join(' '));
});
import { randomUUID as crypto_uuid } from 'node:crypto';
"#,
        ),
        ("settings.json", r#"{"motd": "welcome"}"#),
        (
            "lib/counter.cjs",
            "const { start } = require('./start');\nlet n = start;\nexports.prefix = 'n';\nexports.next = () => ++n;\n",
        ),
        ("lib/start.js", "module.exports = { start: 41 };\n"),
        // As tsc compiles `export * from './parts'` to CommonJS.
        (
            "lib/index.cjs",
            "\"use strict\";\nvar __exportStar = (m, e) => { for (var p in m) if (p !== 'default' && !(p in e)) e[p] = m[p]; };\n\
             Object.defineProperty(exports, \"__esModule\", { value: true });\n__exportStar(require(\"./parts.cjs\"), exports);\n",
        ),
        ("lib/parts.cjs", "exports.part = 'whole';\n"),
    ]);
    let config = config_for(dir.path(), "handler.js");
    let server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "x").await;
    assert_eq!(recv_text(&mut client).await, "n 42 welcome b true 72 whole");
    // Said while loading, before anyone listened: a display still gets it.
    let mut display = server.engine.subscribe();
    let mut said = Vec::new();
    while let Some(sockscope::core::bus::BusMessage::Event(event)) = display.try_recv() {
        if let Event::Log { message, .. } = event.as_ref() {
            said.push(message.clone());
        }
    }
    assert!(
        said.iter()
            .any(|line| line.starts_with("api(\"files\") is declared, not served")),
        "{said:?}"
    );
}

/// `npm install` of pinned pure-JS packages into `dir`, as a user would.
fn npm_install(dir: &Path, packages: &[&str]) -> bool {
    let installed = Command::new("npm")
        .args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--no-save",
        ])
        .args(packages)
        .current_dir(dir)
        .status();
    match installed {
        Ok(status) if status.success() => true,
        Ok(status) => {
            missing_tool("npm install", &format!("exited with {status}"));
            false
        }
        Err(error) => {
            missing_tool("npm", &error.to_string());
            false
        }
    }
}

#[tokio::test]
async fn npm_packages_commonjs_and_their_dependencies_run() {
    let dir = project(&[
        ("package.json", r#"{"name": "names", "private": true}"#),
        ("nitric.yaml", NITRIC_YAML),
        (
            "services/names.ts",
            r#"import { websocket } from '@nitric/sdk';
import short from 'short-uuid';
import { generateUsername } from 'unique-username-generator';

const translator = short();
const socket = websocket('names');
socket.on('connect', (ctx) => ctx);
socket.on('message', async (ctx) => {
  const id: string = translator.new();
  const back = translator.toUUID(id);
  const name = generateUsername('-');
  await socket.send(ctx.req.connectionId, `${id.length} ${back.length} ${name.includes('-')}`);
});
"#,
        ),
    ]);
    if !npm_install(
        dir.path(),
        &["short-uuid@5.2.0", "unique-username-generator@1.4.0"],
    ) {
        return;
    }
    let config = config_for(dir.path(), "services/names.ts");
    let server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "x").await;
    assert_eq!(recv_text(&mut client).await, "22 36 true");
}

const SHARED_RESOURCES_TS: &str = r#"import { websocket, kv } from '@nitric/sdk';
export const chat = websocket('chat');
export const feed = websocket('feed');
export const seen = kv('seen').allow('get', 'set');
// Module state: each service process has its own.
export const shared = { count: 0 };
"#;

const CHAT_SERVICE_TS: &str = r#"import { chat, seen, shared } from '../resources';
(globalThis as any).who = 'chat';
chat.on('connect', (ctx) => ctx);
chat.on('message', async (ctx) => {
  shared.count += 1;
  await seen.set('chat', { count: shared.count });
  await chat.send(ctx.req.connectionId, `chat ${shared.count} ${(globalThis as any).who}`);
});
"#;

const FEED_SERVICE_TS: &str = r#"import { feed, seen, shared } from '../resources';
(globalThis as any).who = 'feed';
feed.on('connect', (ctx) => ctx);
feed.on('message', async (ctx) => {
  const other = await seen.get('chat');
  let missing = 'none';
  try { await seen.get('nobody'); } catch (error) { missing = `${error instanceof Error}`; }
  await feed.send(ctx.req.connectionId, `feed ${shared.count} ${(globalThis as any).who} ${JSON.stringify(other)} ${other instanceof Object} ${missing}`);
});
"#;

fn two_service_project() -> tempfile::TempDir {
    project(&[
        ("nitric.yaml", NITRIC_YAML),
        ("resources/index.ts", SHARED_RESOURCES_TS),
        ("services/chat.ts", CHAT_SERVICE_TS),
        ("services/feed.ts", FEED_SERVICE_TS),
    ])
}

#[tokio::test]
async fn a_projects_services_each_get_a_context_and_share_kv() {
    let dir = two_service_project();
    let mut config = config_for(dir.path(), "services/chat.ts");
    config.script.other_services = vec![dir.path().join("services/feed.ts")];
    let server = TestServer::launch(dir, config).await;
    let url_of = |socket: &str| {
        server
            .engine
            .sockets()
            .iter()
            .find(|listener| &*listener.socket == socket)
            .map(|listener| format!("ws://{}/", listener.local_addr))
            .unwrap_or_else(|| panic!("{socket} is served"))
    };
    let (mut chat, _) = tokio_tungstenite::connect_async(url_of("chat"))
        .await
        .expect("chat");
    send_text(&mut chat, "a").await;
    assert_eq!(recv_text(&mut chat).await, "chat 1 chat");
    send_text(&mut chat, "b").await;
    assert_eq!(recv_text(&mut chat).await, "chat 2 chat");
    let (mut feed, _) = tokio_tungstenite::connect_async(url_of("feed"))
        .await
        .expect("feed");
    send_text(&mut feed, "c").await;
    // Its own globals and module state, the same kv, and values (and
    // errors) of its own context.
    assert_eq!(
        recv_text(&mut feed).await,
        r#"feed 0 feed {"count":2} true true"#
    );
}

#[tokio::test]
async fn two_services_handling_one_socket_is_an_error_naming_both() {
    let dir = project(&[
        ("nitric.yaml", NITRIC_YAML),
        ("resources/index.ts", SHARED_RESOURCES_TS),
        ("services/chat.ts", CHAT_SERVICE_TS),
        ("services/again.ts", CHAT_SERVICE_TS),
    ]);
    let mut config = config_for(dir.path(), "services/chat.ts");
    config.script.other_services = vec![dir.path().join("services/again.ts")];
    let Err(error) = sockscope::launch::start(config).await else {
        panic!("two services with handlers for one socket must not load");
    };
    let message = error.to_string();
    assert!(
        message.contains(
            "websocket('chat') has handlers in services/chat.ts and in services/again.ts"
        ),
        "{message}"
    );
}

#[test]
fn serve_project_embedded_serves_every_socket_of_every_service() {
    use std::io::{BufRead, BufReader};
    let dir = two_service_project();
    let mut child = crate::util::process::sockscope()
        .args([
            "serve",
            "--embedded",
            "--port",
            "0",
            "--kv",
            ":memory:",
            "--project",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sockscope serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut announced: Vec<String> = (0..2)
        .map(|_| lines.next().expect("a line").expect("text"))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    announced.sort_by_key(|line| line.rsplit_once(' ').map(|(_, socket)| socket.to_owned()));
    assert!(
        announced
            .iter()
            .all(|line| line.starts_with("listening on ws://127.0.0.1:")),
        "{announced:?}"
    );
    assert!(announced[0].ends_with("(socket chat)"), "{announced:?}");
    assert!(announced[1].ends_with("(socket feed)"), "{announced:?}");
}
