// Soak-test handler (.ci/soak.py): echo, plus kv writes acknowledged only
// after the store committed them, and reads to verify them later.
//   "set KEY N" -> store {n: N} under KEY, reply "ok KEY N"
//   "get KEY"   -> reply "val KEY N" or "missing KEY"
//   anything else is echoed back: text as text, bytes that are not UTF-8 as
//   bytes (the soak runs with --binary-frames, so they stay binary frames).
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('soak');
const store = kv('soak').allow('get', 'set', 'delete');

socket.on('connect', () => {});

socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  // The SDK gives text and binary frames alike as bytes.
  const decoded = ctx.req.text();
  const text = decoded.includes('\uFFFD') ? null : decoded;
  if (text?.startsWith('set ')) {
    const [key, n] = text.slice(4).split(' ');
    await store.set(key, { n: Number(n), at: Date.now() });
    await socket.send(id, `ok ${key} ${n}`);
  } else if (text?.startsWith('get ')) {
    const key = text.slice(4);
    try {
      const value = await store.get(key);
      await socket.send(id, `val ${key} ${value.n}`);
    } catch (error) {
      if (error.constructor.name !== 'NotFoundError') throw error;
      await socket.send(id, `missing ${key}`);
    }
  } else {
    await socket.send(id, text ?? ctx.req.data);
  }
});
