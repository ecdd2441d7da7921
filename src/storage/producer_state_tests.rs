use super::*;

const LIMITS: ProducerLimits = ProducerLimits {
    max_producers: 3,
    expiration_ms: 1000,
};

fn batch(producer_id: i64, epoch: i16, base_sequence: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id,
        epoch,
        base_sequence,
    }
}

/// Checks and, when told to append, records a batch of `count` at `offset`.
fn offer(
    table: &mut ProducerStateTable,
    b: ProducerBatch,
    count: u32,
    offset: u64,
) -> Result<SequenceVerdict, SequenceError> {
    let verdict = table.check(&b, count, 0, LIMITS)?;
    if verdict == SequenceVerdict::Append {
        table.record(&b, count, offset, offset + u64::from(count) - 1, 0);
    }
    Ok(verdict)
}

#[test]
fn sequences_continue_and_retries_of_the_last_five_batches_are_duplicates() {
    let mut table = ProducerStateTable::default();
    for i in 0..7u64 {
        let verdict = offer(&mut table, batch(1, 0, (i * 2) as i32), 2, i * 2).unwrap();
        assert_eq!(verdict, SequenceVerdict::Append);
    }
    // Batches 2..=6 are kept: a retry of any of them answers with its offsets.
    for i in 2..7u64 {
        match offer(&mut table, batch(1, 0, (i * 2) as i32), 2, 99).unwrap() {
            SequenceVerdict::Duplicate(done) => {
                assert_eq!((done.base_offset, done.last_offset), (i * 2, i * 2 + 1))
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    }
    // Batch 1 is no longer kept: out of order, with the expected next sequence.
    assert_eq!(
        offer(&mut table, batch(1, 0, 2), 2, 99),
        Err(SequenceError::OutOfOrder {
            producer_id: 1,
            epoch: 0,
            got: 2,
            expected: 14
        })
    );
}

#[test]
fn a_gap_is_out_of_order_and_a_retry_with_other_records_is_not_a_duplicate() {
    let mut table = ProducerStateTable::default();
    offer(&mut table, batch(1, 0, 0), 3, 0).unwrap();
    assert!(matches!(
        offer(&mut table, batch(1, 0, 4), 1, 3),
        Err(SequenceError::OutOfOrder { expected: 3, .. })
    ));
    // Same first sequence, different size: not the same batch.
    assert!(matches!(
        offer(&mut table, batch(1, 0, 0), 2, 3),
        Err(SequenceError::OutOfOrder { expected: 3, .. })
    ));
}

#[test]
fn an_older_epoch_is_fenced_and_a_newer_one_starts_at_zero() {
    let mut table = ProducerStateTable::default();
    offer(&mut table, batch(1, 3, 0), 1, 0).unwrap();
    assert_eq!(
        offer(&mut table, batch(1, 2, 1), 1, 1),
        Err(SequenceError::Fenced {
            producer_id: 1,
            got: 2,
            current: 3
        })
    );
    assert!(matches!(
        offer(&mut table, batch(1, 4, 5), 1, 1),
        Err(SequenceError::OutOfOrder { expected: 0, .. })
    ));
    assert_eq!(
        offer(&mut table, batch(1, 4, 0), 1, 1),
        Ok(SequenceVerdict::Append)
    );
    // The old epoch's batches are forgotten; the new epoch is the one that counts.
    assert!(matches!(
        offer(&mut table, batch(1, 3, 1), 1, 2),
        Err(SequenceError::Fenced { current: 4, .. })
    ));
}

#[test]
fn an_unknown_producer_may_start_anywhere_and_sequences_wrap() {
    let mut table = ProducerStateTable::default();
    assert_eq!(
        offer(&mut table, batch(9, 0, i32::MAX - 1), 2, 0),
        Ok(SequenceVerdict::Append)
    );
    assert_eq!(table.get(9).unwrap().batches[0].last_sequence, i32::MAX);
    assert_eq!(
        offer(&mut table, batch(9, 0, 0), 1, 2),
        Ok(SequenceVerdict::Append)
    );
}

#[test]
fn the_producer_cap_refuses_new_producers_until_idle_ones_expire() {
    let mut table = ProducerStateTable::default();
    for id in 0..3 {
        offer(&mut table, batch(id, 0, 0), 1, id as u64).unwrap();
    }
    assert!(matches!(
        table.check(&batch(7, 0, 0), 1, 500, LIMITS),
        Err(SequenceError::TooManyProducers { limit: 3, .. })
    ));
    // Known producers go on meanwhile.
    assert_eq!(
        table.check(&batch(1, 0, 1), 1, 500, LIMITS),
        Ok(SequenceVerdict::Append)
    );
    // Once they idled past the expiration, room is made.
    assert_eq!(
        table.check(&batch(7, 0, 0), 1, 1000, LIMITS),
        Ok(SequenceVerdict::Append)
    );
    assert!(table.entries().is_empty());
}

#[test]
fn truncation_forgets_the_batches_it_removes() {
    let mut table = ProducerStateTable::default();
    offer(&mut table, batch(1, 0, 0), 2, 0).unwrap();
    offer(&mut table, batch(1, 0, 2), 2, 2).unwrap();
    offer(&mut table, batch(2, 0, 0), 1, 4).unwrap();
    table.truncate(2);
    assert_eq!(table.get(1).unwrap().batches.len(), 1);
    assert!(table.get(2).is_none());
    assert_eq!(
        offer(&mut table, batch(1, 0, 2), 2, 2),
        Ok(SequenceVerdict::Append)
    );
}
