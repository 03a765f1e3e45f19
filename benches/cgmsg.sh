#!/usr/bin/env bash
# Instructions per echoed message, per thread: callgrind on `serve -q` under
# two trickle loads (50 conns x A and x B messages); the difference / (50*(B-A)).
# usage: cgmsg.sh BINARY [SCRIPT] [SIZE] [extra serve flags...]
set -u
bin=$1; script=${2:-"$(dirname "$0")/../assets/examples/echo.js"}; size=${3:-32}; extra=("${@:4}")
port=$((47100 + RANDOM % 800))
declare -A totals
for msgs in 200 600; do
  out=/tmp/cgm.$msgs.$$
  rm -f $out*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$out "$bin" serve ${QUIET--q} --script "$script" --kv :memory: --port $port "${extra[@]}" > /tmp/cgm.log 2>&1 &
  vpid=$!
  for i in $(seq 1 60); do grep -q listening /tmp/cgm.log && break; sleep 0.5; done
  "$bin" bench --url ws://127.0.0.1:$port --connections 50 --messages $msgs --size $size --window 16 --pattern trickle > /dev/null 2>&1
  # One SIGINT; a graceful stop under valgrind takes seconds. Resend only
  # if it is still running after 20 s.
  for i in 1 2 3; do
    kill -INT $vpid 2>/dev/null || break
    for j in $(seq 1 40); do kill -0 $vpid 2>/dev/null || break 2; sleep 0.5; done
    echo "resent SIGINT" >&2
  done
  wait $vpid
  for f in $out-*; do
    t=${f##*-}
    n=$(callgrind_annotate $f 2>/dev/null | grep "PROGRAM TOTALS" | awk '{gsub(",","",$1); print $1}')
    totals[$msgs.$t]=$n
  done
  port=$((port+1))
done
for t in 01 02 03 04 05 06; do
  a=${totals[200.$t]:-}; b=${totals[600.$t]:-}
  [ -n "$a" ] && [ -n "$b" ] && echo "thread $t: $(( (b - a) / 20000 )) instr/msg"
done
