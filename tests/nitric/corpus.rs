//! The handler files the differential tests run in both lanes: the bundled
//! examples and one file per part of the SDK surface.

pub(super) const MIDDLEWARE_JS: &str = r#"import { websocket, createHandler } from '@nitric/sdk';
const socket = websocket('mw');
const auth = async (ctx, next) => {
  if ((ctx.req.query.token ?? [])[0] !== 'secret') {
    ctx.res.success = false;
    return ctx;
  }
  return next(ctx);
};
const tag = (ctx, next) => {
  ctx.req.tagged = true;
  return next(ctx);
};
socket.on('connect', auth, tag, (ctx) => {
  if (ctx.req.query.mode) return 'not a context';
  if (!ctx.req.tagged) ctx.res.success = false;
});
socket.on('message', createHandler(
  async (ctx, next) => (await next(ctx)) || ctx,
  (ctx) => { socket.send(ctx.req.connectionId, `got ${ctx.req.text()} ${ctx.req.tagged}`); },
));
"#;

pub(super) const BROADCAST_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
// The Nitric docs' messaging service.
const socket = websocket('example-websocket');
const connections = kv('connections').allow('get', 'set', 'delete');
socket.on('connect', async (ctx) => {
  await connections.set(ctx.req.connectionId, {});
});
socket.on('disconnect', async (ctx) => {
  await connections.delete(ctx.req.connectionId);
});
socket.on('message', async (ctx) => {
  const message = ctx.req.text();
  for await (const connectionId of connections.keys()) {
    await socket.send(connectionId, message);
  }
});
"#;

pub(super) const VALUES_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('values');
const store = kv('values').allow('get', 'set', 'delete');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const body = ctx.req.json();
  if (body.op === 'types') {
    await socket.send(id, `${typeof ctx.req.data} ${ctx.req.data.constructor.name} ${ctx.req.data.length} ${ctx.req.eventType} ${ctx.req.socket}`);
  } else if (body.op === 'objects') {
    await socket.send(id, { b: 1, a: [1, 'x', null], nested: { z: true, y: 2.5 } });
    await socket.send(id, 42);
    await socket.send(id, null);
    await socket.send(id, undefined);
    await socket.send(id, new Uint16Array([1, 2]));
  } else if (body.op === 'store') {
    await store.set('arr', ['p', 'q']);
    await store.set('str', 'hi');
    await store.set('num', 7);
    await store.set('obj', { z: 1, a: { d: 4, c: 3 }, when: new Date(0), list: [{ y: 1, x: 2 }] });
    for (const key of ['arr', 'str', 'num', 'obj']) {
      await socket.send(id, JSON.stringify(await store.get(key)));
    }
  } else if (body.op === 'bad') {
    for (const value of [{ f: undefined }, { g: () => 1 }]) {
      try {
        await store.set('bad', value);
        await socket.send(id, 'stored');
      } catch (e) {
        await socket.send(id, `${e.constructor.name}: ${e.message}`);
      }
    }
  }
});
"#;

pub(super) const THROWS_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('throws');
socket.on('connect', (ctx) => {
  if (ctx.req.query.fail) throw new Error('refused by a throw');
});
socket.on('message', async (ctx) => {
  const text = ctx.req.text();
  if (text === 'upper') {
    // The docs' habit from v0: data was a string. Now a TypeError.
    await socket.send(ctx.req.connectionId, ctx.req.data.toUpperCase());
  } else if (text === 'reject') {
    await Promise.reject(new Error('nope'));
  } else {
    await socket.send(ctx.req.connectionId, `ok ${text} ${ctx.req.data}`);
  }
});
"#;

pub(super) const CLOSE_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('closer');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  if (ctx.req.text() === 'bye') await socket.close(ctx.req.connectionId);
  else await socket.send(ctx.req.connectionId, 'still here');
});
"#;

pub(super) const COUNTER_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('counter');
const counters = kv('counters').allow('get', 'set');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  let count = 0;
  try {
    ({ count } = await counters.get('total'));
  } catch (e) {
    if (e.constructor.name !== 'NotFoundError') throw e;
  }
  await counters.set('total', { count: count + 1 });
  await socket.send(ctx.req.connectionId, `count ${count + 1}`);
});
"#;

pub(super) const ERRORS_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('errors');
const store = kv('things').allow('get', 'delete');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const report = async (what, promise, full) => {
    try {
      await promise;
      await socket.send(id, `${what}: no error`);
    } catch (e) {
      const message = full ? e.message : e.message.split('\n')[0];
      await socket.send(id, `${what}: ${e.name}/${e.constructor.name}: ${message}`);
    }
  };
  await report('get', store.get('missing'), true);
  await report('delete', store.delete('missing'));
  await report('set', store.set('k', { a: 1 }));
  await report('send', socket.send('00000000-0000-4000-8000-000000000000', 'x'));
  await report('close', socket.close('00000000-0000-4000-8000-000000000000'));
  await socket.send(id, (await socket.url()).startsWith('ws://') ? 'url ok' : 'url?');
});
"#;

pub(super) const QUERY_JS: &str = r#"import { websocket, kv } from '@nitric/sdk';
const socket = websocket('query');
const store = kv('queries').allow('get', 'set');
socket.on('connect', async (ctx) => {
  await store.set(ctx.req.connectionId, { query: ctx.req.query, keys: Object.keys(ctx.req.query) });
});
socket.on('message', async (ctx) => {
  const { query, keys } = await store.get(ctx.req.connectionId);
  await socket.send(ctx.req.connectionId, `${JSON.stringify(query)} ${keys.join()}`);
});
"#;

pub(super) const THREE_SOCKETS_JS: &str = r#"import { websocket } from '@nitric/sdk';
const chat = websocket('chat');
const feed = websocket('feed');
const closed = websocket('closed');
chat.on('connect', () => {});
chat.on('message', (ctx) => chat.send(ctx.req.connectionId, `chat got ${ctx.req.text()} on ${ctx.req.socket}`));
feed.on('connect', () => {});
feed.on('message', (ctx) => feed.send(ctx.req.connectionId, `feed got ${ctx.req.text()} on ${ctx.req.socket}`));
closed.on('connect', (ctx) => {
  ctx.res.success = false;
});
"#;

pub(super) const ECHO_JS: &str = include_str!("../../assets/examples/echo.js");

pub(super) const CHAT_JS: &str = include_str!("../../assets/examples/chat.js");

pub(super) const CONNECTIONS_JS: &str = include_str!("../../assets/examples/connections.js");

/// A TypeScript project as Nitric users lay one out: resources in their
/// own module, types imported as types, a service that uses generics,
/// `as`, `!`, an enum and a namespace.
pub(super) const TS_TYPES: &str = r#"export interface Member {
  name: string;
  joined: number;
}
export type Reply<T> = { kind: string; body: T };
"#;

pub(super) const TS_RESOURCES: &str = r#"import { websocket, kv } from '@nitric/sdk';
import type { Member } from '../types';

export enum Kind {
  Joined = 1,
  Said,
}

export namespace Names {
  export const anonymous: string = 'anon';
}

export const socket = websocket('chat');
export const members = kv<Member>('members').allow('get', 'set', 'delete');
"#;

pub(super) const TS_SERVICE: &str = r#"import { Member, Reply } from '../types';
import { socket, members, Kind, Names } from '../resources';

function reply<T>(kind: Kind, body: T): Reply<T> {
  return { kind: Kind[kind], body };
}

socket.on('connect', async (ctx) => {
  const name = (ctx.req.query['name'] ?? [Names.anonymous])[0] as string;
  if (name === 'nobody') {
    ctx.res.success = false;
    return ctx;
  }
  const member: Member = { name, joined: Kind.Joined };
  await members.set(ctx.req.connectionId, member);
  return ctx;
});

socket.on('message', async (ctx) => {
  const me = (await members.get(ctx.req.connectionId)) as Member | undefined;
  const text: string = ctx.req.text();
  await socket.send(ctx.req.connectionId, JSON.stringify(reply(Kind.Said, `${me!.name}: ${text}`)));
  return ctx;
});

socket.on('disconnect', async (ctx) => {
  await members.delete(ctx.req.connectionId);
  return ctx;
});
"#;

pub(super) const TOPICS_JS: &str = r#"import { websocket, kv, topic, topics } from '@nitric/sdk';
const socket = websocket('pubsub');
const members = kv('members').allow('get', 'set', 'delete');
const updates = topic('updates');
const publisher = updates.allow('publish');
socket.on('connect', async (ctx) => { await members.set(ctx.req.connectionId, {}); });
socket.on('disconnect', async (ctx) => { await members.delete(ctx.req.connectionId); });
socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const body = ctx.req.json();
  if (body.op === 'publish') {
    await publisher.publish({ z: 1, a: { y: [1, 'x', null], b: true }, n: 2.5, text: body.text, list: ['p', 'q'] });
  } else if (body.op === 'later') {
    await publisher.publish({ text: 'later' }, { delay: 1 });
    await topics().topic('updates').publish({ text: 'now' });
  } else if (body.op === 'array') {
    await publisher.publish(['an', 'array']);
  } else if (body.op === 'string') {
    await publisher.publish('str');
  } else if (body.op === 'bad') {
    for (const make of [() => publisher.publish({ f: undefined }), () => topic('t').allow('subscribe'), () => topic('t').for('publishing', 'x')]) {
      try {
        await make();
        await socket.send(id, 'no error');
      } catch (e) {
        await socket.send(id, `${e.constructor.name}: ${e.message}`);
      }
    }
  }
});
updates.subscribe(async (ctx) => {
  const keys = [];
  for await (const key of members.keys()) keys.push(key);
  for (const key of keys) {
    await socket.send(key, `${ctx.req.topic} ${typeof ctx.req.data} ${ctx.req.data} ${ctx.res.success} ${ctx.message === ctx}`);
  }
});
updates.subscribe((ctx) => {
  if (ctx.req.json().text === 'boom') throw new Error('the second subscriber fails');
  ctx.res.success = false;
});
"#;
