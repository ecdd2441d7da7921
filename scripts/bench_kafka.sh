#!/usr/bin/env bash
# Throughput through the Kafka listener with kcat (librdkafka) against `eventlog bench`
# on gRPC, in one run, interleaved, on one server (release build): SIZE-byte records,
# produced with every record acknowledged by the server (kcat: acks=all; the server
# acknowledges after its fsync policy) and consumed from the beginning to /dev/null.
#
# usage: scripts/bench_kafka.sh    ROUNDS=3 N=1000000 SIZE=100 BATCH=1000 FSYNC=always PORT=50171 KPORT=50172
#
# kcat's time is the wall time of the whole command (start, connect, metadata, the
# records, exit); `eventlog bench` reports its own measured rate. Both are printed as
# records per second. kcat consumes with fetch.wait.max.ms=10: with `-e` it learns
# that it reached the end only from a fetch there, which the server (like a Kafka
# broker) holds for fetch.wait.max.ms waiting for records, 500 ms by default, which
# alone was half of kcat's time for 1M records.
set -euo pipefail
ROUNDS="${ROUNDS:-3}"; N="${N:-1000000}"; SIZE="${SIZE:-100}"; BATCH="${BATCH:-1000}"
FSYNC="${FSYNC:-always}"; PORT="${PORT:-50171}"; KPORT="${KPORT:-50172}"
command -v kcat >/dev/null || { echo "bench_kafka.sh: install kcat first (apt-get install kcat)" >&2; exit 2; }
cargo build --release --quiet --bin eventlog
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/eventlog"
SERVER="http://127.0.0.1:$PORT"
BROKER="127.0.0.1:$KPORT"
DATA="$(mktemp -d)"
"$BIN" serve --data-dir "$DATA/data" --listen "127.0.0.1:$PORT" --kafka-listen "$BROKER" \
  --fsync "$FSYNC" 2>"$DATA/server.log" &
SPID=$!
trap 'kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do "$BIN" topic list --server "$SERVER" >/dev/null 2>&1 && break; sleep 0.1; done
# One line per record: SIZE - 1 bytes and the newline kcat splits on.
python3 -c "import sys; line = b'x' * ($SIZE - 1) + b'\n'; sys.stdout.buffer.write(line * $N)" >"$DATA/records"
rate() { python3 -c "print(f'{$N / ($2 - $1):,.0f} records/s')"; }
now() { date +%s.%N; }
for round in $(seq "$ROUNDS"); do
  for topic in "grpc-$round" "kafka-$round"; do
    "$BIN" topic create "$topic" --partitions 1 --server "$SERVER" >/dev/null
  done
  echo "round $round"
  echo "  produce grpc : eventlog bench produce --topic grpc-$round --records $N --record-size $SIZE --batch $BATCH"
  "$BIN" bench produce --topic "grpc-$round" --records "$N" --record-size "$SIZE" --batch "$BATCH" \
    --server "$SERVER" --fsync-note "$FSYNC" | grep -iE "records/s|throughput" | sed 's/^/    /'
  echo "  produce kafka: kcat -P -b $BROKER -t kafka-$round -p 0 -X acks=all -X linger.ms=5 < records"
  start=$(now)
  kcat -P -b "$BROKER" -t "kafka-$round" -p 0 -X acks=all -X linger.ms=5 \
    -X queue.buffering.max.messages=1000000 <"$DATA/records"
  echo "    $(rate "$start" "$(now)")"
  echo "  consume grpc : eventlog bench consume --topic kafka-$round --records $N"
  "$BIN" bench consume --topic "kafka-$round" --records "$N" --record-size "$SIZE" \
    --server "$SERVER" | grep -iE "records/s|throughput" | sed 's/^/    /'
  echo "  consume kafka: kcat -C -b $BROKER -t grpc-$round -p 0 -o beginning -e -X fetch.wait.max.ms=10 > /dev/null"
  start=$(now)
  kcat -C -b "$BROKER" -t "grpc-$round" -p 0 -o beginning -e -q -X fetch.wait.max.ms=10 >/dev/null
  echo "    $(rate "$start" "$(now)")"
done
