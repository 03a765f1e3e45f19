//! One chat service, written as a user writes it for each SDK, driven
//! through deny, kv registration, broadcast over `kv.keys()`, a missing
//! key, `socket.close`, disconnect notices and per-connection order.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::{nitric_python, node_modules, project, services_config};
use crate::util::{Client, TestServer, WAIT, recv_text, send_text};

const CHAT_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';

const socket = websocket('chat');
const people = kv('people').allow('get', 'set', 'delete');

socket.on('connect', async (ctx) => {
  const name = ctx.req.query.name?.[0];
  if (!name) {
    ctx.res.success = false;
    return ctx;
  }
  await people.set(ctx.req.connectionId, { name });
  return ctx;
});

socket.on('disconnect', async (ctx) => {
  const me = await people.get(ctx.req.connectionId);
  await people.delete(ctx.req.connectionId);
  for await (const id of people.keys()) {
    await socket.send(id, `${me.name} left`);
  }
});

socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const text = ctx.req.text();
  if (text === 'bye') {
    await socket.close(id);
  } else if (text === 'missing') {
    try {
      await people.get('nobody');
    } catch (error) {
      await socket.send(id, `${error.constructor.name}: ${error.message.split('\n')[0]}`);
    }
  } else if (text === 'ghost') {
    try {
      await socket.send('00000000-0000-4000-8000-000000000000', 'boo');
    } catch (error) {
      await socket.send(id, `${error.constructor.name}: ${error.message.split('\n')[0]}`);
    }
  } else if (text.startsWith('echo ')) {
    await socket.send(id, text.slice(5));
  } else {
    const me = await people.get(id);
    for await (const other of people.keys()) {
      await socket.send(other, `${me.name}: ${text}`);
    }
  }
});
"#;

const CHAT_TS: &str = r#"import { websocket, kv } from '@nitric/sdk';

interface Person {
  name: string;
}

const socket = websocket('chat');
const people = kv<Person>('people').allow('get', 'set', 'delete');

socket.on('connect', async (ctx) => {
  const name: string | undefined = ctx.req.query.name?.[0];
  if (!name) {
    ctx.res.success = false;
    return ctx;
  }
  await people.set(ctx.req.connectionId, { name });
  return ctx;
});

socket.on('disconnect', async (ctx) => {
  const me = (await people.get(ctx.req.connectionId)) as Person;
  await people.delete(ctx.req.connectionId);
  for await (const id of people.keys()) {
    await socket.send(id, `${me.name} left`);
  }
});

socket.on('message', async (ctx) => {
  const id: string = ctx.req.connectionId;
  const text = ctx.req.text();
  if (text === 'bye') {
    await socket.close(id);
  } else if (text === 'missing') {
    try {
      await people.get('nobody');
    } catch (error) {
      const failure = error as Error;
      await socket.send(id, `${failure.constructor.name}: ${failure.message.split('\n')[0]}`);
    }
  } else if (text === 'ghost') {
    try {
      await socket.send('00000000-0000-4000-8000-000000000000', 'boo');
    } catch (error) {
      const failure = error as Error;
      await socket.send(id, `${failure.constructor.name}: ${failure.message.split('\n')[0]}`);
    }
  } else if (text.startsWith('echo ')) {
    await socket.send(id, text.slice(5));
  } else {
    const me = (await people.get(id)) as Person;
    for await (const other of people.keys()) {
      await socket.send(other, `${me.name}: ${text}`);
    }
  }
});
"#;

const CHAT_PY: &str = r#"from nitric.application import Nitric
from nitric.resources import kv, websocket

socket = websocket("chat")
people = kv("people").allow("get", "set", "delete")


@socket.on("connect")
async def connect(ctx):
    name = ctx.req.query.get("name", [None])[0]
    if not name:
        ctx.res.reject = True
        return ctx
    await people.set(ctx.req.connection_id, {"name": name})
    return ctx


@socket.on("disconnect")
async def disconnect(ctx):
    me = await people.get(ctx.req.connection_id)
    await people.delete(ctx.req.connection_id)
    async for other in people.keys():
        await socket.send(other, f"{me['name']} left".encode())
    return ctx


@socket.on("message")
async def message(ctx):
    me = ctx.req.connection_id
    text = ctx.req.data.decode()
    if text == "missing":
        try:
            await people.get("nobody")
        except Exception as error:
            await socket.send(me, f"{type(error).__name__}: {error}".encode())
    elif text == "ghost":
        try:
            await socket.send("00000000-0000-4000-8000-000000000000", b"boo")
        except Exception as error:
            await socket.send(me, f"{type(error).__name__}: {error}".encode())
    elif text.startswith("echo "):
        await socket.send(me, text[5:].encode())
    else:
        person = await people.get(me)
        async for other in people.keys():
            await socket.send(other, f"{person['name']}: {text}".encode())
    return ctx


Nitric.run()
"#;

/// What each SDK says for a missing key and an unknown connection id.
struct Expected {
    not_found: &'static str,
    unknown_connection: &'static str,
    has_close: bool,
}

const NODE: Expected = Expected {
    not_found: "NotFoundError: 5 NOT_FOUND: BoltDocService.Get document not found",
    unknown_connection: "UnknownError: 2 UNKNOWN: could not get connection 00000000-0000-4000-8000-000000000000",
    has_close: true,
};

const PYTHON: Expected = Expected {
    not_found: "NotFoundException: BoltDocService.Get document not found",
    unknown_connection: "UnknownException: could not get connection 00000000-0000-4000-8000-000000000000",
    has_close: false,
};

async fn chat_round(server: &TestServer, expected: &Expected) {
    // No name: the connect handler denies, answered as `nitric start` does.
    assert_eq!(server.refused_status("/").await, 500);
    let mut ann = server.connect("/?name=ann").await;
    let mut bob = server.connect("/?name=bob").await;
    send_text(&mut ann, "hi").await;
    assert_eq!(recv_text(&mut ann).await, "ann: hi");
    assert_eq!(recv_text(&mut bob).await, "ann: hi");
    send_text(&mut bob, "missing").await;
    assert_eq!(recv_text(&mut bob).await, expected.not_found);
    send_text(&mut bob, "ghost").await;
    assert_eq!(recv_text(&mut bob).await, expected.unknown_connection);
    if expected.has_close {
        // `socket.close` drops the connection without a close frame.
        send_text(&mut ann, "bye").await;
        expect_dropped_without_close_frame(&mut ann).await;
    } else {
        ann.close(None).await.expect("close");
    }
    assert_eq!(recv_text(&mut bob).await, "ann left");
    per_connection_order(server, 20, 20).await;
    let _ = bob.close(None).await;
}

async fn expect_dropped_without_close_frame(client: &mut Client) {
    loop {
        match tokio::time::timeout(WAIT, client.next())
            .await
            .expect("the connection ends in time")
        {
            Some(Ok(Message::Close(frame))) => panic!("expected no close frame, got {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return,
        }
    }
}

/// `clients` connections each send `messages` numbered echoes at once and
/// get them back in the order they sent them.
async fn per_connection_order(server: &TestServer, clients: usize, messages: usize) {
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let url = server.url(&format!("/?name=c{client_index}"));
        tasks.push(tokio::spawn(async move {
            let (mut client, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            for message in 0..messages {
                send_text(&mut client, &format!("echo {client_index}-{message}")).await;
            }
            for message in 0..messages {
                // Clients that finished first say goodbye to everyone.
                let mut reply = recv_text(&mut client).await;
                while reply.ends_with(" left") {
                    reply = recv_text(&mut client).await;
                }
                assert_eq!(reply, format!("{client_index}-{message}"));
            }
            let _ = client.close(None).await;
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("every echo in time")
            .expect("in order");
    }
}

#[tokio::test]
async fn a_node_service_runs_with_the_real_sdk() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let dir = project(&[("chat.mjs", CHAT_JS)], Some(&node_modules));
    let config = services_config(dir.path(), &["node chat.mjs"]);
    let server = TestServer::launch(dir, config).await;
    chat_round(&server, &NODE).await;
}

#[tokio::test]
async fn a_typescript_service_runs_through_tsx() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let tsx = node_modules.join(".bin/tsx");
    let dir = project(&[("chat.ts", CHAT_TS)], Some(&node_modules));
    let command = format!("{} chat.ts", tsx.display());
    let config = services_config(dir.path(), &[&command]);
    let server = TestServer::launch(dir, config).await;
    chat_round(&server, &NODE).await;
}

#[tokio::test]
async fn a_python_service_runs_with_the_real_sdk() {
    let Some(python) = nitric_python() else {
        return;
    };
    let dir = project(&[("chat.py", CHAT_PY)], None);
    let command = format!("{} chat.py", python.display());
    let config = services_config(dir.path(), &[&command]);
    let server = TestServer::launch(dir, config).await;
    chat_round(&server, &PYTHON).await;
}
