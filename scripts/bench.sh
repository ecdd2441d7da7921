#!/usr/bin/env bash
# Standard benchmark workloads for eventlog, side by side with the peers in
# ../shared/peers (Redis Streams, NATS JetStream, and Apache Iggy where its binaries
# were built) run in the same session, then
# docs/benchmarks.md and docs/benchmarks.svg are regenerated from the raw results,
# which are kept in docs/benchmarks-results.txt.
#
# usage: scripts/bench.sh [--no-peers] [--no-limits]
# env:   N=1000000 SIZE=100 BATCH=1000 SINGLE=20000 E2E_RATE=20000 E2E_N=200000
#        PEERS_DIR=../shared/peers PORT=50151 OUT=target/bench-results
# Everything runs on loopback; each workload is bounded by a record count and by time.
set -euo pipefail

# What the run needs beyond this repository; the peers are optional.
for tool in cargo python3 timeout; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench.sh: $tool is needed but not on the PATH" >&2; exit 2
  fi
done
cd "$(dirname "$0")/.."
N="${N:-1000000}"; SIZE="${SIZE:-100}"; BATCH="${BATCH:-1000}"; SINGLE="${SINGLE:-20000}"
E2E_RATE="${E2E_RATE:-20000}"; E2E_N="${E2E_N:-200000}"; PORT="${PORT:-50151}"
PEERS_DIR="${PEERS_DIR:-../shared/peers}"; OUT="${OUT:-target/bench-results}"
RUN_PEERS=1; RUN_LIMITS=1
for arg in "$@"; do
  case "$arg" in
    --no-peers) RUN_PEERS=0 ;;
    --no-limits) RUN_LIMITS=0 ;;
    *) echo "usage: scripts/bench.sh [--no-peers] [--no-limits]" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT"
RESULTS="$OUT/results-$(date +%Y%m%d-%H%M%S).txt"
echo "run date=\"$(date -u '+%Y-%m-%d %H:%M UTC')\"" > "$RESULTS"
log() { echo "[bench] $*" >&2; }

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/eventlog"
SERVER="http://127.0.0.1:$PORT"
DATA=""; SPID=""

start_server() { # $1 = fsync policy
  DATA="$(mktemp -d)"
  "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --fsync "$1" 2>"$OUT/server-$1.log" &
  SPID=$!
  for _ in $(seq 100); do
    "$BIN" topic list --server "$SERVER" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start; see $OUT/server-$1.log" >&2; exit 1
}
stop_server() {
  kill -TERM "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap 'stop_server' EXIT

bench() { # $1 = label, $2 = fsync policy, rest = bench arguments
  local label="$1" fsync="$2"; shift 2
  local cmd="eventlog bench $* --fsync-note $fsync"
  log "$label: $cmd"
  local line
  line=$(timeout 300 "$BIN" bench "$@" --fsync-note "$fsync" --server "$SERVER" --server-pid "$SPID" --json)
  echo "ours label=$label cmd=\"$cmd\" json=$line" | tee -a "$RESULTS" >&2
}

COMMON=(--records "$N" --record-size "$SIZE" --batch "$BATCH")
# The standard produce keeps DEPTH batches in flight on one partition (DEPTH producers),
# as the peer harness's clients do (DEPTH=4); the "-1" rows wait for each ack.
DEPTH="${DEPTH:-4}"
for fsync in always never; do
  start_server "$fsync"
  bench "produce-$fsync" "$fsync" produce --topic "t-$fsync" --producers "$DEPTH" "${COMMON[@]}"
  bench "consume-$fsync" "$fsync" consume --topic "t-$fsync" "${COMMON[@]}"
  bench "produce-$fsync-1" "$fsync" produce --topic "t1-$fsync" "${COMMON[@]}"
  if [ "$fsync" = never ]; then
    # The request path alone: one record per request with no fsync to wait for.
    bench "single-never" never produce --topic single --records "$SINGLE" --record-size "$SIZE" --batch 1 --duration 30s
  fi
  if [ "$fsync" = always ]; then
    bench "consume-always-5000" always consume --topic "t-$fsync" --records "$N" --record-size "$SIZE" --batch 5000
    bench "consume-always-subscribe" always consume --topic "t-$fsync" --subscribe "${COMMON[@]}"
    bench "produce-always-records" always produce --topic records --producers "$DEPTH" --per-record "${COMMON[@]}"
    bench "single-always" always produce --topic single --records "$SINGLE" --record-size "$SIZE" --batch 1 --duration 60s
    bench "produce-4x4-always" always produce --topic four --partitions 4 --producers 4 "${COMMON[@]}"
    bench "e2e-always" always e2e --topic e2e --records "$E2E_N" --record-size "$SIZE" --batch 100 --rate "$E2E_RATE" --duration 60s
  fi
  stop_server
done

log "restart: scripts/bench_restart.sh"
PORT=$((PORT + 1)) scripts/bench_restart.sh "$BIN" | tee -a "$RESULTS" >&2

if [ "$RUN_PEERS" = 1 ] && [ -d "$PEERS_DIR" ]; then
  peer() { log "peer: bash $PEERS_DIR/$*"; (N="${PEER_N:-$N}" SIZE="$SIZE" BATCH="$BATCH" timeout 900 bash "$PEERS_DIR/$1" "${@:2}" | grep '^peer=' | tail -1 | sed "s|^|cmd=\"bash $PEERS_DIR/$*\" |" | tee -a "$RESULTS" >&2) || log "peer $1 failed"; }
  peer redis-streams.sh always
  peer redis-streams.sh everysec
  peer nats-jetstream.sh default
  PEER_N=200000 peer nats-jetstream.sh always
  # Apache Iggy runs only where its binaries were built (see the header of iggy.sh).
  if [ -x "${IGGY_SRC:-/tmp/iggy}/target/release/iggy-server" ]; then
    peer iggy.sh fsync
    peer iggy.sh nofsync
  else
    log "Iggy skipped: no binaries under ${IGGY_SRC:-/tmp/iggy}/target/release (see $PEERS_DIR/iggy.sh)"
  fi
  if [ "$RUN_LIMITS" = 1 ]; then peer physical-limits.sh; fi
else
  log "peers skipped (--no-peers or $PEERS_DIR missing)"
fi

mkdir -p docs
cp "$RESULTS" docs/benchmarks-results.txt
python3 scripts/bench_report.py docs/benchmarks-results.txt docs/benchmarks.md docs/benchmarks.svg
log "results: docs/benchmarks-results.txt; report: docs/benchmarks.md, docs/benchmarks.svg"
