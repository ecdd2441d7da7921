//! Offline inspection of a partition directory: `verify` checks every batch CRC and
//! every index against the data and reports problems with their locations; `walk`
//! visits a segment file's batches and records (for `eventlog dump`). Read-only: no
//! file is created, cut or rewritten, and files are read, not mapped, so both are safe
//! on a live server's directory (a file trimmed meanwhile is read as it was).

use std::io;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchFault, BatchFormat, BatchHeader};
use super::checkpoint::{Checkpoint, SealedEntry};
use super::fsutil;
use super::index;
use super::pread;
use super::record::StoredRecord;
use super::scan::scan_segment;
use super::segment::{self, FILE_HEADER_LEN, check_batch};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Data is damaged or unreadable, or a structure is inconsistent.
    Error,
    /// Expected after a crash and repaired on the next open (a torn tail, a stale index).
    Warning,
}

/// One finding, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// The file.
    pub path: PathBuf,
    /// Byte position in the file, when it applies.
    pub position: Option<u64>,
    /// What is wrong.
    pub what: String,
}

/// The outcome of verifying one partition directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: usize,
    /// Batches that passed every check.
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Findings.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    fn problem(
        &mut self,
        severity: Severity,
        path: &Path,
        position: Option<u64>,
        what: impl Into<String>,
    ) {
        self.problems.push(Problem {
            severity,
            path: path.to_path_buf(),
            position,
            what: what.into(),
        });
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// Reads a whole segment file with `pread`. Offline tools read rather than map: a
/// running server may trim a segment's file while they look at it, and a map would
/// then fault; so would a disk read error (SIGBUS), which `pread` returns as `EIO`.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    pread::read_file(path).map_err(|e| io::Error::new(e.source.kind(), e))
}

/// Verifies the partition log in `dir`: the checkpoint, every segment's batches (CRC
/// and structure) and every sealed segment's index.
pub fn verify(dir: &Path) -> io::Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut bases: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| fsutil::parse_file_name(e.ok()?.file_name().to_str()?, "log"))
        .collect();
    bases.sort_unstable();
    let checkpoint = match Checkpoint::load(dir)? {
        Some(Ok(c)) => Some(c),
        Some(Err(why)) => {
            report.problem(Severity::Error, &dir.join("checkpoint"), None, why);
            None
        }
        None if bases.len() > 1 => {
            report.problem(Severity::Error, &dir.join("checkpoint"), None, "missing");
            None
        }
        None => None,
    };
    let sealed: Vec<SealedEntry> = checkpoint.map(|c| c.sealed).unwrap_or_default();
    for entry in &sealed {
        if bases.binary_search(&entry.base_offset).is_err() {
            let path = dir.join(fsutil::segment_file_name(entry.base_offset));
            report.problem(
                Severity::Error,
                &path,
                None,
                "listed in the checkpoint but missing",
            );
        }
    }
    for base in bases {
        let path = dir.join(fsutil::segment_file_name(base));
        let entry = sealed.iter().find(|e| e.base_offset == base);
        verify_segment(&path, base, entry, &mut report)?;
    }
    Ok(report)
}

fn verify_segment(
    path: &Path,
    base: u64,
    entry: Option<&SealedEntry>,
    report: &mut VerifyReport,
) -> io::Result<()> {
    report.segments += 1;
    let bytes = match read_file(path) {
        Ok(bytes) => bytes,
        // A disk read error: reported, and the other segments are still checked.
        Err(error) => {
            let what = format!("unreadable, segment skipped: {error}");
            report.problem(Severity::Error, path, None, what);
            return Ok(());
        }
    };
    let bytes = bytes.as_slice();
    let header_ok = BatchFormat::of_segment(bytes)
        .is_some_and(|f| bytes[..FILE_HEADER_LEN] == segment::file_header(f, base));
    if !header_ok {
        report.problem(Severity::Error, path, Some(0), "bad segment header");
        return Ok(());
    }
    let outcome = scan_segment(bytes, base, 4096);
    for d in &outcome.damage {
        let resume = d.resume_offset.map_or(String::new(), |o| {
            format!("; valid data resumes at offset {o}")
        });
        report.problem(
            Severity::Error,
            path,
            Some(d.position),
            format!("corrupt batch: {}{resume}", d.reason),
        );
    }
    count_valid(bytes, report);
    match entry {
        Some(entry) => {
            if outcome.valid_end < entry.data_len {
                let what = format!(
                    "corrupt or missing data: valid batches end at {}, the checkpoint says {}",
                    outcome.valid_end, entry.data_len
                );
                report.problem(Severity::Error, path, Some(outcome.valid_end), what);
            }
            verify_index(path, base, entry, &batch_starts(bytes), report);
        }
        None => {
            if let Some(end) = outcome.torn_tail_end {
                let what = format!(
                    "torn tail of {} bytes (cut on the next open)",
                    end - outcome.valid_end
                );
                report.problem(Severity::Warning, path, Some(outcome.valid_end), what);
            }
        }
    }
    Ok(())
}

fn count_valid(bytes: &[u8], report: &mut VerifyReport) {
    walk_bytes(bytes, &mut |event| {
        if let WalkEvent::Batch { header, .. } = event {
            report.batches += 1;
            report.records += u64::from(header.record_count);
        }
    });
}

/// A batch start an index entry may point at: (position, base offset, largest record
/// timestamp of the valid batches before it in the segment).
type BatchStart = (u64, u64, i64);

fn batch_starts(bytes: &[u8]) -> Vec<BatchStart> {
    let mut starts = Vec::new();
    let mut max_ts = i64::MIN;
    walk_bytes(bytes, &mut |event| {
        if let WalkEvent::Batch {
            position, header, ..
        } = event
        {
            starts.push((position, header.base_offset, max_ts));
            max_ts = max_ts.max(header.max_timestamp);
        }
    });
    starts
}

/// Checks a sealed segment's index against the segment's data, entry by entry, so a
/// damaged index is an error at the byte where it goes wrong. The server rebuilds such
/// an index from the segment on first use, and then rewrites it: a rebuilt index
/// matches the data again and passes, even though its checksum is no longer the one
/// the checkpoint recorded at sealing.
fn verify_index(
    segment: &Path,
    base: u64,
    entry: &SealedEntry,
    starts: &[BatchStart],
    report: &mut VerifyReport,
) {
    let path = segment.with_file_name(fsutil::index_file_name(base));
    let bytes = match read_file(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return report.problem(
                Severity::Warning,
                &path,
                None,
                "missing; rebuilt from the segment on first use",
            );
        }
        Err(e) => return report.problem(Severity::Error, &path, None, format!("unreadable: {e}")),
    };
    let rebuilt = "the server rebuilds it from the segment on first use";
    if bytes.len() < index::FILE_HEADER_LEN || bytes[..8] != index::MAGIC {
        let what = format!("damaged index header; {rebuilt}");
        return report.problem(Severity::Error, &path, Some(0), what);
    }
    if bytes[8..16] != base.to_le_bytes() {
        let what = format!("index names another base offset; {rebuilt}");
        return report.problem(Severity::Error, &path, Some(8), what);
    }
    let body = &bytes[index::FILE_HEADER_LEN..];
    let whole = body.len() / index::ENTRY_LEN;
    for (i, raw) in body.chunks_exact(index::ENTRY_LEN).enumerate() {
        let rel_offset = u32::from_le_bytes(raw[0..4].try_into().expect("4 bytes"));
        let position = u32::from_le_bytes(raw[4..8].try_into().expect("4 bytes"));
        let max_ts_before = i64::from_le_bytes(raw[8..16].try_into().expect("8 bytes"));
        let matches = starts
            .binary_search_by_key(&u64::from(position), |s| s.0)
            .ok()
            .map(|at| starts[at])
            .is_some_and(|(_, offset, ts)| {
                offset.checked_sub(base) == Some(u64::from(rel_offset)) && ts == max_ts_before
            });
        if !matches {
            let what = format!(
                "index entry {i} (offset {}, position {position}) does not match a batch of the segment; {rebuilt}",
                base.saturating_add(u64::from(rel_offset))
            );
            let at = (index::FILE_HEADER_LEN + i * index::ENTRY_LEN) as u64;
            return report.problem(Severity::Error, &path, Some(at), what);
        }
    }
    let end = (index::FILE_HEADER_LEN + whole * index::ENTRY_LEN) as u64;
    if !body.len().is_multiple_of(index::ENTRY_LEN) {
        let what = format!("index ends inside an entry (cut); {rebuilt}");
        return report.problem(Severity::Error, &path, Some(end), what);
    }
    // Every entry is right; fewer than the checkpoint recorded means entries were cut.
    // (A rebuilt index has the checkpoint's count: same data, same interval.)
    if crc32fast::hash(&bytes) != entry.index_crc && whole != entry.index_entries as usize {
        let what = format!(
            "index holds {whole} entries, the checkpoint recorded {}; {rebuilt}",
            entry.index_entries
        );
        report.problem(Severity::Error, &path, Some(end), what);
    }
}

/// What `walk` visits.
#[derive(Debug)]
pub enum WalkEvent<'a> {
    /// A valid batch at `position`, with its records.
    Batch {
        /// Byte position in the file.
        position: u64,
        /// The batch header.
        header: BatchHeader,
        /// Its records.
        records: Vec<StoredRecord>,
    },
    /// Bytes at `position` that are not a valid batch.
    Bad {
        /// Byte position in the file.
        position: u64,
        /// Why.
        fault: &'a BatchFault,
    },
}

/// Visits the batches of the segment file at `path`, in order, stopping at
/// unwritten space; a bad batch is reported and skipped to the next valid one.
pub fn walk(path: &Path, visit: &mut dyn FnMut(WalkEvent<'_>)) -> io::Result<()> {
    let bytes = read_file(path)?;
    let bytes = bytes.as_slice();
    if BatchFormat::of_segment(bytes).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not an eventlog segment", path.display()),
        ));
    }
    walk_bytes(bytes, visit);
    Ok(())
}

fn walk_bytes(bytes: &[u8], visit: &mut dyn FnMut(WalkEvent<'_>)) {
    let format = segment::format_of(bytes);
    let mut pos = FILE_HEADER_LEN;
    while pos < bytes.len() {
        match check_batch(format, &bytes[pos..]) {
            Ok(header) => {
                let raw = &bytes[pos..pos + header.length as usize];
                let records = batch::records(format, raw, &header)
                    .map(|records| {
                        records
                            .iter()
                            .filter_map(Result::ok)
                            .map(|r| r.to_stored(header.base_offset))
                            .collect()
                    })
                    .unwrap_or_default();
                visit(WalkEvent::Batch {
                    position: pos as u64,
                    header,
                    records,
                });
                pos += header.length as usize;
            }
            Err(BatchFault::Zero) if bytes[pos..].iter().all(|b| *b == 0) => return,
            Err(fault) => {
                visit(WalkEvent::Bad {
                    position: pos as u64,
                    fault: &fault,
                });
                match super::scan::resync(bytes, pos, 0) {
                    Some((next, _)) => pos = next,
                    None => return,
                }
            }
        }
    }
}
