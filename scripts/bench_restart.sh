#!/usr/bin/env bash
# Restart time of a server with 100 partitions after a clean shutdown, at two data
# sizes: the time from starting `eventlog serve` until it answers `topic list`
# (client start included), the median of three restarts at each size.
#
# usage: scripts/bench_restart.sh [BIN]
# env:   PORT=50163 SMALL=2000000 LARGE=18000000 (records of 100 bytes in all)
# prints one line: ours label=restart cmd="..." json={...}
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-${CARGO_TARGET_DIR:-$PWD/target}/release/eventlog}"
PORT="${PORT:-50163}"; SMALL="${SMALL:-2000000}"; LARGE="${LARGE:-18000000}"
SERVER="http://127.0.0.1:$PORT"
DATA="$(mktemp -d)"; SPID=""
trap '[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT

start() {
  "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --fsync never 2>>"$DATA.log" &
  SPID=$!
}
stop() { kill -TERM "$SPID"; wait "$SPID" || true; SPID=""; }
fill() { # $1 = records to add
  start
  until "$BIN" topic list --server "$SERVER" >/dev/null 2>&1; do sleep 0.05; done
  "$BIN" bench produce --topic many --partitions 100 --producers 4 --records "$1" \
    --record-size 100 --batch 1000 --server "$SERVER" --json >/dev/null
  stop
}
restart_ms() { # median of three restarts, in ms
  local t
  for _ in 1 2 3; do
    local t0; t0=$(date +%s%N)
    start
    until "$BIN" topic list --server "$SERVER" >/dev/null 2>&1; do sleep 0.005; done
    t=$(( ($(date +%s%N) - t0) / 1000000 ))
    stop
    echo "$t"
  done | sort -n | sed -n 2p
}

fill "$SMALL"
small_bytes=$(du -sb "$DATA" | cut -f1); small_ms=$(restart_ms)
fill $((LARGE - SMALL))
large_bytes=$(du -sb "$DATA" | cut -f1); large_ms=$(restart_ms)
echo "ours label=restart cmd=\"scripts/bench_restart.sh\" json={\"workload\":\"restart\",\"partitions\":100,\"small_bytes\":$small_bytes,\"small_ms\":$small_ms,\"large_bytes\":$large_bytes,\"large_ms\":$large_ms}"
