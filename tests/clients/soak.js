// Soak-test handler (.ci/soak.py): echo, plus kv writes acknowledged only
// after the store committed them, and reads to verify them later.
//   "set KEY N" -> store {n: N} under KEY, reply "ok KEY N"
//   "get KEY"   -> reply "val KEY N" or "missing KEY"
//   anything else is echoed back (text or binary).
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('soak');
const store = kv('soak').allow('get', 'set', 'delete');

socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const text = typeof ctx.req.data === 'string' ? ctx.req.data : null;
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
    await socket.send(id, ctx.req.data);
  }
});
