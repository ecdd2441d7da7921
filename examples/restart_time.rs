//! Measures how long a broker takes to open a data directory whose partitions hold a
//! large active segment, after a clean stop (clean-shutdown markers present) and with
//! the markers removed (as after a crash, or a directory written before the markers
//! existed: every active segment is scanned).
//!
//! usage: cargo run --release --example restart_time -- DIR [PARTITIONS] [ACTIVE_MIB]
//! (defaults 100 partitions x 256 MiB). DIR must not exist; it is removed at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use eventlog::broker::{Broker, BrokerConfig, NewTopic};
use eventlog::storage::{FsyncPolicy, Log, LogConfig, LogIdent, Record};

const TOPIC: &str = "restart";
const SEGMENT_BYTES: u64 = 1 << 30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: restart_time DIR [PARTITIONS] [ACTIVE_MIB]")?,
    );
    let partitions: u32 = args.get(1).map_or(Ok(100), |a| a.parse())?;
    let active_mib: u64 = args.get(2).map_or(Ok(256), |a| a.parse())?;
    if dir.exists() {
        return Err(format!("{} exists", dir.display()).into());
    }
    let config = BrokerConfig {
        data_dir: dir.clone(),
        fsync: FsyncPolicy::Never,
        scrub_bytes_per_sec: 0,
        ..BrokerConfig::default()
    };
    create_topic(&config, partitions)?;
    let started = Instant::now();
    fill(&dir, partitions, active_mib)?;
    println!(
        "wrote {partitions} partitions x {active_mib} MiB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for round in 1..=2 {
        println!("clean restart {round}: {:.3} s", timed_open(&config)?);
    }
    remove_markers(&dir, partitions)?;
    println!(
        "restart without markers (full scans): {:.3} s",
        timed_open(&config)?
    );
    println!("clean restart after that: {:.3} s", timed_open(&config)?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn create_topic(config: &BrokerConfig, partitions: u32) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open(config.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(broker.create_topic(NewTopic {
        name: TOPIC.into(),
        partitions: Some(partitions),
        segment_bytes: Some(SEGMENT_BYTES),
        ..NewTopic::default()
    }))?;
    broker.close();
    Ok(())
}

/// Fills each partition's active segment with `active_mib` MiB of 1 MiB batches, two
/// partitions at a time, and closes each log cleanly.
fn fill(dir: &Path, partitions: u32, active_mib: u64) -> Result<(), String> {
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (dir, next) = (dir.to_path_buf(), next.clone());
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let p = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if p >= partitions {
                        return Ok(());
                    }
                    fill_one(&dir, p, active_mib).map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "a fill thread panicked")??;
    }
    Ok(())
}

fn fill_one(dir: &Path, p: u32, active_mib: u64) -> Result<(), Box<dyn std::error::Error>> {
    let config = LogConfig {
        segment_bytes: SEGMENT_BYTES,
        fsync: FsyncPolicy::Never,
        ..LogConfig::default()
    };
    let path = dir.join("topics").join(TOPIC).join(p.to_string());
    let log = Log::open(&path, LogIdent::new(TOPIC, p), config)?;
    let value: bytes::Bytes = vec![0x5a; 64 << 10].into();
    let batch: Vec<Record> = (0..16)
        .map(|_| Record {
            value: Some(value.clone()),
            ..Record::default()
        })
        .collect();
    for _ in 0..active_mib {
        log.append(&batch)?;
    }
    log.close()?;
    Ok(())
}

/// Opens the broker over `config`'s directory, returning the seconds until it is open
/// (every partition ready to serve), then closes it cleanly.
fn timed_open(config: &BrokerConfig) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let broker = Broker::open(config.clone())?;
    let elapsed = started.elapsed().as_secs_f64();
    broker.close();
    Ok(elapsed)
}

fn remove_markers(dir: &Path, partitions: u32) -> std::io::Result<()> {
    for p in 0..partitions {
        let marker = dir
            .join("topics")
            .join(TOPIC)
            .join(p.to_string())
            .join(eventlog::storage::clean_shutdown::FILE_NAME);
        std::fs::remove_file(marker)?;
    }
    Ok(())
}
