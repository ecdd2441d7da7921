//! One segment: a data file named by its base offset, its memory map, its sparse
//! index, and the committed end below which readers may look.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::batch::{self, BatchFormat, BatchHeader};
use super::checkpoint::SealedEntry;
use super::config::MAX_BATCH_BYTES_LIMIT;
use super::fsutil;
use super::index::{self, IndexBuilder, IndexEntry};
use super::mmap::SegmentMap;
use super::open_segments::{OpenSegments, Resident};
use super::scan;
use super::shared_index::SharedIndex;

/// The active segment's file grows in steps of this many bytes (sparse), so a crash
/// leaves at most one step of unwritten space to scan on the next open.
pub const GROW_STEP: u64 = 8 << 20;

/// Bytes before the first batch: magic (which names the batch format, see
/// [`BatchFormat::segment_magic`]), then the base offset.
pub const FILE_HEADER_LEN: usize = 16;

/// A stretch of a segment that holds no valid batch, found by recovery or by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Position of the first bad byte (where a batch was expected).
    pub position: u64,
    /// Position of the next valid batch, if any.
    pub resume_position: Option<u64>,
    /// Offset of the next valid batch, if any.
    pub resume_offset: Option<u64>,
    /// Why the batch at `position` was refused.
    pub reason: String,
}

/// A segment shared by the writer and any number of readers.
pub struct Segment {
    /// Offset of the first record the segment may hold (its file name).
    pub base_offset: u64,
    /// Data file path.
    pub path: PathBuf,
    /// Map and index: loaded on first use, dropped again by the open-segment budget.
    resident: Arc<Resident>,
    /// Set once the segment left the log (retention, compaction, truncation): its path
    /// may now name another file or none, so it is never opened again.
    retired: AtomicBool,
    end: AtomicU64,
    next_offset: AtomicU64,
    max_timestamp: AtomicI64,
    sealed: AtomicBool,
    index_meta: Mutex<Option<SealedEntry>>,
    damage: Mutex<Vec<Damage>>,
    index_interval: u32,
}

impl Segment {
    /// A segment whose data, index and committed end are already known (the active
    /// segment after recovery, or a freshly sealed one).
    /// Once sealed, it counts against `budget` like any loaded sealed segment.
    pub fn loaded(
        base_offset: u64,
        path: PathBuf,
        map: SegmentMap,
        entries: Vec<IndexEntry>,
        budget: &OpenSegments,
    ) -> Segment {
        let segment = Segment::unloaded(base_offset, path, None, budget);
        *segment.resident.map.write().expect("map lock") = Some(Arc::new(map));
        *segment.resident.index.write().expect("index lock") =
            Some(Arc::new(SharedIndex::new(entries)));
        segment
    }

    /// A sealed segment known only from the checkpoint; map and index load on first use,
    /// charged to `budget`.
    pub fn from_checkpoint(
        dir: &Path,
        entry: SealedEntry,
        index_interval: u32,
        budget: &OpenSegments,
    ) -> Segment {
        let path = dir.join(fsutil::segment_file_name(entry.base_offset));
        let mut segment = Segment::unloaded(entry.base_offset, path, Some(entry), budget);
        segment.index_interval = index_interval;
        segment.end.store(entry.data_len, Ordering::Release);
        segment
            .next_offset
            .store(entry.next_offset, Ordering::Release);
        segment
            .max_timestamp
            .store(entry.max_timestamp, Ordering::Release);
        segment.sealed.store(true, Ordering::Release);
        segment
    }

    fn unloaded(
        base_offset: u64,
        path: PathBuf,
        meta: Option<SealedEntry>,
        budget: &OpenSegments,
    ) -> Segment {
        Segment {
            base_offset,
            path,
            resident: budget.resident(),
            retired: AtomicBool::new(false),
            end: AtomicU64::new(FILE_HEADER_LEN as u64),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            sealed: AtomicBool::new(false),
            index_meta: Mutex::new(meta),
            damage: Mutex::new(Vec::new()),
            index_interval: 4096,
        }
    }

    /// Committed end: bytes below it are complete batches that never change.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Publishes a new committed end (never moves backwards).
    pub fn publish_end(&self, end: u64) {
        self.end.fetch_max(end, Ordering::AcqRel);
    }

    /// One past the last offset covered by the segment.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Records that batches up to `next` were written (not necessarily committed).
    pub fn set_next_offset(&self, next: u64) {
        self.next_offset.store(next, Ordering::Release);
    }

    /// Largest record timestamp in the segment.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// Raises the segment's largest timestamp.
    pub fn observe_timestamp(&self, ts: i64) {
        self.max_timestamp.fetch_max(ts, Ordering::AcqRel);
    }

    /// Whether the segment is sealed (immutable).
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Marks the segment sealed with the metadata the checkpoint will carry.
    pub fn mark_sealed(&self, entry: SealedEntry) {
        *self.index_meta.lock().expect("meta lock") = Some(entry);
        self.sealed.store(true, Ordering::Release);
        // The former active segment keeps its map and index: from now on they count.
        self.resident.admit();
    }

    /// Marks the segment as gone from the log, before its files are replaced or
    /// deleted: a reader that already holds its map keeps reading the old file, but no
    /// one opens its path again (it may name a new file by then). Such a reader gets a
    /// `NotFound` error and reads again from the log's current segments.
    pub fn retire(&self) {
        let _index = self.resident.index.write().expect("index lock");
        let _map = self.resident.map.write().expect("map lock");
        self.retired.store(true, Ordering::Release);
    }

    /// Whether [`Segment::retire`] was called.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    fn check_not_retired(&self) -> io::Result<()> {
        if self.is_retired() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment {} was replaced or deleted", self.path.display()),
            ));
        }
        Ok(())
    }

    /// Charges a loaded sealed segment to the budget (the active one is not charged:
    /// every partition keeps its active segment open anyway).
    fn admit_if_sealed(&self) {
        if self.is_sealed() {
            self.resident.admit();
        }
    }

    /// Path of the segment's index file.
    pub fn index_path(&self) -> PathBuf {
        self.path
            .with_file_name(fsutil::index_file_name(self.base_offset))
    }

    /// Adds an entry to the active segment's in-memory index.
    /// In place: readers holding the index see the entry, and nothing is copied.
    pub fn push_index(&self, entry: IndexEntry) {
        let loaded = self.resident.index.read().expect("index lock").clone();
        let shared = loaded.unwrap_or_else(|| {
            let mut guard = self.resident.index.write().expect("index lock");
            guard.get_or_insert_with(Default::default).clone()
        });
        shared.push(entry);
    }

    /// The committed bytes of the segment, mapping the file on first use.
    pub fn data(&self) -> io::Result<(Arc<SegmentMap>, usize)> {
        let (map, end, loaded) = self.load_data()?;
        if loaded {
            self.admit_if_sealed();
        }
        Ok((map, end))
    }

    /// [`Segment::data`] without charging the budget, for callers holding the index
    /// lock (admitting may unload other segments, which takes their locks). The flag
    /// says whether this call mapped the file.
    fn load_data(&self) -> io::Result<(Arc<SegmentMap>, usize, bool)> {
        let end = self.end() as usize;
        // `end` is loaded before the map: a map that grew was installed before the end
        // that needs it was published, so this map always covers `end`.
        if let Some(map) = self.resident.map.read().expect("map lock").as_ref() {
            self.resident.touch();
            return Ok((map.clone(), end, false));
        }
        let mut slot = self.resident.map.write().expect("map lock");
        if let Some(map) = slot.as_ref() {
            return Ok((map.clone(), end, false));
        }
        self.check_not_retired()?;
        let file = File::open(&self.path)?;
        let file_len = file.metadata()?.len();
        if file_len < end as u64 {
            // A sealed file shorter than the checkpoint says: map what exists and
            // report the missing tail as damage, so no reader silently skips it.
            self.end.store(file_len, Ordering::Release);
            self.record_damage(Damage {
                position: file_len.max(FILE_HEADER_LEN as u64),
                resume_position: None,
                resume_offset: Some(self.next_offset()),
                reason: format!("file is {file_len} bytes, the checkpoint says {end}"),
            });
        }
        let map = Arc::new(SegmentMap::map(&file, file_len)?);
        *slot = Some(map.clone());
        Ok((map, self.end() as usize, true))
    }

    /// Installs a larger map of the active segment after its file grew.
    pub fn replace_map(&self, map: SegmentMap) {
        *self.resident.map.write().expect("map lock") = Some(Arc::new(map));
    }

    /// The sparse index, loading (or rebuilding) it on first use of a sealed segment.
    pub fn index(&self) -> io::Result<Arc<SharedIndex>> {
        if let Some(entries) = self.resident.index.read().expect("index lock").as_ref() {
            self.resident.touch();
            return Ok(entries.clone());
        }
        let entries = {
            let mut guard = self.resident.index.write().expect("index lock");
            if let Some(entries) = guard.as_ref() {
                return Ok(entries.clone());
            }
            self.check_not_retired()?;
            let entries = Arc::new(SharedIndex::new(self.load_index()?));
            *guard = Some(entries.clone());
            entries
        };
        self.admit_if_sealed();
        Ok(entries)
    }

    fn load_index(&self) -> io::Result<Vec<IndexEntry>> {
        let meta = *self.index_meta.lock().expect("meta lock");
        let end = self.end();
        let index_path = self.index_path();
        let why = match (meta, std::fs::read(&index_path)) {
            (Some(meta), Ok(bytes)) => {
                let crc_ok = crc32fast::hash(&bytes) == meta.index_crc;
                match index::decode(&bytes, self.base_offset, end) {
                    Ok(entries) if crc_ok && entries.len() == meta.index_entries as usize => {
                        return Ok(entries);
                    }
                    Ok(entries) if crc_ok => format!(
                        "{} entries, the checkpoint recorded {}",
                        entries.len(),
                        meta.index_entries
                    ),
                    Ok(_) => "checksum differs from the checkpoint".to_string(),
                    Err(why) => why,
                }
            }
            (None, Ok(_)) => "no checkpoint entry to check it against".to_string(),
            (_, Err(error)) => error.to_string(),
        };
        // A damaged index costs a scan of this segment, never a record: say where and why.
        tracing::warn!(
            segment = %self.path.display(), index = %index_path.display(), reason = %why,
            "index missing or damaged, rebuilding it from the segment"
        );
        let entries = self.rebuild_index()?;
        let bytes = index::encode(self.base_offset, &entries);
        if let Err(error) = fsutil::write_synced(&index_path, &bytes) {
            tracing::warn!(segment = %self.path.display(), %error, "could not rewrite rebuilt index");
        } else if let Some(meta) = self.index_meta.lock().expect("meta lock").as_mut() {
            meta.index_crc = crc32fast::hash(&bytes);
            meta.index_entries = entries.len() as u32;
        }
        Ok(entries)
    }

    /// Scans the committed data and rebuilds the index.
    fn rebuild_index(&self) -> io::Result<Vec<IndexEntry>> {
        let (map, end, _) = self.load_data()?;
        let bytes = map.committed(end);
        let mut builder = IndexBuilder::new(
            self.base_offset,
            self.index_interval,
            FILE_HEADER_LEN as u64,
        );
        let format = format_of(bytes);
        let mut pos = FILE_HEADER_LEN;
        while pos < bytes.len() {
            match check_batch(format, &bytes[pos..]) {
                Ok(header) => {
                    builder.observe(pos as u64, &header);
                    pos += header.length as usize;
                }
                Err(_) => match scan::resync_after(bytes, pos, &self.continuation()) {
                    Some((next, _)) => pos = next,
                    None => break,
                },
            }
        }
        Ok(builder.entries)
    }

    /// What a batch found past damage in this segment must satisfy: offsets inside the
    /// segment (for the active one, below the writer's next offset).
    pub fn continuation(&self) -> scan::Continuation {
        scan::Continuation {
            next_offset: self.base_offset,
            end_offset: Some(self.next_offset()),
            dense: false,
        }
    }

    /// Known damage at `position`, if any.
    pub fn damage_at(&self, position: u64) -> Option<Damage> {
        self.damage
            .lock()
            .expect("damage lock")
            .iter()
            .find(|d| d.position == position)
            .cloned()
    }

    /// Remembers damage so later reads skip the resync scan.
    pub fn record_damage(&self, damage: Damage) {
        let mut list = self.damage.lock().expect("damage lock");
        if !list.iter().any(|d| d.position == damage.position) {
            list.push(damage);
        }
    }

    /// The checkpoint entry of a sealed segment.
    pub fn sealed_entry(&self) -> Option<SealedEntry> {
        *self.index_meta.lock().expect("meta lock")
    }

    /// Bytes of data (header included) below the committed end.
    pub fn size_bytes(&self) -> u64 {
        self.end()
    }
}

/// Creates a new, empty segment file of `len` bytes and syncs it and its directory,
/// so an acknowledged record in it can never lose its directory entry.
pub fn create_file(
    dir: &Path,
    format: BatchFormat,
    base_offset: u64,
    len: u64,
) -> io::Result<(PathBuf, File)> {
    let path = dir.join(fsutil::segment_file_name(base_offset));
    // A file already at this name can only be the remains of a creation that failed
    // (no record in it was ever acknowledged), so it is safe to start it afresh.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    fsutil::write_all_at(&file, &path, &file_header(format, base_offset), 0)?;
    fsutil::set_len(&file, &path, len)?;
    fsutil::sync_data(&file, &path)?;
    fsutil::sync_dir(dir)?;
    Ok((path, file))
}

/// The 16-byte header of a segment file holding batches of `format`.
pub fn file_header(format: BatchFormat, base_offset: u64) -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(&format.segment_magic());
    header[8..].copy_from_slice(&base_offset.to_le_bytes());
    header
}

/// The batch format of the segment whose file starts with `bytes`. A segment whose
/// magic is damaged (open and `verify` report that) is read in the format its first
/// batch checks in, so one flipped bit in the magic does not hide the whole segment.
pub fn format_of(bytes: &[u8]) -> BatchFormat {
    BatchFormat::of_segment(bytes).unwrap_or_else(|| {
        let first = bytes.get(FILE_HEADER_LEN..).unwrap_or_default();
        [BatchFormat::V2, BatchFormat::V1]
            .into_iter()
            .find(|f| batch::check_crc(*f, first, MAX_BATCH_BYTES_LIMIT).is_ok())
            .unwrap_or(BatchFormat::CURRENT)
    })
}

/// Checks a batch (header, CRC and records) found by scanning.
pub fn check_batch(format: BatchFormat, bytes: &[u8]) -> Result<BatchHeader, batch::BatchFault> {
    batch::check(format, bytes, MAX_BATCH_BYTES_LIMIT)
}

/// Checks a batch's length, CRC and header before its records are read out.
pub fn check_batch_crc(
    format: BatchFormat,
    bytes: &[u8],
) -> Result<BatchHeader, batch::BatchFault> {
    batch::check_crc(format, bytes, MAX_BATCH_BYTES_LIMIT)
}
