//! Producer-built batches are untrusted bytes: the check never panics, and a batch it
//! accepts always decodes, so a reader never meets a stored batch it cannot read, and
//! one stamped on arrival checks again after its stamp.

#![no_main]

use eventlog::storage::batch::{self, BatchFormat};
use eventlog::storage::client_batch::{check_client_batch, stamp_arrival_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut checked) = check_client_batch(data) {
        let header = batch::check(BatchFormat::V2, data, u32::MAX)
            .expect("an accepted producer-built batch decodes");
        assert_eq!(header.record_count, checked.header.record_count);
        assert_eq!(header.length as usize, data.len());
        let mut stamped = data.to_vec();
        stamp_arrival_time(&mut stamped, &mut checked, 1_800_000_000_000);
        let again = check_client_batch(&stamped).expect("a stamped batch checks again");
        assert_eq!(again.header, checked.header);
    }
});
