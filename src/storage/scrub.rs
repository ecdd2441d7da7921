//! Scrubbing sealed segments: recovery trusts the segments the checkpoint lists without
//! reading them (restart time must not grow with their number), so damage inside one
//! would otherwise surface only when a reader reaches it. A scrub reads one sealed
//! segment, checks every batch (CRC and structure), logs each damaged stretch with its
//! file and byte position, and remembers it in the segment so readers step over it at
//! once. Meant for a background thread after the log is open; it never writes a file.

use std::fs::File;
use std::io;

use super::error::LogIdent;
use super::log::Log;
use super::mmap::SegmentMap;
use super::scan::scan_segment;
use super::segment::{Damage, FILE_HEADER_LEN, Segment};
use std::sync::Arc;

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

    /// Whether `segment` is still one of the log's segments (not replaced by compaction
    /// or deleted by retention since it was listed).
    pub fn holds_segment(&self, segment: &Arc<Segment>) -> bool {
        self.segment_list().iter().any(|s| Arc::ptr_eq(s, segment))
    }
}

/// Checks every batch of the sealed segment `seg` up to its committed end; see the
/// module docs. The file is mapped only for the duration of the call, so scrubbing
/// many segments does not keep their maps open. Nothing is logged or recorded: the
/// file at the segment's path may have been replaced meanwhile (compaction renames the
/// new file over it), so the caller first checks with [`Log::holds_segment`] that the
/// segment is still current, then calls [`report_damage`].
pub fn scrub_segment(seg: &Segment) -> io::Result<ScrubOutcome> {
    if seg.is_retired() {
        // Leaving the log: its path may already name the file that replaces it.
        return Ok(ScrubOutcome::default());
    }
    let file = File::open(&seg.path)?;
    let file_len = file.metadata()?.len();
    let end = seg.end();
    let map = SegmentMap::map(&file, file_len.min(end))?;
    let bytes = map.committed(end as usize);
    if bytes.len() < FILE_HEADER_LEN {
        return Ok(ScrubOutcome::default());
    }
    let outcome = scan_segment(bytes, seg.base_offset, u32::MAX);
    let mut damage = outcome.damage;
    if outcome.valid_end < end {
        // Valid batches stop before the end the checkpoint recorded (a cut file, or
        // garbage to the end): the rest of the segment's offsets are lost, and reading
        // resumes with the next segment.
        let reason = if file_len < end {
            format!("file is {file_len} bytes, the checkpoint says {end}")
        } else {
            format!("no valid batch from here to the end the checkpoint says ({end})")
        };
        damage.push(Damage {
            position: outcome.valid_end,
            resume_position: None,
            resume_offset: Some(seg.next_offset()),
            reason,
        });
    }
    Ok(ScrubOutcome {
        bytes: bytes.len() as u64,
        damage,
    })
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
