#!/usr/bin/env bash
# Runs one test of the suite again and again, in several processes at once, to measure
# how often it fails under load (a flaky test passes alone and fails in a full run).
#
#   scripts/repeat-test.sh TEST [LANES] [ROUNDS]
#
# TEST is a full test name (for example
# cluster_failover::acknowledged_records_survive_three_leader_kills_exactly_once_on_every_replica);
# LANES (default 5) processes each run it ROUNDS (default 10) times. The output of every
# failed run is kept in target/repeat-test/ and named on a line of its own; the last
# line counts the failures.
#
# Multi-node tests pick free ports per process: processes running at once may, rarely,
# pick the same port for two nodes ("address already in use", or a node answering
# another cluster's Raft messages). Such a failure is the runs' crowding, not the test's;
# the kept output shows which it was.
set -euo pipefail
cd "$(dirname "$0")/.."
test="${1:?usage: scripts/repeat-test.sh TEST [LANES] [ROUNDS]}"
lanes="${2:-5}"
rounds="${3:-10}"
binary=$(cargo test --test suite --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*suite[^"]*\)".*/\1/p' | tail -1)
out=target/repeat-test
mkdir -p "$out"
lane() {
    for round in $(seq 1 "$rounds"); do
        if ! "$binary" "$test" --exact >"$out/lane$1.out" 2>&1; then
            cp "$out/lane$1.out" "$out/failed-$1-$round.out"
            echo "failed: lane $1 round $round ($out/failed-$1-$round.out)"
        fi
    done
}
for l in $(seq 1 "$lanes"); do lane "$l" & done | tee "$out/summary"
wait
echo "$(grep -c '^failed' "$out/summary" || true) of $((lanes * rounds)) runs failed"
