#!/usr/bin/env bash
# An idle cluster: three nodes of the release binary on loopback, one topic of
# PARTITIONS partitions (default 300) with replication factor 3, left alone for SECONDS
# (default 300). Reports each node's CPU use over that time and whether any partition
# changed leader (an election) meanwhile.
#
#   scripts/cluster-idle.sh [PARTITIONS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

partitions="${1:-300}"
seconds="${2:-300}"
cargo build --release --quiet
bin="$PWD/target/release/eventlog"
dir="$(mktemp -d)"
ports=(0 58051 58052 58053)
cluster="1=127.0.0.1:${ports[1]},2=127.0.0.1:${ports[2]},3=127.0.0.1:${ports[3]}"
servers="http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]},http://127.0.0.1:${ports[3]}"
declare -A pids
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
for id in 1 2 3; do
    "$bin" serve --node-id "$id" --listen "127.0.0.1:${ports[$id]}" --data-dir "$dir/n$id" \
        --cluster "$cluster" --scrub-rate 0 >>"$dir/n$id.log" 2>&1 &
    pids[$id]=$!
done
until "$bin" topic create idle --partitions "$partitions" --replication-factor 3 \
    --server "$servers" >/dev/null 2>&1; do
    sleep 0.5
done
leaders() {
    "$bin" cluster status --format json --server "http://127.0.0.1:${ports[1]}" |
        python3 -c 'import json,sys; print(json.dumps([p["leader"] for p in json.load(sys.stdin)["partitions"]]))'
}
# Let every group elect its first leader before measuring.
until ! leaders | grep -q null; do sleep 1; done
before="$(leaders)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A start
for id in 1 2 3; do start[$id]=$(ticks "${pids[$id]}"); done
sleep "$seconds"
hz=$(getconf CLK_TCK)
for id in 1 2 3; do
    used=$(( $(ticks "${pids[$id]}") - ${start[$id]} ))
    echo "node $id: $(python3 -c "print(f'{$used / $hz:.1f} s of CPU in $seconds s ({100 * $used / $hz / $seconds:.1f}% of one core)')")"
done
after="$(leaders)"
if [ "$before" = "$after" ]; then
    echo "no partition changed leader in $seconds s ($partitions partitions, replication factor 3)"
else
    echo "leaders changed: an election happened"
    exit 1
fi
