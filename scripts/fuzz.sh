#!/usr/bin/env bash
# Fuzzes the check of producer-built batches (untrusted bytes from clients) with
# cargo-fuzz on the nightly toolchain; the stable build does not depend on it.
#
# usage: scripts/fuzz.sh [SECONDS]     (default 60; needs `cargo install cargo-fuzz`)
# Seeds: a few valid batches (1 to 3 records, with and without a producer) are written
# to the corpus first, since no fuzzer guesses a CRC-32C; it mutates from there.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo install cargo-fuzz first" >&2; exit 2; }
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
cd fuzz
exec cargo +nightly fuzz run client_batch -- -max_total_time="$SECONDS_TO_RUN" -max_len=4096
