"""A third-party websocket server for the proxy tests (Python `websockets`).

Prints `port N` once listening. Paths:
  /info...   first sends what the request carried (JSON), then echoes
  /hello     first sends two messages of its own, then echoes
  /close     closes with 4001 "bye from target" after the first message
  /drop      after the first message, writes half a frame and drops TCP
  /refuse    answers 401 with a body and WWW-Authenticate
  /lastclose sends the close code and reason of the last connection that ended
  /flood     on a message "N" (or "N SIZE"), sends "0:" … "N-1:" (each 4 KiB,
             or SIZE bytes) and "done" at once
  /pings     notes every text, ping and pong it gets, in order; on "burst"
             sends "one", a ping "from target", an unsolicited pong
             "heartbeat" and "two"; on "seen" sends its notes (JSON list)
  anything else: echoes (text upper-cased with --upper: a changed server)
Flags: --upper, --port N, --tls CERT KEY (serve wss://).
"""

import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

UPPER = "--upper" in sys.argv
PORT = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0
LAST_CLOSE = {"code": None, "reason": None}
TLS = None
if "--tls" in sys.argv:
    at = sys.argv.index("--tls")
    TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS.load_cert_chain(sys.argv[at + 1], sys.argv[at + 2])


def process_request(connection, request):
    if request.path.startswith("/refuse"):
        response = connection.respond(401, "no token, no entry\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="test"'
        return response
    return None


async def pings(ws):
    seen = []
    process_event = ws.process_event

    def noting(event):
        if event.opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG):
            seen.append(f"{event.opcode.name.lower()} {bytes(event.data).decode()}")
        process_event(event)

    ws.process_event = noting
    async for message in ws:
        if message == "burst":
            await ws.send("one")
            await ws.ping("from target")
            await ws.pong("heartbeat")
            await ws.send("two")
        elif message == "seen":
            await ws.send(json.dumps(seen))


async def handler(ws):
    request = ws.request
    path, _, query = request.path.partition("?")
    if path == "/pings":
        try:
            await pings(ws)
        except ConnectionClosed:
            pass
        return
    if path.startswith("/info"):
        headers = request.headers
        await ws.send(json.dumps({
            "path": path,
            "query": query,
            "subprotocol": ws.subprotocol,
            "origin": headers.get("Origin"),
            "cookie": headers.get("Cookie"),
            "authorization": headers.get("Authorization"),
            "user_agent": headers.get("User-Agent"),
            "extensions": headers.get("Sec-WebSocket-Extensions"),
            "x_hop": headers.get("X-Hop"),
        }, sort_keys=True))
    elif path == "/lastclose":
        await ws.send(json.dumps(LAST_CLOSE, sort_keys=True))
    elif path == "/hello":
        await ws.send("hello 1")
        await ws.send("hello 2")
    try:
        async for message in ws:
            if path == "/close":
                await ws.close(4001, "bye from target")
                return
            if path == "/flood":
                count, _, size = message.partition(" ")
                for i in range(int(count)):
                    await ws.send(f"{i}:".ljust(int(size or 4096), "x"))
                await ws.send("done")
                continue
            if path == "/drop":
                ws.transport.write(b"\x82\x7e\x10\x00" + b"x" * 100)
                ws.transport.abort()
                return
            if UPPER and isinstance(message, str):
                message = message.upper()
            await ws.send(message)
    except ConnectionClosed:
        pass
    received = ws.protocol.close_rcvd
    if path != "/lastclose":
        LAST_CLOSE["code"] = received.code if received else None
        LAST_CLOSE["reason"] = received.reason if received else None


def select_subprotocol(connection, subprotocols):
    for wanted in ("chat.v2", "chat.v1"):
        if wanted in subprotocols:
            return wanted
    return None


async def main():
    async with serve(
        handler,
        "127.0.0.1",
        PORT,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        max_size=4 * 1024 * 1024,
        ssl=TLS,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await server.serve_forever()


asyncio.run(main())
