"""Drives the chat example with Python's `websockets` client (sync API).

Usage: chat_python.py ws://HOST:PORT
Prints one line per observation; the Rust test compares them exactly.
"""
import sys

from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

url = sys.argv[1]

try:
    connect(url + "/").close()
    print("accepted without a name")
except InvalidStatus as error:
    print(f"denied {error.response.status_code}")

with connect(url + "/?name=ann%20py&room=a&room=b") as ws:
    print("open")
    ws.send("hello")
    print(f"recv text {ws.recv()}")
    ws.send("bin \u2713".encode())
    print(f"recv text {ws.recv()}")
    ws.close(1000, "bye")
    try:
        ws.recv()
    except ConnectionClosedOK as closed:
        print(f"closed {closed.rcvd.code}")
