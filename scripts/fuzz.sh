#!/usr/bin/env bash
# Fuzzes the decoding of untrusted client bytes with cargo-fuzz on the nightly
# toolchain; the stable build does not depend on it (fuzz/ is its own workspace).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET]   (default 60 seconds per target, both
#                                              targets; needs `cargo install cargo-fuzz`)
# Targets:
# - client_batch: the check of producer-built batches. Seeds: a few valid batches (1 to
#   3 records, with and without a producer) are written to the corpus first, since no
#   fuzzer guesses a CRC-32C; it mutates from there.
# - kafka_request: the Kafka listener's frame reader, request decoding (every served
#   API and version) and a Produce request's record batches. Seeds: the committed
#   fuzz/corpus/kafka_request (valid requests, written by
#   `cargo test --test suite kafka_decode::write_the_fuzz_corpus -- --ignored`); what a run
#   adds goes to fuzz/runs/kafka_request, so the committed seeds stay as they are.
# A run ends with libFuzzer's final stats (executions, time); docs/fuzzing.md records them.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
TARGET="${2:-all}"
case "$TARGET" in
    all | client_batch | kafka_request) ;;
    *) echo "fuzz.sh: unknown target $TARGET (client_batch, kafka_request or all)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo install cargo-fuzz first" >&2; exit 2; }

run_client_batch() {
mkdir -p fuzz/corpus/client_batch
python3 - fuzz/corpus/client_batch <<'PY'
import struct, sys
sys.path.insert(0, "docs")
from raw_batches import crc32c

def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def record(delta, key, value):
    body = b"\0" + varint(delta) + varint(delta) + varint(len(key)) + key + varint(len(value)) + value + varint(0)
    return varint(len(body)) + body

for n in (1, 2, 3):
    for pid, epoch, seq in ((-1, -1, -1), (7, 0, 0)):
        records = b"".join(record(i, b"k%d" % i, b"value %d" % i) for i in range(n))
        tail = struct.pack(">hiqqqhii", 0, n - 1, 1000, 1000 + n - 1, pid, epoch, seq, n) + records
        head = struct.pack(">qiib", 0, len(tail) + 9, -1, 2)
        batch = head + struct.pack(">I", crc32c(tail)) + tail
        open(f"{sys.argv[1]}/seed-{n}-{pid}", "wb").write(batch)
PY
(cd fuzz && cargo +nightly fuzz run client_batch -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1)
}

run_kafka_request() {
mkdir -p fuzz/runs/kafka_request
# Valid requests are a few hundred bytes; the frame limit is far above what helps here.
(cd fuzz && cargo +nightly fuzz run kafka_request runs/kafka_request corpus/kafka_request -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -print_final_stats=1)
}

if [ "$TARGET" = all ] || [ "$TARGET" = client_batch ]; then run_client_batch; fi
if [ "$TARGET" = all ] || [ "$TARGET" = kafka_request ]; then run_kafka_request; fi
