//! Unit tests of the group store: durability, damage, compaction, atomic deletion,
//! group commit, expiry and the group cap.

use std::path::Path;

use super::*;

fn open_with(dir: &Path, fsync: FsyncPolicy) -> GroupStore {
    let config = GroupStoreConfig {
        fsync,
        ..GroupStoreConfig::default()
    };
    GroupStore::open(dir, config).unwrap()
}

fn open(dir: &Path) -> GroupStore {
    open_with(dir, FsyncPolicy::Always)
}

#[test]
fn commits_survive_reopen_and_groups_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .commit("g1", "t", &[(0, 5, "a".into()), (1, 7, String::new())], 100)
            .unwrap();
        store
            .commit("g2", "t", &[(0, 2, String::new())], 101)
            .unwrap();
        store.commit("g1", "t", &[(0, 6, "b".into())], 102).unwrap();
        drop(store); // no close: like a crash after the acknowledgements
    }
    let store = open(dir.path());
    let g1 = store.committed("g1", "t");
    assert_eq!(
        g1[&0],
        Committed {
            next_offset: 6,
            metadata: "b".into(),
            commit_time_ms: 102
        }
    );
    assert_eq!(g1[&1].next_offset, 7);
    assert_eq!(store.committed("g2", "t")[&0].next_offset, 2);
    assert_eq!(store.groups(), vec!["g1".to_string(), "g2".to_string()]);
}

#[test]
fn deleting_a_group_or_a_topic_removes_its_commits_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .commit("g1", "t", &[(0, 5, String::new())], 1)
            .unwrap();
        store
            .commit("g1", "u", &[(0, 5, String::new())], 1)
            .unwrap();
        store
            .commit("g2", "t", &[(0, 5, String::new())], 1)
            .unwrap();
        assert_eq!(store.delete_topic("t").unwrap(), 2);
        assert_eq!(store.delete_group("g1").unwrap(), 1);
    }
    let store = open(dir.path());
    assert!(store.groups().is_empty());
}

#[test]
fn a_torn_last_commit_is_dropped_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.commit("g", "t", &[(0, 5, String::new())], 1).unwrap();
        store.commit("g", "t", &[(0, 9, String::new())], 2).unwrap();
    }
    // Cut the last batch in half, as a crash during its write would.
    let segment = dir.path().join(format!("{:020}.log", 0));
    let bytes = std::fs::read(&segment).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    std::fs::write(&segment, &bytes[..end - 10]).unwrap();
    let store = open(dir.path());
    assert_eq!(store.committed("g", "t")[&0].next_offset, 5);
}

#[test]
fn a_corrupt_commit_batch_is_skipped_and_later_commits_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.commit("g", "t", &[(0, 5, String::new())], 1).unwrap();
        store.commit("g", "t", &[(1, 6, String::new())], 2).unwrap();
        store.commit("g", "t", &[(0, 9, String::new())], 3).unwrap();
    }
    // Flip a bit inside the second batch (the only commit of partition 1).
    let segment = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&segment).unwrap();
    let mut batches = Vec::new();
    crate::storage::verify::walk(&segment, &mut |event| {
        if let crate::storage::verify::WalkEvent::Batch { position, .. } = event {
            batches.push(position as usize);
        }
    })
    .unwrap();
    bytes[batches[1] + 40] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let store = open(dir.path());
    let committed = store.committed("g", "t");
    assert_eq!(committed[&0].next_offset, 9);
    assert!(!committed.contains_key(&1), "the damaged commit is gone");
}

#[test]
fn a_compaction_that_fails_on_damage_does_not_fail_commits_or_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let commit_round = |store: &GroupStore, i: u64| {
        let entries: Vec<_> = (0..100).map(|p| (p, i, String::new())).collect();
        store.commit("g", "t", &entries, i as i64).unwrap();
    };
    {
        // Just under the compaction threshold of 100,000 appended records.
        let store = open_with(dir.path(), FsyncPolicy::Never);
        (0..999).for_each(|i| commit_round(&store, i));
        store.close();
    }
    let segment = dir.path().join(format!("{:020}.log", 0));
    let mut positions = Vec::new();
    crate::storage::verify::walk(&segment, &mut |event| {
        if let crate::storage::verify::WalkEvent::Batch { position, .. } = event {
            positions.push(position as usize);
        }
    })
    .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[positions[500] + 100] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    {
        let store = open_with(dir.path(), FsyncPolicy::Never);
        // Past the threshold: compaction runs, meets the damage, and fails; the
        // commits do not.
        (999..1003).for_each(|i| commit_round(&store, i));
        // No close: the next open finds the log still over the threshold.
    }
    assert_all_at(&open_with(dir.path(), FsyncPolicy::Never), 1002);
}

/// Partitions 0..100 of g/t are all committed at `next_offset`.
fn assert_all_at(store: &GroupStore, next_offset: u64) {
    let committed = store.committed("g", "t");
    assert_eq!(committed.len(), 100);
    assert!(committed.values().all(|c| c.next_offset == next_offset));
}

#[test]
fn many_commits_are_compacted_to_the_live_keys() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_with(dir.path(), FsyncPolicy::Never);
        for i in 0..1200u64 {
            let entries: Vec<_> = (0..100).map(|p| (p, i, String::new())).collect();
            store.commit("g", "t", &entries, i as i64).unwrap();
        }
        let (_, stored, _) = replay::replay(&store.log).unwrap();
        assert!(
            stored < 30_000,
            "compaction kept the log small: {stored} of 120000 records"
        );
        store.close();
    }
    assert_all_at(&open(dir.path()), 1199);
}

#[test]
fn two_compactions_never_run_at_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    store.commit("g", "t", &[(0, 1, String::new())], 1).unwrap();
    store.commit("g", "t", &[(0, 2, String::new())], 2).unwrap();
    // The first compaction to sync a `.swap` file is held there until released.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
    let first = AtomicBool::new(true);
    let hold: crate::storage::sync_watch::BeforeSync = std::sync::Arc::new(move |_: &Path| {
        if first.swap(false, Ordering::AcqRel) {
            let _ = lock(&entered_tx).send(());
            let _ = lock(&release_rx).recv_timeout(std::time::Duration::from_secs(20));
        }
    });
    let swaps = crate::storage::sync_watch::watch(dir.path(), ".swap", Some(hold));
    let running = {
        let store = store.clone();
        std::thread::spawn(move || store.compact().unwrap())
    };
    entered
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the first compaction reached its swap files");
    // A second compaction while the first is under way does nothing.
    assert!(!store.compact().unwrap(), "a second compaction ran");
    assert_eq!(
        swaps.count(),
        1,
        "only the first compaction wrote swap files"
    );
    release.send(()).unwrap();
    assert!(running.join().unwrap(), "the first compaction ran");
    assert_eq!(store.committed("g", "t")[&0].next_offset, 2);
}

/// `keys` partitions of topic `t` committed for `group`, 1000 per commit.
fn commit_many(store: &GroupStore, group: &str, keys: u32) {
    for first in (0..keys).step_by(1000) {
        let entries: Vec<_> = (first..(first + 1000).min(keys))
            .map(|p| (p, 1, String::new()))
            .collect();
        store.commit(group, "t", &entries, 1).unwrap();
    }
}

#[test]
fn a_large_deletion_failing_midway_leaves_disk_and_memory_agreeing() {
    use crate::storage::fault;
    use crate::storage::fsutil::WritePoint;
    for scope in ["group", "topic"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        commit_many(&store, "big", 25_000);
        store
            .commit("other", "u", &[(0, 3, String::new())], 1)
            .unwrap();
        // The deletion's first write succeeds, the second meets a full disk.
        fault::arm_after(dir.path(), WritePoint::Write, ".log", fault::ENOSPC, 1, 1);
        let result = match scope {
            "group" => store.delete_group("big"),
            _ => store.delete_topic("t"),
        };
        fault::disarm(dir.path());
        let in_memory = store.group("big").len();
        match &result {
            Ok(removed) => assert_eq!((*removed, in_memory), (25_000, 0), "{scope}"),
            Err(_) => assert_eq!(
                in_memory, 25_000,
                "{scope}: a failed deletion changes nothing"
            ),
        }
        // A later commit writes the missing tombstones; disk agrees with memory.
        store
            .commit("other", "u", &[(0, 4, String::new())], 2)
            .unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(
            store.group("big").len(),
            in_memory,
            "{scope}: disk and memory agree"
        );
        assert_eq!(store.committed("other", "u")[&0].next_offset, 4);
        // Once settled, compaction reclaims the deleted keys without bringing them back.
        assert!(store.compact().unwrap());
        let (table, records, unsettled) = replay::replay(&store.log).unwrap();
        assert_eq!(table.group("big").len(), in_memory, "{scope}");
        assert!(unsettled.is_empty(), "{scope}: {unsettled:?}");
        assert!(
            records < 100,
            "{scope}: compaction dropped the deleted keys: {records}"
        );
    }
}

#[test]
fn concurrent_commits_of_different_groups_share_a_sync() {
    use std::sync::Arc;
    const COMMITTERS: u64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    // Hold the first round's sync until every committer has queued its commit: they
    // must then all go out in the next round, with one more sync.
    let waiting = Arc::downgrade(&store);
    let first = std::sync::atomic::AtomicBool::new(true);
    let hold: crate::storage::sync_watch::BeforeSync = Arc::new(move |_: &Path| {
        if !first.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while let Some(store) = waiting.upgrade()
            && store.submitted() < COMMITTERS
            && std::time::Instant::now() < deadline
        {
            drop(store);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let syncs = crate::storage::sync_watch::watch(dir.path(), ".log", Some(hold));
    let threads: Vec<_> = (0..COMMITTERS)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let entries = [(0, i, format!("from {i}"))];
                store.commit(&format!("g{i}"), "t", &entries, 1).unwrap();
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(syncs.count(), 2, "{COMMITTERS} commits, two rounds");
    drop(syncs);
    drop(store);
    let store = open(dir.path());
    for i in 0..COMMITTERS {
        assert_eq!(store.committed(&format!("g{i}"), "t")[&0].next_offset, i);
    }
}

fn open_at(
    dir: &Path,
    clock: &std::sync::Arc<std::sync::atomic::AtomicI64>,
    max_groups: usize,
) -> GroupStore {
    let clock = clock.clone();
    let config = GroupStoreConfig {
        max_groups,
        ..GroupStoreConfig::default()
    };
    let now = Box::new(move || clock.load(std::sync::atomic::Ordering::Acquire));
    GroupStore::open_with_clock(dir, config, now).unwrap()
}

#[test]
fn idle_groups_expire_and_stay_gone_after_a_restart() {
    use std::sync::atomic::{AtomicI64, Ordering};
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(AtomicI64::new(100 * DAY_MS));
    let store = open_at(dir.path(), &clock, 10);
    store
        .commit("idle", "t", &[(0, 1, String::new())], 100 * DAY_MS)
        .unwrap();
    store
        .commit("idle", "u", &[(0, 1, String::new())], 100 * DAY_MS)
        .unwrap();
    store
        .commit("busy", "t", &[(0, 1, String::new())], 100 * DAY_MS)
        .unwrap();
    store
        .commit("busy", "t", &[(1, 1, String::new())], 104 * DAY_MS)
        .unwrap();
    clock.store(107 * DAY_MS - 1, Ordering::Release);
    assert!(
        store.expire_idle().unwrap().is_empty(),
        "not idle for 7 days yet"
    );
    clock.store(107 * DAY_MS + 1, Ordering::Release);
    store.tick();
    assert_eq!(store.groups(), vec!["busy".to_string()]);
    drop(store);
    let store = open_at(dir.path(), &clock, 10);
    assert_eq!(store.groups(), vec!["busy".to_string()]);
    assert_eq!(store.committed("busy", "t").len(), 2);
}

#[test]
fn a_commit_creating_a_group_beyond_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let store = open_at(dir.path(), &clock, 2);
    store.commit("a", "t", &[(0, 1, String::new())], 1).unwrap();
    store.commit("b", "t", &[(0, 1, String::new())], 1).unwrap();
    let refused = store.commit("c", "t", &[(0, 1, String::new())], 1);
    match refused {
        Err(GroupStoreError::TooManyGroups { ref group, max: 2 }) => assert_eq!(group, "c"),
        other => panic!("expected the cap, got {other:?}"),
    }
    let message = refused.unwrap_err().to_string();
    assert!(
        message.contains("limit of 2 groups") && message.contains("--max-groups"),
        "{message}"
    );
    // Existing groups still commit; a deletion makes room.
    store.commit("a", "t", &[(0, 2, String::new())], 2).unwrap();
    store.delete_group("b").unwrap();
    store.commit("c", "t", &[(0, 1, String::new())], 3).unwrap();
    assert_eq!(store.groups(), vec!["a".to_string(), "c".to_string()]);
}

#[test]
fn an_offsets_log_of_the_first_format_still_opens() {
    use crate::storage::{Log, LogConfig, LogIdent};
    let dir = tempfile::tempdir().unwrap();
    {
        // Only kind-1 records, deletions as per-key tombstones: what older versions wrote.
        let log = Log::open(
            dir.path(),
            LogIdent::new("__consumer_offsets", 0),
            LogConfig::default(),
        )
        .unwrap();
        let key = |group: &str, partition| GroupKey {
            group: group.into(),
            topic: "t".into(),
            partition,
        };
        let value = |next_offset| Committed {
            next_offset,
            metadata: "m".into(),
            commit_time_ms: now_ms(),
        };
        let records = vec![
            codec::commit_record(&key("a", 0), &value(5)),
            codec::commit_record(&key("b", 0), &value(6)),
            codec::commit_record(&key("b", 1), &value(7)),
        ];
        log.append(&records).unwrap();
        log.append(&[codec::removal_record(&key("b", 0), 1)])
            .unwrap();
        log.close().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.committed("a", "t")[&0].next_offset, 5);
    assert_eq!(
        store
            .committed("b", "t")
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![1]
    );
}
