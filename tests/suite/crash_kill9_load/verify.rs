//! The checks of the plain topic and the group commits after a restart.

use std::collections::{BTreeMap, HashMap, HashSet};

use eventlog::client::Client;
use eventlog::proto::v1 as pb;

use super::load::{GROUP, Ledger, PARTITIONS, TOPIC, parse_tag};
use crate::crash_support::{content_of, read_partition};

/// Checks every invariant against the restarted server; returns records present.
pub async fn verify(client: &mut Client, ledger: &Ledger, round: u64) -> u64 {
    let mut present = 0;
    let mut high_watermarks = BTreeMap::new();
    // Records seen per request id: (partition, offset, index).
    let mut seen: HashMap<u64, Vec<(u32, u64, usize)>> = HashMap::new();
    for partition in 0..PARTITIONS {
        let (log_start, high_watermark, records) = read_partition(client, TOPIC, partition).await;
        high_watermarks.insert(partition, high_watermark);
        assert_eq!(log_start, 0, "round {round}: nothing deletes records here");
        let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
        let expected: Vec<u64> = (log_start..high_watermark).collect();
        assert!(
            offsets == expected,
            "round {round}: partition {partition} is not gap-free from {log_start} to {high_watermark}"
        );
        for record in &records {
            let content = content_of(record);
            let (request, index) =
                record
                    .value
                    .as_deref()
                    .and_then(parse_tag)
                    .unwrap_or_else(|| {
                        panic!("round {round}: {partition}@{} has no tag", record.offset)
                    });
            let attempt = ledger.attempted.get(&request).unwrap_or_else(|| {
                panic!(
                    "round {round}: {partition}@{} was never attempted",
                    record.offset
                )
            });
            assert_eq!(
                attempt.partition, partition,
                "round {round}: request {request} in the wrong partition"
            );
            assert!(
                attempt.records.get(index) == Some(&content),
                "round {round}: {partition}@{} differs from what was attempted",
                record.offset
            );
            seen.entry(request)
                .or_default()
                .push((partition, record.offset, index));
            present += 1;
        }
    }
    for (partition, offset) in ledger.acked.keys() {
        assert!(
            *offset < high_watermarks[partition],
            "round {round}: acknowledged {partition}@{offset} is beyond the high watermark"
        );
    }
    // Acknowledged content is at its offset: every present record matched its attempt, so
    // it is enough that the record at each acknowledged offset carries that attempt's tag.
    for (request, places) in &seen {
        let attempt = &ledger.attempted[request];
        assert_eq!(
            places.len(),
            attempt.records.len(),
            "round {round}: request {request} is half-visible: {places:?}"
        );
        for (i, (partition, offset, index)) in places.iter().enumerate() {
            assert_eq!(*index, i, "round {round}: request {request} out of order");
            assert_eq!(
                *offset,
                places[0].1 + i as u64,
                "round {round}: request {request} not contiguous"
            );
            if let Some(acked) = ledger.acked.get(&(*partition, *offset)) {
                assert_eq!(
                    acked, &attempt.records[i],
                    "round {round}: {partition}@{offset} holds other bytes than acknowledged"
                );
            }
        }
    }
    let present_at: HashSet<(u32, u64)> =
        seen.values().flatten().map(|(p, o, _)| (*p, *o)).collect();
    for (partition, offset) in ledger.acked.keys() {
        assert!(
            present_at.contains(&(*partition, *offset)),
            "round {round}: acknowledged {partition}@{offset} is missing"
        );
    }
    let committed = client
        .event_log
        .get_committed_offsets(pb::GetCommittedOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
        })
        .await
        .expect("committed offsets after restart")
        .into_inner();
    for (partition, acked) in &ledger.commits {
        let now = committed
            .partitions
            .iter()
            .find(|c| c.partition == *partition)
            .and_then(|c| c.next_offset)
            .unwrap_or_else(|| panic!("round {round}: commit of partition {partition} lost"));
        assert!(
            now >= *acked,
            "round {round}: partition {partition} committed {now} < acknowledged {acked}"
        );
        assert!(
            now <= high_watermarks[partition],
            "round {round}: commit past the high watermark"
        );
    }
    present
}
