// Soak-test handler (.ci/soak.py): echo, plus kv writes acknowledged only
// after the store committed them, and reads to verify them later.
//   "set KEY"  -> store KEY, reply "ok KEY"
//   "get KEY"  -> reply "val KEY JSON" or "missing KEY"
//   anything else is echoed back (text or binary).
import { websocket, kv, NotFoundError } from '@nitric/sdk';

const socket = websocket('soak');
const store = kv('soak').allow('get', 'set', 'delete');

socket.on('message', async (ctx) => {
  const id = ctx.req.connectionId;
  const text = typeof ctx.req.data === 'string' ? ctx.req.data : null;
  if (text?.startsWith('set ')) {
    const key = text.slice(4);
    await store.set(key, { key, at: Date.now() });
    await socket.send(id, `ok ${key}`);
  } else if (text?.startsWith('get ')) {
    const key = text.slice(4);
    try {
      const value = await store.get(key);
      await socket.send(id, `val ${key} ${JSON.stringify(value.key)}`);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      await socket.send(id, `missing ${key}`);
    }
  } else {
    await socket.send(id, ctx.req.data);
  }
});
