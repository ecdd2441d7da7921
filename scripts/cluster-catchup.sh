#!/usr/bin/env bash
# Measures how fast a wiped follower catches up on loopback: a three-node cluster of
# the release binary with one RF-3 partition holding SIZE_MB of records; node 3 is
# killed, its data directory emptied, and it is started again with the same flags. It
# rejoins as a learner (docs/cluster.md, "A node that lost its data"), copies the
# partition from the leader, and logs "rejoined the cluster" once every group made it
# a voter again. Prints the time from its start to that line and the rate over the
# bytes its data directory then holds.
#
#   scripts/cluster-catchup.sh [SIZE_MB]
#
# SIZE_MB defaults to 1000 (records of 10,000 bytes in batches of 100).
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb="${1:-1000}"
cargo build --release --quiet
bin="$PWD/target/release/eventlog"
dir="$(mktemp -d)"
ports=(0 57061 57062 57063)
cluster="1=127.0.0.1:${ports[1]},2=127.0.0.1:${ports[2]},3=127.0.0.1:${ports[3]}"
servers="http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]}"
declare -A pids

start() {
    local id="$1"
    "$bin" serve --node-id "$id" --listen "127.0.0.1:${ports[$id]}" --data-dir "$dir/n$id" \
        --cluster "$cluster" --fsync never --scrub-rate 0 >>"$dir/n$id.log" 2>&1 &
    pids[$id]=$!
}

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

for id in 1 2 3; do start "$id"; done
until "$bin" topic create big --partitions 1 --replication-factor 3 --server "$servers" >/dev/null 2>&1; do
    sleep 0.2
done
records=$(( size_mb * 100 ))
"$bin" bench produce --topic big --records "$records" --record-size 10000 --batch 100 \
    --producers 2 --server "$servers" --json >/dev/null
sleep 2 # let node 3 receive the last entries and record itself

kill -9 "${pids[3]}"
wait "${pids[3]}" 2>/dev/null || true
rm -rf "$dir/n3" "$dir/n3.log"
start_ns=$(date +%s%N)
start 3
until grep -q "rejoined the cluster" "$dir/n3.log" 2>/dev/null; do
    if ! kill -0 "${pids[3]}" 2>/dev/null; then
        echo "node 3 stopped; its log:" >&2; cat "$dir/n3.log" >&2; exit 1
    fi
    sleep 0.05
done
end_ns=$(date +%s%N)
ms=$(( (end_ns - start_ns) / 1000000 ))
bytes=$(du -sb "$dir/n3" | cut -f1)
awk -v b="$bytes" -v ms="$ms" 'BEGIN {
    printf "wiped follower rejoined after %.2f s holding %.0f MB: %.0f MB/s\n", ms / 1000, b / 1e6, b / 1e6 / (ms / 1000)
}'
