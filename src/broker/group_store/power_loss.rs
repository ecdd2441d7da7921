//! Power loss under the group store: concurrent committers record each acknowledged
//! commit; after a cut at a random moment (see `storage/power_loss.rs`) the reopened
//! store holds, for every key, the last acknowledged commit or a later attempted one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{GroupStore, GroupStoreConfig};
use crate::storage::FsyncPolicy;
use crate::storage::power_loss::{self, Mode, Rng};

const COMMITTERS: usize = 3;

fn always() -> GroupStoreConfig {
    GroupStoreConfig {
        fsync: FsyncPolicy::Always,
        ..GroupStoreConfig::default()
    }
}

#[test]
fn acknowledged_commits_survive_a_power_cut() {
    for seed in 1..=4u64 {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        std::fs::create_dir(&root).unwrap();
        let _registration = power_loss::register(&root);
        let store = Arc::new(GroupStore::open(&root.join("groups"), always()).unwrap());
        // Per committer: the last acknowledged and the last attempted next_offset.
        let acked: Arc<Vec<AtomicU64>> = Arc::new((0..COMMITTERS).map(|_| 0.into()).collect());
        let attempted: Arc<Vec<AtomicU64>> = Arc::new((0..COMMITTERS).map(|_| 0.into()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..COMMITTERS)
            .map(|c| {
                let (store, acked, attempted, stop) = (
                    store.clone(),
                    acked.clone(),
                    attempted.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Acquire) {
                        n += 1;
                        attempted[c].store(n, Ordering::Release);
                        let entries = [(c as u32, n, format!("meta {n}"))];
                        store.commit(&format!("g{c}"), "t", &entries, 0).unwrap();
                        acked[c].store(n, Ordering::Release);
                    }
                })
            })
            .collect();
        let cut_after = Rng::new(seed).range(10, 200);
        let deadline = Instant::now() + Duration::from_secs(60);
        let total = || acked.iter().map(|a| a.load(Ordering::Acquire)).sum::<u64>();
        while total() < cut_after {
            assert!(Instant::now() < deadline, "commits made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        let acked_at_cut: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let after = tempfile::tempdir().unwrap();
        power_loss::power_loss(&root, Mode::Pessimistic, after.path());
        stop.store(true, Ordering::Release);
        threads.into_iter().for_each(|t| t.join().unwrap());
        let attempted: Vec<u64> = attempted
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .collect();

        let reopened =
            GroupStore::open(&after.path().join("groups"), always()).expect("reopen after the cut");
        for c in 0..COMMITTERS {
            let committed = reopened.committed(&format!("g{c}"), "t");
            let got = committed.get(&(c as u32)).map_or(0, |v| v.next_offset);
            if let Some(v) = committed.get(&(c as u32)) {
                assert_eq!(v.metadata, format!("meta {got}"), "seed {seed}");
            }
            assert!(
                got >= acked_at_cut[c] && got <= attempted[c],
                "seed {seed} committer {c}: found {got}, acknowledged {} attempted {}",
                acked_at_cut[c],
                attempted[c]
            );
        }
    }
}

#[test]
fn a_large_deletion_is_all_or_nothing_across_a_power_cut() {
    use std::sync::Mutex;
    const KEYS: u32 = 25_000;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    let store = GroupStore::open(&root.join("groups"), always()).unwrap();
    for first in (0..KEYS).step_by(1000) {
        let entries: Vec<_> = (first..first + 1000)
            .map(|p| (p, 1, String::new()))
            .collect();
        store.commit("big", "t", &entries, 1).unwrap();
    }
    store
        .commit("other", "t", &[(0, 9, String::new())], 1)
        .unwrap();
    // Cut the power at every sync the deletion makes, each cut tearing the unsynced
    // bytes at a different point.
    let images = Arc::new(Mutex::new(Vec::new()));
    let cut: crate::storage::sync_watch::BeforeSync = {
        let (root, images) = (root.clone(), images.clone());
        Arc::new(move |_: &std::path::Path| {
            let mut images = images.lock().unwrap();
            let after = tempfile::tempdir().unwrap();
            let seed = images.len() as u64 + 1;
            power_loss::power_loss(&root, Mode::Torn { seed }, after.path());
            images.push(after);
        })
    };
    let watch = crate::storage::sync_watch::watch(&root, ".log", Some(cut));
    assert_eq!(store.delete_group("big").unwrap(), KEYS as usize);
    drop(watch);
    let images = std::mem::take(&mut *images.lock().unwrap());
    assert!(!images.is_empty(), "the deletion synced");
    for (i, image) in images.iter().enumerate() {
        let reopened = GroupStore::open(&image.path().join("groups"), always()).unwrap();
        let left = reopened.group("big").len();
        assert!(
            left == 0 || left == KEYS as usize,
            "cut {i}: {left} of {KEYS} keys left"
        );
        assert_eq!(reopened.committed("other", "t")[&0].next_offset, 9);
    }
}
