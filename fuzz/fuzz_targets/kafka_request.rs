//! Bytes off a Kafka connection are untrusted: the listener's frame reader (length
//! prefix bounded by the default `--kafka-max-request-bytes`), its request decoding
//! (API key, version, header and message of every served API and version) and a
//! Produce request's record batches never panic, whatever arrives; each failure is a
//! typed error, on which the server closes the connection.
//!
//! The input is a connection's byte stream: frames are read and decoded one after the
//! other, as the server's request loop does, until the first one it would close on.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use eventlog::kafka::DEFAULT_MAX_REQUEST_BYTES;
use eventlog::kafka::frame::read_frame;
use eventlog::kafka::records::decode_produced;
use eventlog::kafka::request::decode_request;
use kafka_protocol::messages::RequestKind;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// Never reached: the input is all in memory.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The frame reader runs under tokio (its body deadline needs a timer); one runtime
/// for the whole run, since building one per input would dominate the cost.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

async fn connection(mut input: &[u8]) {
    let memory = Arc::new(Semaphore::new(DEFAULT_MAX_REQUEST_BYTES));
    while let Ok(frame) = read_frame(
        &mut input,
        DEFAULT_MAX_REQUEST_BYTES,
        BODY_TIMEOUT,
        &memory,
    )
    .await
    {
        let Ok(request) = decode_request(frame.body.clone()) else {
            return;
        };
        if let RequestKind::Produce(produce) = &request.message {
            // As the Produce handler does, each partition's batch on its own.
            for topic in &produce.topic_data {
                for partition in &topic.partition_data {
                    if let Some(records) = &partition.records {
                        let _ = decode_produced(records, 0);
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(connection(data));
});
