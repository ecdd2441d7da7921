//! Opening a partition directory after a clean stop or a crash: trust the sealed
//! segments the checkpoint lists, scan only the active segment (not even that after a
//! clean stop, see `clean_shutdown`), cut a torn tail, report damage that valid
//! batches follow, rebuild what is derived.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::batch::BatchFormat;
use super::checkpoint::{Checkpoint, SealedEntry};
use super::clean_shutdown::{self, CleanShutdown};
use super::config::LogConfig;
use super::error::{LogIdent, OpenError};
use super::fsutil;
use super::index::{self, IndexBuilder};
use super::mmap::SegmentMap;
use super::scan::{ScanOutcome, scan_segment_bounded};
use super::segment::{self, FILE_HEADER_LEN, Segment};
use super::segment_age;
use super::swap;

/// What recovery found and did, for logs, tests and `describe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Bytes of torn tail cut from the active segment.
    pub torn_tail_bytes: u64,
    /// Damaged stretches followed by valid data: (segment path, position, reason).
    pub damage: Vec<(PathBuf, u64, String)>,
    /// Whether the checkpoint was missing or damaged and rebuilt by scanning.
    pub checkpoint_rebuilt: bool,
    /// Segments scanned in full (the active one, plus any the checkpoint did not know).
    pub segments_scanned: usize,
    /// Whether the active segment's scan was skipped: a clean-shutdown marker that
    /// agrees with the file said where its data ends.
    pub scan_skipped: bool,
}

/// The recovered state a `Log` starts from.
pub struct Recovered {
    /// The checkpoint as now stored.
    pub checkpoint: Checkpoint,
    /// All segments, the active one last.
    pub segments: Vec<Arc<Segment>>,
    /// The active segment's open file.
    pub active_file: File,
    /// Largest size the active file may reach.
    pub capacity: u64,
    /// Current length of the active file.
    pub file_len: u64,
    /// Where the next batch goes.
    pub write_pos: u64,
    /// Offset of the next record.
    pub next_offset: u64,
    /// The active segment's index builder (knows where the next entry is due).
    pub index: IndexBuilder,
    /// Where the active segment's age starts (`None` while it is empty).
    pub age_start: Option<SystemTime>,
    /// The batch format of the active segment (version 1 until the first append rolls
    /// a segment written by an older version).
    pub format: BatchFormat,
    /// What happened.
    pub report: RecoveryReport,
}

struct Ctx<'a> {
    dir: &'a Path,
    ident: &'a LogIdent,
    config: &'a LogConfig,
}

impl Ctx<'_> {
    fn io(&self, path: PathBuf) -> impl FnOnce(io::Error) -> OpenError + '_ {
        move |source| OpenError::io(self.ident.clone(), path, source)
    }
}

/// Capacity of an active segment file: room for `segment_bytes` plus one maximal
/// batch, so a batch always fits into a fresh segment. Unwritten space is sparse.
pub fn capacity(config: &LogConfig) -> u64 {
    config.segment_bytes + u64::from(config.max_batch_bytes) + FILE_HEADER_LEN as u64
}

/// Opens the log in `dir`, creating it if empty.
pub fn recover(dir: &Path, ident: &LogIdent, config: &LogConfig) -> Result<Recovered, OpenError> {
    let ctx = Ctx { dir, ident, config };
    fsutil::create_dir_durable(dir).map_err(ctx.io(dir.to_path_buf()))?;
    // Taken (and removed durably) before anything below writes to the directory.
    let marker =
        clean_shutdown::take(dir, ident).map_err(ctx.io(dir.join(clean_shutdown::FILE_NAME)))?;
    let swapped = dir.join(swap::INTENT_FILE).exists();
    swap::roll_forward(dir).map_err(ctx.io(dir.join(swap::INTENT_FILE)))?;
    let bases = list_segments(&ctx)?;
    let mut report = RecoveryReport::default();
    let mut checkpoint = match Checkpoint::load(dir).map_err(ctx.io(dir.join("checkpoint")))? {
        Some(Ok(checkpoint)) => checkpoint,
        Some(Err(why)) => {
            tracing::warn!(log = %ident, path = %dir.join("checkpoint").display(), %why, "checkpoint damaged, rebuilding it by scanning segments");
            report.checkpoint_rebuilt = true;
            Checkpoint {
                log_start_offset: bases.first().copied().unwrap_or(0),
                sealed: Vec::new(),
            }
        }
        None => {
            report.checkpoint_rebuilt = !bases.is_empty();
            Checkpoint {
                log_start_offset: bases.first().copied().unwrap_or(0),
                sealed: Vec::new(),
            }
        }
    };
    remove_leftovers(&ctx, &checkpoint, &bases)?;
    check_sealed_exist(&ctx, &checkpoint, &bases)?;
    let unknown: Vec<u64> = bases
        .iter()
        .copied()
        .filter(|b| *b >= checkpoint.active_base())
        .collect();
    let changed = seal_unknown(&ctx, &mut checkpoint, &unknown, &mut report)?;
    if changed || report.checkpoint_rebuilt {
        // Derived from the segments, so a full disk need not stop the open: the writer
        // holds the same checkpoint and stores it at its next roll; until then, the next
        // open derives it again.
        match checkpoint.store(dir) {
            Err(error) if fsutil::is_no_space(&error) => {
                tracing::warn!(log = %ident, %error, "no space to store the rebuilt checkpoint; stored at the next roll");
            }
            stored => stored.map_err(ctx.io(dir.join("checkpoint")))?,
        }
    }
    let mut segments: Vec<Arc<Segment>> = checkpoint
        .sealed
        .iter()
        .map(|e| {
            Arc::new(Segment::from_checkpoint(
                dir,
                *e,
                config.index_interval_bytes,
                &config.open_segments,
            ))
        })
        .collect();
    // A marker is only trusted when nothing but the active segment's scan was left to
    // do: no interrupted swap, no segment sealed behind the checkpoint's back.
    let marker = marker.filter(|_| !swapped && unknown.len() <= 1);
    let active = open_active(&ctx, checkpoint.active_base(), &mut report, marker.as_ref())?;
    segments.push(active.segment);
    Ok(Recovered {
        checkpoint,
        segments,
        active_file: active.file,
        capacity: active.capacity,
        file_len: active.file_len,
        write_pos: active.write_pos,
        next_offset: active.next_offset,
        index: active.index,
        age_start: active.age_start,
        format: active.format,
        report,
    })
}

/// Base offsets of the `*.log` files; removes temporary files of interrupted writes.
fn list_segments(ctx: &Ctx) -> Result<Vec<u64>, OpenError> {
    let mut bases = BTreeSet::new();
    let entries = std::fs::read_dir(ctx.dir).map_err(ctx.io(ctx.dir.to_path_buf()))?;
    for entry in entries {
        let entry = entry.map_err(ctx.io(ctx.dir.to_path_buf()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = fsutil::parse_file_name(&name, "log") {
            bases.insert(base);
        } else if name.ends_with(".tmp") || name.ends_with(".swap") {
            // A temporary file whose rename never happened: the operation did not commit.
            fsutil::remove_if_exists(&entry.path()).map_err(ctx.io(entry.path()))?;
        }
    }
    Ok(bases.into_iter().collect())
}

/// Deletes segments below the first one the checkpoint lists (retention deletes
/// files after the checkpoint that drops them is stored).
fn remove_leftovers(ctx: &Ctx, checkpoint: &Checkpoint, bases: &[u64]) -> Result<(), OpenError> {
    let first = checkpoint
        .sealed
        .first()
        .map_or(checkpoint.active_base(), |e| e.base_offset);
    for base in bases.iter().filter(|b| **b < first) {
        for name in [
            fsutil::segment_file_name(*base),
            fsutil::index_file_name(*base),
        ] {
            let path = ctx.dir.join(name);
            tracing::info!(log = %ctx.ident, path = %path.display(), "removing segment below the log start");
            fsutil::remove_if_exists(&path).map_err(ctx.io(path.clone()))?;
        }
    }
    Ok(())
}

fn check_sealed_exist(ctx: &Ctx, checkpoint: &Checkpoint, bases: &[u64]) -> Result<(), OpenError> {
    for entry in &checkpoint.sealed {
        if bases.binary_search(&entry.base_offset).is_err() {
            let path = ctx.dir.join(fsutil::segment_file_name(entry.base_offset));
            return Err(OpenError::Io {
                log: ctx.ident.clone(),
                path,
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    "sealed segment listed in the checkpoint is missing",
                ),
            });
        }
    }
    Ok(())
}

/// Segments at or after the checkpoint's active base other than the last were
/// sealed without the checkpoint knowing (lost checkpoint): scan and seal them.
fn seal_unknown(
    ctx: &Ctx,
    checkpoint: &mut Checkpoint,
    unknown: &[u64],
    report: &mut RecoveryReport,
) -> Result<bool, OpenError> {
    let Some((_, sealed)) = unknown.split_last() else {
        return Ok(false);
    };
    for (i, base) in sealed.iter().enumerate() {
        // A segment ends where the next file begins: compaction can leave an offset gap
        // at a segment's end, so its last record does not tell where it ends.
        let next_base = unknown[i + 1];
        let path = ctx.dir.join(fsutil::segment_file_name(*base));
        let file = File::open(&path).map_err(ctx.io(path.clone()))?;
        let len = file.metadata().map_err(ctx.io(path.clone()))?.len();
        let map = SegmentMap::map(&file, len).map_err(ctx.io(path.clone()))?;
        let bytes = map.committed(len as usize);
        check_header(ctx, &path, bytes, *base)?;
        let interval = ctx.config.index_interval_bytes;
        let outcome = scan_file(&file, bytes, *base, interval, Some(next_base))
            .map_err(ctx.io(path.clone()))?;
        note_damage(ctx, &path, &outcome, report);
        report.segments_scanned += 1;
        let index_bytes = index::encode(*base, &outcome.index);
        let index_path = ctx.dir.join(fsutil::index_file_name(*base));
        match fsutil::write_synced(&index_path, &index_bytes) {
            // Derived data: a missing or short index is rebuilt on first use.
            Err(error) if fsutil::is_no_space(&error) => {
                tracing::warn!(log = %ctx.ident, path = %index_path.display(), %error, "no space to write a rebuilt index; rebuilt again on first use");
            }
            written => written.map_err(ctx.io(index_path))?,
        }
        checkpoint.sealed.push(SealedEntry {
            base_offset: *base,
            next_offset: next_base,
            data_len: outcome.valid_end,
            max_timestamp: outcome.max_timestamp,
            index_crc: crc32fast::hash(&index_bytes),
            index_entries: outcome.index.len() as u32,
        });
    }
    Ok(true)
}

fn check_header(ctx: &Ctx, path: &Path, bytes: &[u8], base: u64) -> Result<bool, OpenError> {
    if bytes.len() < FILE_HEADER_LEN || bytes[..FILE_HEADER_LEN].iter().all(|b| *b == 0) {
        return Ok(false);
    }
    let known = [BatchFormat::V1, BatchFormat::V2]
        .iter()
        .any(|f| bytes[..FILE_HEADER_LEN] == segment::file_header(*f, base));
    if !known {
        return Err(OpenError::ForeignFile {
            log: ctx.ident.clone(),
            path: path.to_path_buf(),
            reason: "header magic or base offset does not match the file name".into(),
        });
    }
    Ok(true)
}

fn note_damage(ctx: &Ctx, path: &Path, outcome: &ScanOutcome, report: &mut RecoveryReport) {
    for d in &outcome.damage {
        tracing::error!(
            log = %ctx.ident, segment = %path.display(), position = d.position,
            resume_position = ?d.resume_position,
            bytes = ?d.resume_position.map(|end| end - d.position),
            resume_offset = ?d.resume_offset, reason = %d.reason,
            "corrupt batch followed by valid data: keeping the valid data, the damaged offsets are unreadable"
        );
        report
            .damage
            .push((path.to_path_buf(), d.position, d.reason.clone()));
    }
}

/// An opened active segment.
pub struct Active {
    /// The segment, mapped, with its index.
    pub segment: Arc<Segment>,
    /// Its file, open for writing.
    pub file: File,
    /// Largest size its file may reach.
    pub capacity: u64,
    /// Its current file length.
    pub file_len: u64,
    /// Where the next batch goes.
    pub write_pos: u64,
    /// Offset of the next record.
    pub next_offset: u64,
    /// The index builder continuing the recovered index.
    pub index: IndexBuilder,
    /// Where the segment's age starts (`None` while it is empty).
    pub age_start: Option<SystemTime>,
    /// The batch format of its file.
    pub format: BatchFormat,
}

/// Opens the segment at `base` as the active segment (used after a truncation).
pub fn open_active_segment(
    dir: &Path,
    ident: &LogIdent,
    config: &LogConfig,
    base: u64,
) -> Result<Active, OpenError> {
    let ctx = Ctx { dir, ident, config };
    open_active(&ctx, base, &mut RecoveryReport::default(), None)
}

/// Opens (or creates) the active segment, scans it (unless a clean-shutdown `marker`
/// agrees with it), cuts a torn tail, maps it.
fn open_active(
    ctx: &Ctx,
    base: u64,
    report: &mut RecoveryReport,
    marker: Option<&CleanShutdown>,
) -> Result<Active, OpenError> {
    let path = ctx.dir.join(fsutil::segment_file_name(base));
    let capacity = capacity(ctx.config);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let format = ctx.config.batch_format;
            segment::create_file(ctx.dir, format, base, capacity.min(segment::GROW_STEP))
                .map_err(ctx.io(path.clone()))?
                .1
        }
        Err(e) => return Err(ctx.io(path)(e)),
    };
    let metadata = file.metadata().map_err(ctx.io(path.clone()))?;
    let created = metadata.created().ok();
    let mut len = metadata.len();
    if len < FILE_HEADER_LEN as u64 {
        // A crash right after creating the file: room for the header, rewritten below.
        file.set_len(FILE_HEADER_LEN as u64)
            .map_err(ctx.io(path.clone()))?;
        len = FILE_HEADER_LEN as u64;
    }
    let outcome = match marker.map(|m| m.outcome_for(&file, &path, base, len)) {
        Some(Ok(outcome)) => {
            tracing::info!(log = %ctx.ident, segment = %path.display(), bytes = len, next_offset = outcome.next_offset, "scan skipped, clean shutdown marker");
            metrics::counter!(clean_shutdown::SCANS_SKIPPED).increment(1);
            report.scan_skipped = true;
            outcome
        }
        other => {
            if let Some(Err(why)) = other {
                tracing::warn!(log = %ctx.ident, segment = %path.display(), %why, "clean-shutdown marker does not match the active segment; scanning it");
            }
            report.segments_scanned += 1;
            scan_active(ctx, &file, &path, base, len)?
        }
    };
    note_damage(ctx, &path, &outcome, report);
    if let Some(tail_end) = outcome.torn_tail_end {
        let cut = tail_end - outcome.valid_end;
        tracing::info!(
            log = %ctx.ident,
            segment = %path.display(),
            position = outcome.valid_end,
            bytes = cut,
            next_offset = outcome.next_offset,
            "cutting torn tail"
        );
        report.torn_tail_bytes = cut;
        zero_range(&file, outcome.valid_end, tail_end).map_err(ctx.io(path.clone()))?;
    }
    // Room for the next appends, one growth step; a longer file (an older, larger
    // preallocation) is trimmed, since nothing maps it yet.
    let file_len = (outcome.valid_end + segment::GROW_STEP)
        .min(capacity)
        .max(outcome.valid_end);
    if len != file_len {
        file.set_len(file_len).map_err(ctx.io(path.clone()))?;
    }
    let format = active_format(&file, outcome.valid_end, ctx.config.batch_format)
        .map_err(ctx.io(path.clone()))?;
    fsutil::sync_data(&file, &path).map_err(ctx.io(path.clone()))?;
    let map = SegmentMap::map(&file, file_len).map_err(ctx.io(path.clone()))?;
    let mut index = IndexBuilder::new(
        base,
        ctx.config.index_interval_bytes,
        FILE_HEADER_LEN as u64,
    );
    index.resume(outcome.index.clone(), outcome.max_timestamp);
    let segment = Segment::loaded(
        base,
        path,
        map,
        outcome.index.clone(),
        &ctx.config.open_segments,
    );
    segment.publish_end(outcome.valid_end);
    segment.set_next_offset(outcome.next_offset);
    segment.observe_timestamp(outcome.max_timestamp);
    for d in outcome.damage {
        segment.record_damage(d);
    }
    let age_start =
        segment_age::recovered_start(created, outcome.first_timestamp, SystemTime::now());
    Ok(Active {
        format,
        age_start,
        segment: Arc::new(segment),
        file,
        capacity,
        file_len,
        write_pos: outcome.valid_end,
        next_offset: outcome.next_offset,
        index,
    })
}

/// The batch format of the active segment `file`, whose batches end at `valid_end`.
/// A segment without batches in another format than the one appends write (a version
/// 1 segment left by an older version) is given the `wanted` header here, so appends
/// go on in it; one with batches keeps its format until the first append rolls it (a
/// segment never mixes formats).
fn active_format(file: &File, valid_end: u64, wanted: BatchFormat) -> io::Result<BatchFormat> {
    let mut header = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut header, 0)?;
    let format = segment::format_of(&header);
    if format == wanted || valid_end > FILE_HEADER_LEN as u64 {
        return Ok(format);
    }
    let base = u64::from_le_bytes(header[8..].try_into().expect("8 bytes"));
    file.write_all_at(&segment::file_header(wanted, base), 0)?;
    Ok(wanted)
}

/// Scans the active segment file at `path` (`len` bytes long), writing its header
/// first if a crash left only zeros there.
fn scan_active(
    ctx: &Ctx,
    file: &File,
    path: &Path,
    base: u64,
    len: u64,
) -> Result<ScanOutcome, OpenError> {
    let map = SegmentMap::map(file, len).map_err(ctx.io(path.to_path_buf()))?;
    let bytes = map.committed(len as usize);
    if !check_header(ctx, path, bytes, base)? {
        file.write_all_at(&segment::file_header(ctx.config.batch_format, base), 0)
            .map_err(ctx.io(path.to_path_buf()))?;
    }
    scan_file(file, bytes, base, ctx.config.index_interval_bytes, None)
        .map_err(ctx.io(path.to_path_buf()))
}

/// Scans a mapped segment file without touching the unwritten (sparse) space past its
/// data. On some file systems (tmpfs) a read fault in a hole allocates a page: scanning
/// a whole preallocated file would use memory for nothing and, on a full file system,
/// fault with SIGBUS. So the scan covers only up to the page holding the last non-zero
/// byte, found with `pread` (which never allocates). Everything past it is zeros.
/// `end_offset` is one past the last offset the segment may hold, when known.
fn scan_file(
    file: &File,
    bytes: &[u8],
    base: u64,
    interval: u32,
    end_offset: Option<u64>,
) -> io::Result<ScanOutcome> {
    const PAGE: u64 = 4096;
    let len = bytes.len() as u64;
    let extent = data_extent(file, len)?;
    let upto = (extent.div_ceil(PAGE) * PAGE)
        .max(FILE_HEADER_LEN as u64)
        .min(len);
    let outcome = scan_segment_bounded(&bytes[..upto as usize], base, interval, end_offset);
    if upto == len || outcome.torn_tail_end.is_none() {
        return Ok(outcome);
    }
    // The last batch may end in zero bytes past the scanned range (a record whose value
    // ends in zeros): if its length reaches into the zeros, scan again with them
    // spelled out. Rare, and only then is the data copied.
    let format = segment::format_of(bytes);
    if outcome.valid_end + format.header_len() as u64 > len {
        return Ok(outcome);
    }
    let mut head = vec![0u8; format.header_len()];
    file.read_exact_at(&mut head, outcome.valid_end)?;
    let Some(length) = crate::storage::batch::peek_length(format, &head) else {
        return Ok(outcome);
    };
    let need = outcome.valid_end + u64::from(length);
    if need <= upto || need > len {
        return Ok(outcome);
    }
    let mut spelled = vec![0u8; need as usize];
    spelled[..upto as usize].copy_from_slice(&bytes[..upto as usize]);
    Ok(scan_segment_bounded(&spelled, base, interval, end_offset))
}

/// One past the last non-zero byte of the file's first `len` bytes (0 if none), read
/// backwards with `pread`.
fn data_extent(file: &File, len: u64) -> io::Result<u64> {
    const CHUNK: u64 = 1 << 16;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Overwrites `[from, to)` with zeros so stale bytes of a torn write never look like data.
fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; 1 << 16];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::storage::{Log, LogConfig, LogIdent, ReadLimits, Record};

    #[test]
    fn a_last_batch_ending_in_zeros_past_a_page_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::small();
        let mut value = vec![0u8; 20_000];
        value[0] = 1;
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config.clone()).unwrap();
        log.append(&[Record {
            value: Some(b"first".to_vec().into()),
            ..Record::default()
        }])
        .unwrap();
        log.append(&[Record {
            value: Some(value.clone().into()),
            ..Record::default()
        }])
        .unwrap();
        // No close: the file keeps its sparse preallocation, as after a crash.
        drop(log);
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap();
        assert_eq!(log.recovery_report().torn_tail_bytes, 0);
        let read = log.read(0, ReadLimits::default()).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.records[1].value.as_deref(), Some(&value[..]));
    }
}
