//! The producer state of a [`Log`]: rebuilt on open from the newest snapshot and the
//! batches after it, checked and updated under the writer lock by idempotent appends,
//! snapshotted when a segment rolls and when the log closes, and cut back by a
//! truncation. See `producer_state.rs` for the rules and `producer_snapshot.rs` for the
//! file.

use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use super::batch::{self, BatchFormat};
use super::log::{Log, Writer};
use super::pread;
use super::producer_snapshot;
use super::producer_state::{ProducerBatch, ProducerStateTable};
use super::segment::{self, FILE_HEADER_LEN, Segment};

/// Snapshots kept: the newest and the one before it (in case the newest is damaged).
const SNAPSHOTS_KEPT: usize = 2;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Rebuilds the producer state of the log whose segments are `segments` (the active one
/// last) as of `next_offset` (the log's next offset at an open, or any batch boundary
/// below it): the newest snapshot at or below it, then every version 2 batch from the
/// snapshot's offset up to it.
pub(crate) fn rebuild(
    dir: &std::path::Path,
    segments: &[std::sync::Arc<Segment>],
    next_offset: u64,
) -> ProducerStateTable {
    let (from, mut table) = match producer_snapshot::load_newest(dir, next_offset) {
        Ok(Some(found)) => found,
        Ok(None) => (0, ProducerStateTable::default()),
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "cannot list producer snapshots; replaying the log");
            (0, ProducerStateTable::default())
        }
    };
    let now = now_ms();
    for seg in segments
        .iter()
        .filter(|s| s.next_offset() > from && s.base_offset < next_offset)
    {
        replay_segment(seg, from..next_offset, now, &mut table);
    }
    table
}

/// Records the producer batches of `seg` that start in `range` into `table`.
fn replay_segment(seg: &Segment, range: Range<u64>, now: i64, table: &mut ProducerStateTable) {
    // Version 1 batches carry no producer: known from the file header alone, so the
    // first open after an upgrade does not map every old segment just to skip it.
    if file_format(&seg.path) == Some(BatchFormat::V1) {
        return;
    }
    let Ok((map, end)) = seg.data() else {
        tracing::warn!(segment = %seg.path.display(), "cannot read a segment to rebuild producer state");
        return;
    };
    let data = map.committed(end);
    if segment::format_of(data) != BatchFormat::V2 {
        return; // version 1 batches carry no producer
    }
    let mut pos = FILE_HEADER_LEN;
    while pos < data.len() {
        // Recovery and the scrub judge damage; here a batch that does not parse ends
        // the walk of this segment (its producers then look unknown, which is safe).
        let Some(header) = batch::v2::unchecked_header(&data[pos..]) else {
            break;
        };
        pos += header.length as usize;
        if header.base_offset >= range.end {
            break;
        }
        if header.producer_id < 0 || header.base_offset < range.start {
            continue;
        }
        let producer = ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
        };
        let count = header.last_offset_delta + 1;
        let at = header.max_timestamp.min(now);
        table.record(
            &producer,
            count,
            header.base_offset,
            header.last_offset(),
            at,
        );
    }
}

/// The batch format named by the magic of the segment file at `path`, read with
/// `pread` (`None` when it cannot be read or the magic is unknown).
fn file_format(path: &std::path::Path) -> Option<BatchFormat> {
    let file = std::fs::File::open(path).ok()?;
    let mut header = [0u8; FILE_HEADER_LEN];
    pread::read_exact_at(&file, path, &mut header, 0).ok()?;
    BatchFormat::of_segment(&header)
}

impl Log {
    /// Stores a snapshot of the producer state at the writer's next offset and removes
    /// snapshots older than the [`SNAPSHOTS_KEPT`] newest. A failure costs only a longer
    /// replay at the next open.
    pub(crate) fn snapshot_producers(&self, w: &mut Writer) {
        let config = self.config();
        w.producers
            .expire(now_ms(), config.producer_limits.expiration_ms);
        let stored = producer_snapshot::store(&self.dir, w.next_offset, &w.producers)
            .and_then(|()| producer_snapshot::list(&self.dir))
            .and_then(|bases| {
                let keep_from = bases
                    .len()
                    .checked_sub(SNAPSHOTS_KEPT)
                    .map_or(0, |i| bases[i]);
                producer_snapshot::remove_outside(&self.dir, keep_from, w.next_offset)
            });
        if let Err(error) = stored {
            tracing::warn!(log = %self.ident, %error, "could not store a producer snapshot; the next open replays more of the log");
        }
    }

    /// The producer state as of `offset` (a batch boundary at or below the next
    /// offset: what the batches below it say), in the producer snapshot encoding
    /// (`storage-format.md`, "Producer snapshot"): what a replica started again at
    /// `offset` needs to recognise retries of batches it never received. Reads the
    /// newest snapshot at or below `offset` and the batch headers after it.
    pub fn producer_snapshot_at(&self, offset: u64) -> Vec<u8> {
        let table = rebuild(&self.dir, &self.segment_list(), offset);
        producer_snapshot::encode(offset, &table)
    }

    /// What the log knows of `producer_id`.
    #[cfg(test)]
    pub(crate) fn producer_state(
        &self,
        producer_id: i64,
    ) -> Option<super::producer_state::ProducerEntry> {
        self.lock_writer().producers.get(producer_id).cloned()
    }

    /// After a truncation to `offset`: forgets the producer batches it removed and the
    /// snapshots taken after it.
    pub(crate) fn truncate_producers(&self, w: &mut Writer, offset: u64) {
        w.producers.truncate(offset);
        if let Err(error) = producer_snapshot::remove_outside(&self.dir, 0, offset) {
            tracing::warn!(log = %self.ident, %error, "could not remove producer snapshots past a truncation");
        }
    }
}
