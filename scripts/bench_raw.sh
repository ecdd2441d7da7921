#!/usr/bin/env bash
# Raw batches against per-record delivery, and producer-built batches against records,
# in one run, interleaved, on one server (release build).
#
# usage: scripts/bench_raw.sh            ROUNDS=3 N=1000000 SIZE=100 BATCH=1000 FSYNC=always PORT=50161
set -euo pipefail
ROUNDS="${ROUNDS:-3}"; N="${N:-1000000}"; SIZE="${SIZE:-100}"; BATCH="${BATCH:-1000}"
FSYNC="${FSYNC:-always}"; PORT="${PORT:-50161}"
cargo build --release --quiet --bin eventlog
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/eventlog"
SERVER="http://127.0.0.1:$PORT"
DATA="$(mktemp -d)"
"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --fsync "$FSYNC" 2>"$DATA.log" &
SPID=$!
trap 'kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
for _ in $(seq 100); do "$BIN" topic list --server "$SERVER" >/dev/null 2>&1 && break; sleep 0.1; done
COMMON=(--records "$N" --record-size "$SIZE" --batch "$BATCH" --server "$SERVER"
        --server-pid "$SPID" --fsync-note "$FSYNC" --json)
run() { # $1 = label, rest = bench arguments
  local label="$1"; shift
  echo "$label eventlog bench $* ${COMMON[*]}"
  timeout 300 "$BIN" bench "$@" "${COMMON[@]}"
}
for round in $(seq "$ROUNDS"); do
  run "produce-records-$round" produce --topic "rec-$round" --per-record
  run "produce-batches-$round" produce --topic "built-$round"
  run "consume-raw-$round" consume --topic "rec-$round"
  run "consume-per-record-$round" consume --topic "rec-$round" --per-record
done
