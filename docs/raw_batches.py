#!/usr/bin/env python3
"""Decode eventlog raw batches (record batch version 2) with the standard library only.

A client that fetches with `delivery: DELIVERY_RAW_BATCHES` and `batch_versions: [2]`
gets, in `FetchResponse.batches` (or `SubscribeResponse.batches.batches`), byte strings
each holding one or more whole batches back to back. This module turns them into
records, checking every batch's CRC-32C. The layout is in storage-format.md ("Batch,
version 2"); it is Kafka's RecordBatch v2.

Used as a script, it reads batches from standard input and prints one JSON object per
record at or after the offset given as its argument (default 0):

    python3 docs/raw_batches.py 42 < batches.bin
"""

import base64
import json
import struct
import sys
import zlib

# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, one table lookup per byte.
_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# Header: base offset (i64), batch length (i32), leader epoch (i32), magic (i8),
# crc (u32), attributes (i16), last offset delta (i32), base timestamp (i64),
# max timestamp (i64), producer id (i64), producer epoch (i16), base sequence (i32),
# record count (i32): 61 bytes, big-endian.
_HEADER = struct.Struct(">qiibIhiqqqhii")
CONTROL = 0x20


def _varint(buf, at):
    """A zigzag varint at `at`: (value, position after it)."""
    shift = result = 0
    while True:
        b = buf[at]
        at += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _bytes(buf, at):
    n, at = _varint(buf, at)
    if n < 0:
        return None, at
    if at + n > len(buf):
        raise ValueError("field runs past the batch")
    return bytes(buf[at:at + n]), at + n


def records(data, from_offset=0):
    """Yields (offset, timestamp_ms, key, value, headers) of every record at or after
    `from_offset` in `data` (whole batches back to back). Raises ValueError on damage."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise ValueError("truncated batch header")
        (base, length, _epoch, magic, crc, attributes, last_delta, base_ts, _max_ts,
         _pid, _pepoch, _seq, count) = _HEADER.unpack_from(data, pos)
        end = pos + 12 + length
        if magic != 2 or end > len(data) or end < pos + _HEADER.size:
            raise ValueError(f"not a version 2 batch at byte {pos}")
        if crc32c(data[pos + 21:end]) != crc:
            raise ValueError(f"crc mismatch in the batch at offset {base}")
        body, pos = data[pos + _HEADER.size:end], end
        if attributes & CONTROL or base + last_delta < from_offset:
            continue
        codec = attributes & 0x07
        if codec == 1:
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif codec != 0:
            raise ValueError(f"compression codec {codec} needs a library: snappy, lz4, zstd")
        at = 0
        for _ in range(count):
            size, at = _varint(body, at)
            record_end = at + size
            at += 1  # record attributes
            ts_delta, at = _varint(body, at)
            offset_delta, at = _varint(body, at)
            key, at = _bytes(body, at)
            value, at = _bytes(body, at)
            n_headers, at = _varint(body, at)
            headers = []
            for _ in range(n_headers):
                name, at = _bytes(body, at)
                header_value, at = _bytes(body, at)
                headers.append((name.decode("utf-8"), header_value or b""))
            if at != record_end:
                raise ValueError("record length does not match its fields")
            if base + offset_delta >= from_offset:
                yield base + offset_delta, base_ts + ts_delta, key, value, headers


def _b64(b):
    return None if b is None else base64.b64encode(b).decode("ascii")


if __name__ == "__main__":
    start = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    for offset, ts, key, value, headers in records(sys.stdin.buffer.read(), start):
        print(json.dumps({"offset": offset, "timestamp_ms": ts, "key": _b64(key),
                          "value": _b64(value),
                          "headers": [[k, _b64(v)] for k, v in headers]}))
