// Echo: every text or binary message goes back to its sender unchanged.
import { websocket } from '@nitric/sdk';

const socket = websocket('echo');

socket.on('message', (ctx) => {
  socket.send(ctx.req.connectionId, ctx.req.data);
});
