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
# The eventlog binary is $EVENTLOG_BIN, or `eventlog` on the PATH.
set -euo pipefail

eventlog=${EVENTLOG_BIN:-eventlog}
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

if ! command -v "$eventlog" >/dev/null 2>&1; then
    echo "compact.sh: cannot run $eventlog (set EVENTLOG_BIN)" >&2
    exit 2
fi

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
if [[ $status -ne 0 ]]; then
    echo "compact.sh: compaction failed (exit $status)" >&2
fi
exit "$status"
