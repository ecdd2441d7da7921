#!/usr/bin/env bash
# Long fault run of a three-node cluster (the real binary on loopback): random rounds of
# kill -9 of a partition leader or of any node, SIGSTOP/SIGCONT of a leader for longer
# than the election timeout, a follower whose data directory is wiped before it starts
# again (it must rejoin as a learner), and a network partition that cuts a random node off from
# both others for longer than the election timeout (the nodes reach each other through
# a TCP proxy per pair, which the test cuts and heals), under four idempotent
# producers; then every acknowledged record must be stored exactly once, at its
# acknowledged offset, with the same bytes on every replica (tests/suite/cluster_failover.rs,
# `chaos`).
#
#   scripts/cluster-chaos.sh [ROUNDS] [SEED]
#
# ROUNDS defaults to 50. A failed run prints its seed; pass it again to replay the same
# sequence of faults (timing still varies). Node logs of a failed run are kept and
# their directory printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export EVENTLOG_CHAOS_ROUNDS="${1:-50}"
if [ -n "${2:-}" ]; then
    export EVENTLOG_CHAOS_SEED="$2"
fi
exec cargo test --release --test suite cluster_failover::chaos -- --ignored --nocapture
