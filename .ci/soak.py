#!/usr/bin/env python3
"""Soak test: mixed traffic against a real `sockscope serve` for a while.

Workers connect, exchange text and binary echoes, write kv keys (each
acknowledged by the handler after the commit; each worker cycles through
2,000 keys, so the data set stops growing and RSS should too) and
disconnect, over and over.
The server's RSS is sampled every few seconds. At the end every
acknowledged key is read back, and the run fails on a lost write, a wrong
echo, a server panic or error line, or RSS growth after warm-up.

Usage: .ci/soak.py --duration 60 [--binary target/release/sockscope]
Needs Python >= 3.10 with `websockets` (.ci/run installs it).
"""
import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Totals:
    def __init__(self):
        self.connections = 0
        self.messages = 0
        self.acked = {}  # key -> last acknowledged sequence number
        self.writes = 0
        self.errors = []


async def worker(url, deadline, totals, seed):
    rng = random.Random(seed)
    sequence = 0
    while time.monotonic() < deadline:
        try:
            async with connect(f"{url}/?w={seed}", max_size=2**22) as ws:
                totals.connections += 1
                for _ in range(rng.randint(1, 40)):
                    choice = rng.random()
                    if choice < 0.4:
                        text = f"w{seed} {sequence} " + "x" * rng.randint(0, 2000)
                        await ws.send(text)
                        reply = await ws.recv()
                        if reply != text:
                            totals.errors.append(f"echo mismatch on w{seed}")
                    elif choice < 0.6:
                        # Never UTF-8, so the handler echoes it as bytes.
                        data = b"\xff" + os.urandom(rng.randint(0, 4096))
                        await ws.send(data)
                        if await ws.recv() != data:
                            totals.errors.append(f"binary echo mismatch on w{seed}")
                    else:
                        key = f"w{seed}-{sequence % 2000}"
                        await ws.send(f"set {key} {sequence}")
                        reply = await ws.recv()
                        if reply != f"ok {key} {sequence}":
                            totals.errors.append(f"bad ack {reply!r}")
                        else:
                            totals.acked[key] = sequence
                            totals.writes += 1
                    sequence += 1
                    totals.messages += 1
        except Exception as error:  # noqa: BLE001 - report and go on
            totals.errors.append(f"w{seed}: {type(error).__name__}: {error}")
            await asyncio.sleep(0.1)


async def verify(url, acked):
    """Every key holds its last acknowledged value."""
    missing = []
    items = sorted(acked.items())
    for start in range(0, len(items), 2000):
        batch = items[start:start + 2000]
        async with connect(f"{url}/?verify=1") as ws:
            for key, _ in batch:
                await ws.send(f"get {key}")
            for key, sequence in batch:
                reply = await ws.recv()
                if reply != f"val {key} {sequence}":
                    missing.append((key, reply))
    return missing


async def sample(pid, deadline, interval, samples):
    start = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - start, rss_kib(pid)))
        await asyncio.sleep(interval)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of traffic")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--interval", type=float, default=2, help="RSS sampling period, s")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/debug/sockscope"))
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="sockscope-soak-")
    stderr_path = os.path.join(workdir, "serve.stderr")
    with open(stderr_path, "w") as stderr:
        server = subprocess.Popen(
            [args.binary, "serve", "--quiet", "--port", "0",
             "--script", os.path.join(ROOT, "tests/clients/soak.js"),
             "--kv", os.path.join(workdir, "kv.redb"), "--binary-frames"],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("listening on "):
            sys.exit(f"serve did not start: {line!r}\n{open(stderr_path).read()}")
        url = line.removeprefix("listening on ").rstrip("/")
        totals = Totals()
        samples = []
        began = time.monotonic()
        deadline = began + args.duration
        await asyncio.gather(
            sample(server.pid, deadline, args.interval, samples),
            *(worker(url, deadline, totals, seed) for seed in range(args.workers)))
        elapsed = time.monotonic() - began
        missing = await verify(url, totals.acked)
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    log = open(stderr_path).read()
    problems = [line for line in log.splitlines() if re.search(r"panicked|ERROR", line)]

    rss = [kib for _, kib in samples]
    warm = rss[len(rss) // 5:] or rss
    quarter = max(1, len(warm) // 4)
    early, late = statistics.mean(warm[:quarter]), statistics.mean(warm[-quarter:])
    times = [t for t, _ in samples][len(rss) // 5:] or [0]
    slope = 0.0
    if len(warm) > 2 and len(set(times)) > 1:
        slope = statistics.linear_regression(times, warm).slope * 60
    print(f"soak: {elapsed:.0f} s, {args.workers} workers, {totals.connections} connections, "
          f"{totals.messages} messages ({totals.messages / elapsed:.0f}/s), "
          f"{totals.writes} acknowledged kv writes to {len(totals.acked)} keys")
    print(f"  RSS KiB: start {rss[0] if rss else 0}, after warm-up {early:.0f}, end {late:.0f}, "
          f"max {max(rss) if rss else 0}, trend {slope:+.0f} KiB/min over {len(rss)} samples")
    print(f"  lost kv writes: {len(missing)}; client errors: {len(totals.errors)}; "
          f"server panics/errors: {len(problems)}; server alive at the end: {alive}")
    failed = False
    for key, reply in missing[:10]:
        print(f"  LOST {key}: {reply}", file=sys.stderr)
    for error in totals.errors[:10]:
        print(f"  CLIENT {error}", file=sys.stderr)
    for line in problems[:10]:
        print(f"  SERVER {line}", file=sys.stderr)
    if missing or totals.errors or problems or not alive:
        failed = True
    if late > early * 1.25 and late - early > 16 * 1024:
        print(f"  RSS grew from {early:.0f} to {late:.0f} KiB after warm-up", file=sys.stderr)
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    asyncio.run(main())
