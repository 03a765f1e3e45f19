// The connection registry from the Nitric websocket guide, written so that
// concurrent connects cannot lose each other: the guide keeps every id in one
// 'connections' list (read, modify, write: two clients connecting at once
// both read the old list, and the second write drops the first's entry —
// sockscope warns "lost update" when that happens) and treats any kv error
// as "list missing". Here each connection is its own key, and only a
// NOT_FOUND error means absent (the SDK exports no error classes: the
// class shows as err.constructor.name, the status starts the message).
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('socket');
const connections = kv('connections').allow('get', 'set', 'delete');

const isNotFound = (error) => error.constructor.name === 'NotFoundError';

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
    if (!isNotFound(error)) throw error;
  }
});

// Relays every message to all other connections. A send can fail for a
// connection that is still connecting: its connect handler stored it, but
// Nitric registers a connection only once its upgrade is done.
socket.on('message', async (ctx) => {
  const message = ctx.req.text();
  const sends = [];
  for await (const connectionId of connections.keys()) {
    if (connectionId !== ctx.req.connectionId) sends.push(socket.send(connectionId, message));
  }
  const results = await Promise.allSettled(sends);
  const failed = results.filter((result) => result.status === 'rejected');
  if (failed.length > 0) console.warn(`${failed.length} relays failed: ${failed[0].reason.message.split('\n')[0]}`);
});
