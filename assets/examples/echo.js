// Echo: every message goes back to its sender.
//
//   websocat ws://127.0.0.1:4001/
import { websocket } from '@nitric/sdk';

const socket = websocket('echo');

// Nitric refuses upgrades to a socket without a connect handler, so even
// a socket that lets everyone in registers one.
socket.on('connect', () => {});

// `ctx.req.data` is the message's bytes (a Uint8Array), text or binary.
// Nitric's gateway sends them back as a text frame (bytes that are not
// UTF-8 become a notice); sockscope --binary-frames sends binary frames.
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.data));
