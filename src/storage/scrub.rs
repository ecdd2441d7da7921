//! Scrubbing sealed segments: recovery trusts the segments the checkpoint lists without
//! reading them (restart time must not grow with their number), so damage inside one
//! would otherwise surface only when a reader reaches it. A scrub reads one sealed
//! segment, checks every batch (CRC and structure), logs each damaged stretch with its
//! file and byte position, and remembers it in the segment so readers step over it at
//! once. Meant for a background thread after the log is open; it never writes a file,
//! and reads with `pread` rather than a map (see [`super::pread`]).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchFormat};
use super::error::LogIdent;
use super::log::Log;
use super::pread::{self, FileReadError};
use super::scan::scan_segment;
use super::segment::{Damage, FILE_HEADER_LEN, Segment, check_batch};

/// Counter of sealed segments a scrub could not read (a disk read error); each is
/// logged with its path and skipped.
pub const SCRUB_UNREADABLE_SEGMENTS: &str = "eventlog_scrub_unreadable_segments_total";

/// What a scrub of one segment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubOutcome {
    /// Bytes checked.
    pub bytes: u64,
    /// Damaged stretches, in file order.
    pub damage: Vec<Damage>,
}

impl Log {
    /// The sealed segments as of now, oldest first, for [`scrub_segment`]. Holding them
    /// does not hold the log: retention or compaction may replace them meanwhile, and a
    /// scrub of a replaced segment is merely wasted.
    pub fn sealed_segments(&self) -> Vec<Arc<Segment>> {
        self.segment_list()
            .iter()
            .filter(|s| s.is_sealed())
            .cloned()
            .collect()
    }

    /// The segments a background scrub should read: every sealed one, and the active
    /// one too when the open skipped its scan (clean-shutdown marker), since then
    /// nothing else has read its data since the restart. Only its committed bytes are
    /// read, which appends never change.
    pub fn segments_to_scrub(&self) -> Vec<Arc<Segment>> {
        let segments = self.segment_list();
        let active = segments
            .last()
            .filter(|s| !s.is_sealed() && self.recovery_report().scan_skipped);
        let sealed = segments.iter().filter(|s| s.is_sealed());
        sealed.chain(active).cloned().collect()
    }

    /// Whether `segment` is still one of the log's segments (not replaced by compaction
    /// or deleted by retention since it was listed).
    pub fn holds_segment(&self, segment: &Arc<Segment>) -> bool {
        self.segment_list().iter().any(|s| Arc::ptr_eq(s, segment))
    }
}

/// A scrub could not read a segment: the segment is reported and skipped, the scrub
/// goes on with the next one.
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    /// The file could not be opened (`NotFound`: replaced or deleted meanwhile).
    #[error("cannot open {path}: {source}")]
    Open {
        /// The segment file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A read failed (a bad sector: `EIO`).
    #[error(transparent)]
    Read(#[from] FileReadError),
}

impl ScrubError {
    /// Whether the file was gone (retention or compaction replaced it meanwhile).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ScrubError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Checks every batch of the sealed segment `seg` up to its committed end; see the
/// module docs. The file is read with `pread`, never mapped: a disk read error is then
/// an error naming the file and position rather than a SIGBUS that kills the server
/// (and would kill it again at every start, when the scrub reaches the same page).
/// Nothing is logged or recorded: the file at the segment's path may have been
/// replaced meanwhile (compaction renames the new file over it), so the caller first
/// checks with [`Log::holds_segment`] that the segment is still current, then calls
/// [`report_damage`].
pub fn scrub_segment(seg: &Segment) -> Result<ScrubOutcome, ScrubError> {
    let scrubbed = scrub_unmetered(seg);
    if let Err(ScrubError::Read(_)) = scrubbed {
        metrics::counter!(SCRUB_UNREADABLE_SEGMENTS).increment(1);
    }
    scrubbed
}

fn scrub_unmetered(seg: &Segment) -> Result<ScrubOutcome, ScrubError> {
    if seg.is_retired() {
        // Leaving the log: its path may already name the file that replaces it.
        return Ok(ScrubOutcome::default());
    }
    let open = |source| ScrubError::Open {
        path: seg.path.clone(),
        source,
    };
    let file = File::open(&seg.path).map_err(open)?;
    let file_len = file.metadata().map_err(open)?.len();
    let end = seg.end();
    let readable = file_len.min(end);
    if readable < FILE_HEADER_LEN as u64 {
        return Ok(ScrubOutcome::default());
    }
    let (valid_end, mut damage) = match walk_valid(&file, &seg.path, readable, seg.base_offset)? {
        Walked::Clean(valid_end) => (valid_end, Vec::new()),
        Walked::Fault => {
            // Damage is rare: only then is the segment read whole, so the scan can search
            // past the damaged stretch for the next valid batch.
            let bytes = pread::read_prefix(&file, &seg.path, readable)?;
            let outcome = scan_segment(&bytes, seg.base_offset, u32::MAX);
            (outcome.valid_end, outcome.damage)
        }
    };
    if valid_end < end {
        // Valid batches stop before the end the checkpoint recorded (a cut file, or
        // garbage to the end): the rest of the segment's offsets are lost, and reading
        // resumes with the next segment.
        let reason = if file_len < end {
            format!("file is {file_len} bytes, the checkpoint says {end}")
        } else {
            format!("no valid batch from here to the end the checkpoint says ({end})")
        };
        damage.push(Damage {
            position: valid_end,
            resume_position: None,
            resume_offset: Some(seg.next_offset()),
            reason,
        });
    }
    Ok(ScrubOutcome {
        bytes: readable,
        damage,
    })
}

/// How a batch-by-batch walk of a segment ended.
enum Walked {
    /// Every batch was valid, up to this position.
    Clean(u64),
    /// A batch failed its checks, as `scan_segment` would judge it.
    Fault,
}

/// Walks the batches of the first `end` bytes of a segment file with one `pread` per
/// chunk, holding at most one chunk (or one batch) in memory.
fn walk_valid(file: &File, path: &Path, end: u64, base: u64) -> Result<Walked, FileReadError> {
    let mut window = pread::Window::new(file, path, end);
    // A damaged magic is judged by the whole-segment scan, which guesses the format.
    let Some(format) = BatchFormat::of_segment(window.at(0, FILE_HEADER_LEN)?) else {
        return Ok(Walked::Fault);
    };
    let mut pos = FILE_HEADER_LEN as u64;
    let mut next_offset = base;
    while pos < end {
        let head = window.at(pos, format.header_len())?;
        let Some(length) = batch::peek_length(format, head) else {
            return Ok(Walked::Fault);
        };
        match check_batch(format, window.at(pos, length as usize)?) {
            Ok(header) if header.base_offset >= next_offset => {
                next_offset = header.next_offset();
                pos += u64::from(header.length);
            }
            _ => return Ok(Walked::Fault),
        }
    }
    Ok(Walked::Clean(pos))
}

/// Logs each damaged stretch a scrub found, with its file and byte position, and
/// remembers it in the segment so readers step over it without searching.
pub fn report_damage(ident: &LogIdent, seg: &Segment, damage: &[Damage]) {
    for d in damage {
        tracing::error!(
            log = %ident, segment = %seg.path.display(), position = d.position,
            resume_offset = ?d.resume_offset, reason = %d.reason,
            "corrupt batch in a sealed segment: its records are unreadable, the rest stays readable"
        );
        seg.record_damage(d.clone());
    }
}
