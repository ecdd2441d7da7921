#!/usr/bin/env bash
# Compacts every topic with cleanup policy compact (or the topics named) of an eventlog
# data directory: through the server when one answers (Admin.CompactTopic, while it keeps
# serving), otherwise offline on the data directory (which refuses if a server holds it).
#
# Prints one summary line per topic (bytes before and after) and exits non-zero if any
# topic failed. Cron-friendly: no terminal needed, progress bars stay off when piped.
#
# Usage: compact.sh [--dry-run] [--server URL] [--data-dir DIR] [TOPIC...]
#   --dry-run      report what would be reclaimed; change nothing
#   --server URL   server to ask (default $EVENTLOG_SERVER or http://127.0.0.1:50051)
#   --data-dir DIR data directory for offline compaction (default $EVENTLOG_DATA_DIR or ./data)
# The eventlog binary is $EVENTLOG_BIN, else `eventlog` on the PATH, else the one built
# in this script's repository (target/release/eventlog, then target/debug/eventlog).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=${EVENTLOG_SERVER:-http://127.0.0.1:50051}
data_dir=${EVENTLOG_DATA_DIR:-./data}
dry_run=()
topics=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --dry-run) dry_run=(--dry-run) ;;
        --server) server=${2:?--server needs a URL}; shift ;;
        --data-dir) data_dir=${2:?--data-dir needs a directory}; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; topics+=("$@"); break ;;
        -*) echo "compact.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) topics+=("$1") ;;
    esac
    shift
done

# Prints the eventlog binary to run, or fails with one line naming what is missing.
find_eventlog() {
    if [[ -n ${EVENTLOG_BIN:-} ]]; then
        if [[ -x $EVENTLOG_BIN ]] || command -v "$EVENTLOG_BIN" >/dev/null 2>&1; then
            echo "$EVENTLOG_BIN"
            return
        fi
        echo "compact.sh: EVENTLOG_BIN=$EVENTLOG_BIN is not an executable eventlog binary" >&2
        return 1
    fi
    if command -v eventlog >/dev/null 2>&1; then
        echo eventlog
        return
    fi
    for built in "$repo/target/release/eventlog" "$repo/target/debug/eventlog"; do
        if [[ -x $built ]]; then
            echo "$built"
            return
        fi
    done
    echo "compact.sh: no eventlog binary: set EVENTLOG_BIN, put eventlog on the PATH, or build it with \`cargo build --release\` in $repo" >&2
    return 1
}
eventlog=$(find_eventlog) || exit 2

# A server that answers owns the data: compact through it. Otherwise compact the
# directory; the CLI takes the directory lock, so a server we could not reach but that
# still holds the directory makes it fail loudly instead of compacting under it.
status=0
if "$eventlog" topic list --server "$server" >/dev/null 2>&1; then
    "$eventlog" topic compact --server "$server" --format text \
        ${dry_run[@]+"${dry_run[@]}"} ${topics[@]+"${topics[@]}"} || status=$?
else
    "$eventlog" compact --data-dir "$data_dir" --format text \
        ${dry_run[@]+"${dry_run[@]}"} ${topics[@]+"${topics[@]}"} || status=$?
fi
# A failure was already printed by eventlog, one line per topic; the exit code carries it.
exit "$status"
