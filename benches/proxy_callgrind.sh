#!/usr/bin/env bash
# Instructions `sockscope proxy` runs per proxied round trip, counted by
# callgrind, which a busy machine does not disturb. One connection, window 1:
# every message crosses the proxy alone, as a trickle client's does. Two
# runs, ROUND_TRIPS round trips and 1; their difference over ROUND_TRIPS - 1
# is the cost of one round trip (start, handshake and shutdown cancel out).
# memset is reported apart: valgrind counts a `rep stosb` once per byte, so
# that figure is bytes zeroed (tungstenite zero-fills its read buffer before
# every read), not time.
#
# usage: benches/proxy_callgrind.sh [SOCKSCOPE_BINARY] [ROUND_TRIPS]
#   defaults: $CARGO_TARGET_DIR/release/sockscope (or target/...), 3000.
#   Needs valgrind, and `cargo bench --bench proxy --no-run` first: that
#   bench binary is the raw echo server the proxy forwards to.
set -euo pipefail

target_dir=${CARGO_TARGET_DIR:-target}
binary=${1:-$target_dir/release/sockscope}
round_trips=${2:-3000}
echo_binary=$(ls -t "$target_dir"/release/deps/proxy-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

SOCKSCOPE_BENCH_RAW_ECHO_SERVER=1 "$echo_binary" >"$work/echo.out" &
until grep -q listening "$work/echo.out" 2>/dev/null; do sleep 0.1; done
echo_url=$(sed 's/listening on //' "$work/echo.out")

# Prints "instructions memset_bytes" of one proxy run under a load of N round trips.
count() {
    local round_trips=$1 out="$work/callgrind.$1"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$binary" proxy -q --port 0 --target "$echo_url" >"$work/proxy.out" 2>/dev/null &
    local proxy=$!
    until grep -q listening "$work/proxy.out" 2>/dev/null; do sleep 0.2; done
    "$binary" bench --url "$(sed 's/listening on //' "$work/proxy.out")" \
        --connections 1 --window 1 --messages "$round_trips" --size 32 >/dev/null
    kill -INT $proxy
    wait $proxy || true
    rm -f "$work/proxy.out"
    callgrind_annotate "$out" 2>/dev/null | awk '
        /PROGRAM TOTALS/ && !total { gsub(",", "", $1); total = $1 }
        /memset/ { gsub(",", "", $1); memset += $1 }
        END { print total, memset + 0 }'
}

read -r many many_memset < <(count "$round_trips")
read -r one one_memset < <(count 1)
awk -v binary="$binary" -v n="$round_trips" -v a="$many" -v am="$many_memset" \
    -v b="$one" -v bm="$one_memset" 'BEGIN {
    printf "%s: per proxied round trip of 32 B, %d instructions (memset excluded), %d bytes zeroed\n",
        binary, ((a - am) - (b - bm)) / (n - 1), (am - bm) / (n - 1)
}'
