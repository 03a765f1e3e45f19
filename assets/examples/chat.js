// Chat room: clients join with ?name=, everyone hears joins, leaves and
// messages. Membership lives in kv('members'), one key per connection.
//
//   websocat 'ws://127.0.0.1:4001/?name=ann'
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('chat');
const members = kv('members').allow('get', 'set', 'delete');

// Sends to every member except `exceptId`. A send fails for a member that
// is not connected: one left over from an earlier run (kv outlives the
// server), or one still connecting — its connect handler stored it, but
// Nitric registers a connection only once its upgrade is done. So a failed
// send is reported, not treated as "gone" (the disconnect handler cleans up).
async function broadcast(message, exceptId) {
  for await (const connectionId of members.keys()) {
    if (connectionId === exceptId) continue;
    try {
      await socket.send(connectionId, message);
    } catch (error) {
      console.warn(`could not reach ${connectionId}: ${error.message.split('\n')[0]}`);
    }
  }
}

socket.on('connect', async (ctx) => {
  const name = (ctx.req.query.name ?? [])[0]?.trim();
  if (!name) {
    console.warn(`refusing ${ctx.req.connectionId}: no ?name= in the query`);
    ctx.res.success = false;
    return ctx;
  }
  await broadcast({ type: 'joined', name }, ctx.req.connectionId);
  await members.set(ctx.req.connectionId, { name });
  console.log(`${name} joined`);
});

socket.on('message', async (ctx) => {
  const { name } = await members.get(ctx.req.connectionId);
  await broadcast({ type: 'message', from: name, text: ctx.req.text() });
});

socket.on('disconnect', async (ctx) => {
  const { name } = await members.get(ctx.req.connectionId);
  await members.delete(ctx.req.connectionId);
  await broadcast({ type: 'left', name });
  console.log(`${name} left`);
});
