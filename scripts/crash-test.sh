#!/usr/bin/env bash
# The long crash and corruption suite: the kill -9 under load test with many rounds and
# the corruption suite, on a release build. Each round SIGKILLs a real server under
# concurrent produce and commit load at a random moment, restarts it on the same data
# directory and checks every acknowledged record and commit (see tests/suite/crash_kill9_load.rs).
# The data files are only ever touched by the server and by the tests' own damage cases.
#
# Prints the seed (to replay a failure), one line per round and a summary; exits non-zero
# on the first broken invariant.
#
# Usage: crash-test.sh [--rounds N] [--seed SEED] [--debug]
#   --rounds N    kill -9 rounds (default $EVENTLOG_CRASH_ROUNDS or 20)
#   --seed SEED   replay a run (default $EVENTLOG_CRASH_SEED or the clock)
#   --debug       build without optimisations (slower, quicker to compile)
set -euo pipefail

rounds=${EVENTLOG_CRASH_ROUNDS:-20}
seed=${EVENTLOG_CRASH_SEED:-}
profile=(--release)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=${2:?--rounds needs a number}; shift ;;
        --seed) seed=${2:?--seed needs a number}; shift ;;
        --debug) profile=() ;;
        -h|--help) usage; exit 0 ;;
        *) echo "crash-test.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "crash-test.sh: --rounds must be a positive number, got '$rounds'" >&2
    exit 2
fi
if [[ -n $seed && ! $seed =~ ^[0-9]+$ ]]; then
    echo "crash-test.sh: --seed must be a number, got '$seed'" >&2
    exit 2
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "crash-test.sh: cargo is needed but not on the PATH (install a Rust toolchain)" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
export EVENTLOG_CRASH_ROUNDS=$rounds
if [[ -n $seed ]]; then
    export EVENTLOG_CRASH_SEED=$seed
fi

started=$SECONDS
echo "== kill -9 under load: $rounds rounds (${profile[*]:-debug} build)"
cargo test "${profile[@]}" --test suite crash_kill9_load:: -- --nocapture --test-threads 1
echo "== corruption suite"
cargo test "${profile[@]}" --test suite corruption:: -- --test-threads 1
echo "== passed: $rounds kill -9 rounds and the corruption suite in $((SECONDS - started)) s"
