#!/usr/bin/env bash
# Measures failover on loopback: a three-node cluster of the release binary, one RF-3
# partition; each round kills the partition's leader with SIGKILL and times how long
# a produce sent right after the kill takes to be acknowledged (the CLI producer
# retries across the three nodes). Prints one line per round and the median.
#
#   scripts/cluster-failover-time.sh [ROUNDS] [ELECTION_TIMEOUT]
#
# ROUNDS defaults to 5; ELECTION_TIMEOUT (the serve flag, e.g. 1s) to the server's default, 600ms.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-5}"
election="${2:-600ms}"
cargo build --release --quiet
bin="$PWD/target/release/eventlog"
dir="$(mktemp -d)"
ports=(0 57051 57052 57053)
cluster="1=127.0.0.1:${ports[1]},2=127.0.0.1:${ports[2]},3=127.0.0.1:${ports[3]}"
servers="http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]},http://127.0.0.1:${ports[3]}"
declare -A pids

start() {
    local id="$1"
    "$bin" serve --node-id "$id" --listen "127.0.0.1:${ports[$id]}" --data-dir "$dir/n$id" \
        --cluster "$cluster" --raft-election-timeout "$election" --scrub-rate 0 \
        >>"$dir/n$id.log" 2>&1 &
    pids[$id]=$!
}

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

for id in 1 2 3; do start "$id"; done
until "$bin" topic create timed --partitions 1 --replication-factor 3 --server "$servers" >/dev/null 2>&1; do
    sleep 0.2
done
echo warm | "$bin" produce timed --server "$servers" >/dev/null

leader() {
    "$bin" cluster status --format json --server "$servers" 2>/dev/null |
        python3 -c 'import json,sys; p=json.load(sys.stdin)["partitions"][0]; print(p["leader"] or "")'
}

times=()
for round in $(seq 1 "$rounds"); do
    id=""
    until [ -n "$id" ]; do id="$(leader)"; sleep 0.1; done
    kill -9 "${pids[$id]}"
    start_ns=$(date +%s%N)
    echo "round $round" | "$bin" produce timed --server "$servers" >/dev/null
    end_ns=$(date +%s%N)
    ms=$(( (end_ns - start_ns) / 1000000 ))
    times+=("$ms")
    echo "round $round: killed leader node $id; first acknowledged produce after ${ms} ms"
    start "$id"
    sleep 3
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms over $rounds rounds (election timeout $election)"
