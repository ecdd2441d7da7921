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
