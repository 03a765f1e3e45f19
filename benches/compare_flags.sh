#!/usr/bin/env bash
# Same-run comparison of one build under several flag sets, plus Node's `ws`
# echo when NODE_PATH holds `ws`, with the load generator as a process of its
# own (`sockscope bench`, 50 connections, window 16). Rounds alternate the
# servers; each line gives msg/s and the server's CPU per message (/proc).
#
#   benches/compare_flags.sh ROUNDS MESSAGES "label|flags" ["label|flags" ...]
#   env: HOG=1 (a shell spin loop beside it), PATTERN=trickle|burst, SIZE=32,
#        BIN=target/release/sockscope, NODE_PATH=.../node_modules
# e.g. HOG=1 benches/compare_flags.sh 6 3000 "default|" "low-cpu|--low-cpu"
set -uo pipefail
rounds=$1; messages=$2; shift 2
bin=${BIN:-target/release/sockscope}; size=${SIZE:-32}; pattern=${PATTERN:-trickle}
echo_js=assets/examples/echo.js
tmp=$(mktemp -d)
hog=""
cleanup() { [ -n "$hog" ] && kill "$hog" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -n "${HOG:-}" ]; then sh -c 'while :; do :; done' & hog=$!; fi
servers=("$@")
if [ -n "${NODE_PATH:-}" ] && command -v node >/dev/null; then
  cat > "$tmp/echo.js" <<'JS'
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));
JS
  servers+=("node|")
fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq "$rounds"); do
  for server in "${servers[@]}"; do
    label=${server%%|*}; flags=${server#*|}
    if [ "$label" = node ]; then
      node "$tmp/echo.js" > "$tmp/out" 2>&1 &
    else
      # shellcheck disable=SC2086
      "$bin" serve -q --script "$echo_js" --kv :memory: --port 0 $flags > "$tmp/out" 2>&1 &
    fi
    pid=$!
    url=""
    for _ in $(seq 100); do
      url=$(grep -m1 -o 'ws://[0-9.:]*' "$tmp/out" 2>/dev/null || true)
      [ -n "$url" ] && break
      sleep 0.1
    done
    before=$(cpu_ticks "$pid")
    report=$("$bin" bench --url "$url" --connections 50 --messages "$messages" --size "$size" \
      --window 16 --pattern "$pattern" --json 2>/dev/null)
    after=$(cpu_ticks "$pid")
    kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rate=$(echo "$report" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["messages_per_second"]))' 2>/dev/null || echo "?")
    cpu=$(python3 -c "print(round(($after - $before) * 1e6 / $(getconf CLK_TCK) / (50 * $messages), 2))")
    echo "round $round $label: $rate msg/s, server CPU $cpu µs/msg"
  done
done
