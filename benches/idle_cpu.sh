#!/bin/bash
# Idle CPU of the window, per tab: the chat example under Xvfb at WIDTHxHEIGHT,
# CLIENTS chat clients connected (each says hello once, then stays quiet),
# one tab clicked, then the CPU time the process uses in 10 idle seconds.
#
#   benches/idle_cpu.sh [WIDTH HEIGHT]        (default 1600 1000)
#
# Needs Xvfb, xdotool and a Python with `websockets` (SOCKSCOPE_PYTHON, as
# the real-client tests use). Uses the debug build unless SOCKSCOPE_BIN
# names another. Prints one line per tab: ticks in 10 s and % of one core.
set -eu
WIDTH=${1:-1600}
HEIGHT=${2:-1000}
CLIENTS=${CLIENTS:-10}
BIN=${SOCKSCOPE_BIN:-${CARGO_TARGET_DIR:-target}/debug/sockscope}
PYTHON=${SOCKSCOPE_PYTHON:-python3}
DISPLAY_NUMBER=${IDLE_DISPLAY:-:97}
PORT=${IDLE_PORT:-4197}
HERE=$(cd "$(dirname "$0")/.." && pwd)
TICKS_PER_SECOND=$(getconf CLK_TCK)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/clients.py" <<'EOF'
import asyncio, sys, websockets
port, count, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
async def main():
    sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/?name=u{i}") for i in range(count)]
    for i, socket in enumerate(sockets):
        await socket.send('{"type":"hello","args":[%d]}' % i)
    # Read what arrives, so keepalive pings are answered and nobody times out.
    async def drain(socket):
        async for _ in socket:
            pass
    readers = [asyncio.create_task(drain(socket)) for socket in sockets]
    await asyncio.sleep(hold)
asyncio.run(main())
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Tab name and its x position in the tab bar at 1600 px (the default layout).
measure() {
    local tab=$1 x=$2 y=45
    HOME="$WORK/home-$tab" && mkdir -p "$HOME" && export HOME
    Xvfb "$DISPLAY_NUMBER" -screen 0 "${WIDTH}x${HEIGHT}x24" >/dev/null 2>&1 &
    local xvfb=$!
    sleep 1
    export DISPLAY=$DISPLAY_NUMBER
    "$BIN" --script "$HERE/assets/examples/chat.js" --port "$PORT" --kv :memory: >"$WORK/app.log" 2>&1 &
    local app=$!
    sleep 4
    local window
    window=$(xdotool search --name sockscope | head -1)
    xdotool windowmove "$window" 0 0 windowsize "$window" "$WIDTH" "$HEIGHT"
    "$PYTHON" "$WORK/clients.py" "$PORT" "$CLIENTS" 25 &
    local clients=$!
    sleep 3
    # A press and a release a moment apart: egui misses a zero-length click.
    xdotool mousemove "$x" "$y"; sleep 0.5; xdotool mousemove $((x + 1)) "$y"; sleep 0.3
    xdotool mousedown 1; sleep 0.15; xdotool mouseup 1
    xdotool mousemove $((WIDTH - 5)) $((HEIGHT - 5))
    sleep 3
    local before after
    before=$(cpu_ticks "$app")
    sleep 10
    after=$(cpu_ticks "$app")
    local ticks=$((after - before))
    echo "$tab: $ticks ticks in 10 s = $(awk -v t="$ticks" -v hz="$TICKS_PER_SECOND" 'BEGIN { printf "%.1f", 100 * t / hz / 10 }')% of a core"
    kill "$clients" "$app" 2>/dev/null || true
    sleep 0.5
    kill "$xvfb" 2>/dev/null || true
    wait 2>/dev/null || true
}

for tab in "Connections 63" "Clients 159" "Intercept 226" "Messages 741" "KV 794" \
    "Script 834" "Services 890" "Log 941" "Sessions 991" "Plot 1044"; do
    measure $tab
done
