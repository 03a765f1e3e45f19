// Drives the chat example with Node's `ws` client.
// Usage: node chat_node.cjs ws://HOST:PORT   (with `ws` resolvable, e.g. NODE_PATH)
// Prints one line per observation; the Rust test compares them exactly.
const WebSocket = require('ws');

const url = process.argv[2];

function denied() {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/`);
    ws.on('unexpected-response', (_req, res) => resolve(`denied ${res.statusCode}`));
    ws.on('open', () => { ws.close(); resolve('accepted without a name'); });
    ws.on('error', (error) => resolve(`error ${error.message}`));
  });
}

function chat() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/?name=ann%20node&room=a&room=b`);
    const lines = [];
    let step = 0;
    ws.on('open', () => {
      lines.push('open');
      ws.send('hello');
    });
    ws.on('message', (data, isBinary) => {
      lines.push(`recv ${isBinary ? 'binary' : 'text'} ${data.toString()}`);
      step += 1;
      if (step === 1) ws.send(Buffer.from('bin \u2713'), { binary: true });
      else ws.close(1000, 'bye');
    });
    ws.on('close', (code) => {
      lines.push(`closed ${code}`);
      resolve(lines);
    });
    ws.on('error', reject);
  });
}

(async () => {
  console.log(await denied());
  for (const line of await chat()) console.log(line);
})().catch((error) => {
  console.log(`failed ${error.message}`);
  process.exit(1);
});
