//! The `RAW_BATCHES` delivery of Fetch and Subscribe: which delivery a request asks
//! for, the check that the client decodes the batch version the server sends, and the
//! replies carrying stored batches as bytes.

use tonic::Status;

use crate::proto::v1 as pb;
use crate::storage::RawRead;

/// The only batch version sent: batches of older segments are converted to it.
pub const SENT_BATCH_VERSION: u32 = 2;

/// Whether a request asks for raw batches: `Ok(true)` when it does and declares the
/// version sent, FAILED_PRECONDITION when it asks without declaring it, and
/// INVALID_ARGUMENT for an unknown delivery.
pub fn wants_raw(delivery: i32, batch_versions: &[u32]) -> Result<bool, Status> {
    match pb::Delivery::try_from(delivery) {
        Ok(pb::Delivery::Unspecified | pb::Delivery::Records) => Ok(false),
        Ok(pb::Delivery::RawBatches) if batch_versions.contains(&SENT_BATCH_VERSION) => Ok(true),
        Ok(pb::Delivery::RawBatches) => Err(Status::failed_precondition(format!(
            "raw batch delivery sends batch version {SENT_BATCH_VERSION} only, and the request \
             declares {batch_versions:?} in batch_versions; declare {SENT_BATCH_VERSION} or \
             ask for DELIVERY_RECORDS"
        ))),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown delivery {delivery}"
        ))),
    }
}

/// A fetch reply carrying the batches of `read`.
pub fn fetch_batches_to_wire(read: RawRead) -> pb::FetchResponse {
    pb::FetchResponse {
        records: Vec::new(),
        next_offset: read.next_offset,
        high_watermark: read.high_watermark,
        log_start_offset: read.log_start_offset,
        batches: read.chunks,
    }
}

/// A subscription message carrying the batches of `read` for `partition`, read from
/// offset `from`.
pub fn subscribe_batches_to_wire(
    partition: u32,
    from: u64,
    read: RawRead,
) -> pb::SubscribeResponse {
    pb::SubscribeResponse {
        records: Vec::new(),
        caught_up: false,
        batches: Some(pb::RawBatches {
            partition,
            batches: read.chunks,
            next_offset: read.next_offset,
            from_offset: from,
        }),
    }
}
