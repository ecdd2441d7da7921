#!/usr/bin/env bash
# A single node (no cluster flags) before and after a change, in one run: the same
# client (NEW_BIN's `eventlog bench`) drives a server of OLD_BIN and one of NEW_BIN in
# turn, ROUNDS times, with workloads both servers support (plain produce with 4 and
# with 1 batch in flight, `--fsync always`; replay with per-record delivery). Prints
# every run, then per workload the medians and NEW/OLD.
#
#   scripts/bench_single_node.sh OLD_BIN NEW_BIN [ROUNDS]
#
# Build OLD_BIN from an older commit, e.g. `git worktree add /tmp/old COMMIT` and
# `cargo build --release` there.
set -euo pipefail
old="$1"; new="$2"; rounds="${3:-3}"
port="${PORT:-50171}"; server="http://127.0.0.1:$port"
out="$(mktemp)"; dir=""; spid=""; label=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out" "$dir"' EXIT

one() { # $1 = workload name, rest = bench arguments
  local name="$1"; shift
  "$new" bench "$@" --record-size 100 --batch 1000 --server "$server" --server-pid "$spid" --json |
    python3 -c "import json,sys; print('$label $name', json.load(sys.stdin)['records_per_sec'])" |
    tee -a "$out"
}

run() { # $1 = server binary
  dir="$(mktemp -d)"
  "$1" serve --data-dir "$dir" --listen "127.0.0.1:$port" --fsync always 2>/dev/null &
  spid=$!
  until "$new" topic list --server "$server" >/dev/null 2>&1; do sleep 0.05; done
  one produce-4 produce --topic s --producers 4 --records 1000000 --no-idempotence
  one produce-1 produce --topic s1 --records 300000 --no-idempotence
  one replay consume --topic s --records 1000000 --per-record
  kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  rm -rf "$dir"
}

for _ in $(seq "$rounds"); do
  label=old; run "$old"
  label=new; run "$new"
done
python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, name, rate = line.split()
    runs.setdefault(name, {}).setdefault(label, []).append(float(rate))
for name, by in runs.items():
    old, new = statistics.median(by["old"]), statistics.median(by["new"])
    print(f"{name}: old {old / 1e6:.2f}M, new {new / 1e6:.2f}M records/s (medians); new/old {new / old:.2f}")
PY
