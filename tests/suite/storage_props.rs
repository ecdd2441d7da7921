//! Property tests of the whole log: lookups by offset and by time agree with a
//! brute-force scan of what was appended, across rolls and a reopen.

use crate::storage_support;

use bytes::Bytes;
use eventlog::storage::{FsyncPolicy, ReadLimits, Record};
use proptest::prelude::*;
use storage_support::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(i64, usize)>),
    Roll,
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    let append = proptest::collection::vec((0i64..5000, 0usize..400), 1..12).prop_map(Op::Append);
    let op = prop_oneof![8 => append, 1 => Just(Op::Roll)];
    proptest::collection::vec(op, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn lookups_agree_with_a_brute_force_scan(ops in arb_ops(), probes in proptest::collection::vec((any::<prop::sample::Index>(), -10i64..5100), 20)) {
        let dir = tempfile::tempdir().unwrap();
        let mut appended: Vec<Record> = Vec::new();
        {
            let log = open(dir.path(), small_config(FsyncPolicy::Never));
            for op in &ops {
                match op {
                    Op::Append(spec) => {
                        let records: Vec<Record> = spec.iter().map(|(ts, len)| Record {
                            key: None,
                            value: Some(Bytes::from(vec![7u8; *len])),
                            headers: vec![],
                            timestamp_ms: *ts,
                        }).collect();
                        log.append(&records).unwrap();
                        appended.extend(records);
                    }
                    Op::Roll => log.roll().unwrap(),
                }
            }
        }
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        prop_assert_eq!(log.high_watermark(), appended.len() as u64);
        for (index, ts) in probes {
            if !appended.is_empty() {
                let offset = index.index(appended.len());
                let got = log.read(offset as u64, ReadLimits { max_records: 1, max_bytes: 1 }).unwrap();
                prop_assert_eq!(got.records[0].offset, offset as u64);
                prop_assert_eq!(&got.records[0].value, &appended[offset].value);
            }
            let expected = appended.iter().position(|r| r.timestamp_ms >= ts).map(|p| p as u64);
            prop_assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected, "timestamp {}", ts);
        }
    }
}
