#!/usr/bin/env bash
# Durable produce with replication factor 3 (three node processes on this machine)
# against replication factor 1 (a single node), in the same run: 100-byte records in
# batches of 1000, `--fsync always` everywhere. Each setting runs with and without
# idempotence (an idempotent producer's batches are checked and committed one at a
# time per partition on a cluster leader), and replication factor 3 once more with
# `--acks leader` (acknowledged once the leader's log holds a batch).
#
#   scripts/cluster-bench.sh [RECORDS] [PARTITIONS] [PRODUCERS]
set -euo pipefail
cd "$(dirname "$0")/.."

records="${1:-500000}"
partitions="${2:-3}"
producers="${3:-4}"
cargo build --release --quiet
bin="$PWD/target/release/eventlog"
dir="$(mktemp -d)"
declare -a pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$bin" serve --listen 127.0.0.1:59050 --data-dir "$dir/single" --scrub-rate 0 >>"$dir/single.log" 2>&1 &
pids+=($!)
cluster="1=127.0.0.1:59051,2=127.0.0.1:59052,3=127.0.0.1:59053"
for id in 1 2 3; do
    "$bin" serve --node-id "$id" --listen "127.0.0.1:5905$id" --data-dir "$dir/n$id" \
        --cluster "$cluster" --scrub-rate 0 >>"$dir/n$id.log" 2>&1 &
    pids+=($!)
done
servers="http://127.0.0.1:59051,http://127.0.0.1:59052,http://127.0.0.1:59053"
until "$bin" cluster status --server http://127.0.0.1:59051 >/dev/null 2>&1; do sleep 0.3; done
until "$bin" topic list --server http://127.0.0.1:59050 >/dev/null 2>&1; do sleep 0.3; done

run() {
    local label="$1" server="$2" topic="$3"; shift 3
    echo "== $label"
    # A short run first creates the topic and waits out its partitions' first leader
    # elections, so the measured run sees a cluster in its steady state.
    "$bin" bench produce --server "$server" --topic "$topic" --partitions "$partitions" \
        --records 3000 --batch 1000 --record-size 100 "$@" >/dev/null 2>&1 || true
    "$bin" bench produce --server "$server" --topic "$topic" --partitions "$partitions" \
        --records "$records" --batch 1000 --record-size 100 --producers "$producers" "$@" 2>&1 |
        grep -E "records/s|MB/s|p50|p99" || true
}
run "RF 1 (single node), idempotent" http://127.0.0.1:59050 rf1-idem
run "RF 3 (three nodes), idempotent" "$servers" rf3-idem
run "RF 1 (single node), not idempotent" http://127.0.0.1:59050 rf1-plain --no-idempotence
run "RF 3 (three nodes), not idempotent" "$servers" rf3-plain --no-idempotence
run "RF 3 (three nodes), idempotent, acks=leader" "$servers" rf3-leader --acks leader
