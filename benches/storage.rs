#![allow(missing_docs)] // `criterion_group!` generates an undocumented public function.
//! Storage engine benchmarks (in-process, no network). Run with
//! `cargo bench --bench storage`; a subset with e.g. `cargo bench --bench storage -- append`.
//!
//! - `append/<policy>/<batch>`: 100-byte records, batches of 1, 100 and 1000.
//! - `group_commit/<threads>`: `always` policy, 1 versus 4 appending threads.
//! - `read/sequential`: replay from offset 0 out of the memory map.
//! - `read/random_lookup`: one record at a random offset.
//! - `recovery/<n>_sealed`: reopen a log with 10 or 1,000 sealed segments.
//! - `format/append/<v1|v2>` and `format/read/<v1|v2>`: the same appends (`never`,
//!   batches of 1000) and sequential reads in each batch format, in one run.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventlog::storage::batch::BatchFormat;
use eventlog::storage::{FsyncPolicy, Log, LogConfig, LogIdent, ReadLimits, Record};

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: None,
            value: Some(Bytes::from(vec![(i % 251) as u8; 100])),
            headers: Vec::new(),
            timestamp_ms: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

fn config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 256 << 20,
        fsync,
        ..LogConfig::default()
    }
}

fn open(dir: &std::path::Path, fsync: FsyncPolicy) -> Log {
    Log::open(dir, LogIdent::new("bench", 0), config(fsync)).expect("open")
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(5));
    for (name, policy) in [
        ("never", FsyncPolicy::Never),
        ("always", FsyncPolicy::Always),
    ] {
        for batch in [1usize, 100, 1000] {
            let dir = tempfile::tempdir().unwrap();
            let log = open(dir.path(), policy);
            let recs = records(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(name, batch), &recs, |b, recs| {
                b.iter(|| log.append(recs).unwrap());
            });
        }
    }
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit");
    group.measurement_time(Duration::from_secs(5));
    let batch = 100;
    for threads in [1usize, 4] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), FsyncPolicy::Always);
        let recs = records(batch);
        group.throughput(Throughput::Elements((batch * threads) as u64));
        group.bench_function(BenchmarkId::from_parameter(threads), |b| {
            // One iteration = every thread appends one batch; all wait for durability.
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..iters {
                                log.append(&recs).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), FsyncPolicy::Never);
    let recs = records(1000);
    for _ in 0..1000 {
        log.append(&recs).unwrap();
    }
    let total = log.high_watermark();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function("sequential", |b| {
        b.iter(|| {
            let mut next = 0;
            while next < total {
                next = log
                    .read(
                        next,
                        ReadLimits {
                            max_records: 1000,
                            max_bytes: 1 << 20,
                        },
                    )
                    .unwrap()
                    .next_offset;
            }
        });
    });
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    group.bench_function("random_lookup", |b| {
        b.iter(|| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            log.read(
                seed % total,
                ReadLimits {
                    max_records: 1,
                    max_bytes: 1,
                },
            )
            .unwrap()
        });
    });
    group.finish();
}

/// Appends and sequential reads of version 1 against version 2 batches, side by side.
fn format(c: &mut Criterion) {
    let formats = [("v1", BatchFormat::V1), ("v2", BatchFormat::V2)];
    let open_as = |dir: &std::path::Path, format: BatchFormat| {
        let config = LogConfig {
            batch_format: format,
            ..config(FsyncPolicy::Never)
        };
        Log::open(dir, LogIdent::new("bench", 0), config).expect("open")
    };
    let recs = records(1000);
    let mut group = c.benchmark_group("format/append");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1000));
    for (name, format) in formats {
        let dir = tempfile::tempdir().unwrap();
        let log = open_as(dir.path(), format);
        group.bench_function(name, |b| b.iter(|| log.append(&recs).unwrap()));
    }
    group.finish();
    let mut group = c.benchmark_group("format/read");
    group.sample_size(10);
    for (name, format) in formats {
        let dir = tempfile::tempdir().unwrap();
        let log = open_as(dir.path(), format);
        for _ in 0..300 {
            log.append(&recs).unwrap();
        }
        let total = log.high_watermark();
        group.throughput(Throughput::Elements(total));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut next = 0;
                while next < total {
                    let limits = ReadLimits {
                        max_records: 1000,
                        max_bytes: 1 << 20,
                    };
                    next = log.read(next, limits).unwrap().next_offset;
                }
            });
        });
    }
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("recovery");
    group.sample_size(20);
    for sealed in [10usize, 1000] {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = open(dir.path(), FsyncPolicy::Never);
            let recs = records(100);
            for _ in 0..sealed {
                log.append(&recs).unwrap();
                log.roll().unwrap();
            }
            // The same active segment in both cases: 1,000 batches of 100 records.
            for _ in 0..1000 {
                log.append(&recs).unwrap();
            }
            log.close().unwrap();
        }
        group.bench_function(format!("{sealed}_sealed"), |b| {
            b.iter(|| {
                let log = open(dir.path(), FsyncPolicy::Never);
                log.close().unwrap();
            });
        });
    }
    group.finish();
}

/// The batch checksums: CRC-32 (`crc32fast`, version 1 batches and every other file)
/// against CRC-32C (version 2 batches, Kafka's; `crc-fast`, and the `crc32c` crate for
/// comparison) over a 16 KiB, a 100 KB (a batch of 1000 small records) and a 1 MiB batch.
fn checksums(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksums");
    for size in [16usize << 10, 100_000, 1 << 20] {
        let buf: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("crc32fast", size), &buf, |b, buf| {
            b.iter(|| crc32fast::hash(std::hint::black_box(buf)))
        });
        group.bench_with_input(BenchmarkId::new("crc32c", size), &buf, |b, buf| {
            b.iter(|| crc32c::crc32c(std::hint::black_box(buf)))
        });
        group.bench_with_input(BenchmarkId::new("crc-fast", size), &buf, |b, buf| {
            b.iter(|| eventlog::storage::batch::v2::crc32c(std::hint::black_box(buf)))
        });
    }
    group.finish();
}

/// About 1 MiB of JSON events with varying ids, timestamps and values, as a producer
/// would batch them.
fn json_events() -> Vec<u8> {
    let mut out = Vec::with_capacity((1 << 20) + 256);
    let mut i: u64 = 0;
    while out.len() < 1 << 20 {
        let line = format!(
            "{{\"id\":\"evt-{:016x}\",\"ts\":{},\"user\":\"user-{}\",\"type\":\"{}\",\"amount\":{}.{:02}}}\n",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            1_700_000_000_000u64 + i * 37,
            i % 977,
            ["click", "view", "purchase", "signup"][(i % 4) as usize],
            (i * 7919) % 10_000,
            i % 100,
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}

/// Decompression throughput per codec, in uncompressed bytes per second; the id carries
/// the compression ratio (uncompressed / compressed).
fn decompression(c: &mut Criterion) {
    use eventlog::storage::compression::{Codec, compress, decompress};
    let input = json_events();
    let mut group = c.benchmark_group("decompression");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for codec in Codec::ALL {
        let compressed = compress(codec, &input);
        let ratio = input.len() as f64 / compressed.len() as f64;
        println!(
            "decompression/{codec}: {} -> {} bytes, ratio {ratio:.2}",
            input.len(),
            compressed.len()
        );
        group.bench_function(format!("{codec}/ratio_{ratio:.2}"), |b| {
            b.iter(|| decompress(codec, std::hint::black_box(&compressed), input.len()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    append,
    group_commit,
    read,
    format,
    recovery,
    checksums,
    decompression
);
criterion_main!(benches);
