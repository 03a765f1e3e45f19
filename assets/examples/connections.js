// The connection registry from the Nitric websocket guide, written so that
// concurrent connects cannot lose each other: the guide keeps every id in one
// 'connections' list (read, modify, write: two clients connecting at once
// overwrite each other's entry) and treats any kv error as "list missing".
// Here each connection is its own key, and only NotFoundError means absent.
import { websocket, kv, NotFoundError } from '@nitric/sdk';

const socket = websocket('socket');
const connections = kv('connections').allow('get', 'set', 'delete');

socket.on('connect', async (ctx) => {
  await connections.set(ctx.req.connectionId, {
    connectionId: ctx.req.connectionId,
    query: ctx.req.query,
  });
});

socket.on('disconnect', async (ctx) => {
  try {
    await connections.delete(ctx.req.connectionId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
});

// Relays every message to all other connections.
socket.on('message', async (ctx) => {
  const message = ctx.req.text();
  const sends = [];
  for await (const connectionId of connections.keys()) {
    if (connectionId !== ctx.req.connectionId) sends.push(socket.send(connectionId, message));
  }
  const results = await Promise.allSettled(sends);
  const failed = results.filter((result) => result.status === 'rejected');
  if (failed.length > 0) console.warn(`${failed.length} relays failed: ${failed[0].reason.message}`);
});
