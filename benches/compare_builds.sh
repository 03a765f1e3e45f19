#!/usr/bin/env bash
# Same-run comparison of two sockscope builds (before and after a change):
# both serve echo.js (quiet, :memory:) at once, and the same loads alternate
# between them, the order flipping every round, so drift on a noisy machine
# hits both alike. Prints msg/s per round; compare the medians.
#
#   benches/compare_builds.sh OLD_BINARY NEW_BINARY ROUNDS assets/examples/echo.js
set -euo pipefail
old=$1; new=$2; rounds=${3:-5}; echo_js=$4; gen=$new
start() {
  local bin=$1 out=$2
  "$bin" serve --script "$echo_js" --port 0 --kv :memory: -q > "$out" 2>/dev/null &
  echo $!
}
url_of() { for _ in $(seq 100); do l=$(head -1 "$1" 2>/dev/null || true); [ -n "$l" ] && { echo "${l#listening on }"; return; }; sleep 0.1; done; }
po=$(start "$old" ${TMPDIR:-/tmp}/sockscope-ab-old.out); pn=$(start "$new" ${TMPDIR:-/tmp}/sockscope-ab-new.out)
trap 'kill $po $pn 2>/dev/null' EXIT
uo=$(url_of ${TMPDIR:-/tmp}/sockscope-ab-old.out); un=$(url_of ${TMPDIR:-/tmp}/sockscope-ab-new.out)
for load in "50 4000 32" "100 200 16384"; do
  set -- $load
  for r in $(seq "$rounds"); do
    order="old new"; [ $((r % 2)) -eq 0 ] && order="new old"
    for which in $order; do
      u=$uo; [ $which = new ] && u=$un
      rate=$("$gen" bench --url "$u" --connections $1 --messages $2 --size $3 --window 16 --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["messages_per_second"]))')
      echo "$3B round $r $which $rate"
    done
  done
done
