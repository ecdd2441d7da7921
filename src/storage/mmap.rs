//! The only module allowed `unsafe`: read-only memory maps of segment files.
//!
//! # The contract that makes the maps sound
//! 1. **No SIGBUS**: a page of a map faults only if it lies wholly past the end of
//!    the file. Readers never touch a byte at or past a segment's committed end, and a
//!    file is never shortened below the committed end of any map of it: sealing trims
//!    only the space *above* the committed end, and recovery cuts a torn tail (by
//!    zeroing it) before the map readers use is made. Sealed segments are replaced or
//!    deleted only by `rename`/`unlink`, which leave the old inode — and every map of
//!    it — intact until the last map is dropped. Other processes are kept out by the
//!    data directory lock (`DirLock`); the offline tools that may run beside a server
//!    (`verify`, `dump`) read files instead of mapping them.
//! 2. **No torn or changing bytes**: callers only borrow the prefix below a segment's
//!    *committed end*. Bytes below it were written (with `pwrite`, through the page
//!    cache the map shares) before the end was published with release ordering, and are
//!    never written again: appends only write above the committed end.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;

/// A read-only map of a whole segment file, or nothing for an empty file.
pub struct SegmentMap {
    map: Option<memmap2::Mmap>,
}

impl SegmentMap {
    /// Maps the first `len` bytes of `file`. The caller guarantees the file is at
    /// least `len` bytes long and follows the module's contract from now on.
    pub fn map(file: &File, len: u64) -> io::Result<SegmentMap> {
        if len == 0 {
            return Ok(SegmentMap { map: None });
        }
        let len = usize::try_from(len)
            .map_err(|_| io::Error::other("segment larger than the address space"))?;
        // SAFETY: the file is at least `len` bytes now (checked or set by the caller), and
        // is never shortened below the committed end that bounds every access (module
        // contract, point 1), so no access faults with SIGBUS. The map is read-only and
        // only ever read through `committed`, so Rust never sees it change (point 2).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        Ok(SegmentMap { map: Some(map) })
    }

    /// Length of the map in bytes.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Borrows the first `end` bytes (clamped to the map). `end` must be a committed
    /// end: bytes below it are never written again (module contract, point 2).
    pub fn committed(&self, end: usize) -> &[u8] {
        let Some(map) = &self.map else {
            return &[];
        };
        let end = end.min(map.len());
        // SAFETY: `map.as_ptr()` is valid for `map.len()` bytes for the lifetime of
        // `self`; `end <= map.len()`. The bytes below a committed end are not written
        // while borrowed (point 2), so the shared slice is never aliased by a writer.
        // We build the slice ourselves rather than deref the whole map so no reference
        // ever covers the region the writer is still filling.
        unsafe { std::slice::from_raw_parts(map.as_ptr(), end) }
    }
}
