//! Transitions of one group's membership, with synthetic time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::*;

const SESSION: Duration = Duration::from_secs(10);

fn spec(instance: Option<&str>) -> JoinSpec {
    JoinSpec {
        topics: ["t".to_string()].into(),
        partitions: (0..6).map(|p| TopicPartition::new("t", p)).collect(),
        instance_id: instance.map(String::from),
        client: "127.0.0.1:1".into(),
        session_timeout: SESSION,
        strategy: Strategy::Sticky,
    }
}

fn join(g: &mut GroupState, id: &str, now: Instant) -> watch::Receiver<MemberView> {
    g.join(id, spec(None), 100, now, 0).unwrap().0
}

/// Every partition owned by at most one member; returns how many are owned.
fn assert_exclusive(g: &GroupState) -> usize {
    let mut seen = BTreeSet::new();
    for m in g.summaries() {
        for tp in m.assigned.iter().chain(&m.revoking) {
            assert!(seen.insert(tp.clone()), "{tp} owned twice");
        }
    }
    seen.len()
}

fn assigned(rx: &watch::Receiver<MemberView>) -> BTreeSet<u32> {
    rx.borrow().assigned.iter().map(|tp| tp.partition).collect()
}

#[test]
fn three_members_share_six_partitions_each_exactly_once() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    let views: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| join(&mut g, id, now))
        .collect();
    // Each join revokes from the earlier members; they release what they lost.
    for id in ["a", "b"] {
        let revoking: Vec<_> = g
            .summaries()
            .into_iter()
            .find(|m| m.member_id == id)
            .unwrap()
            .revoking
            .into_iter()
            .collect();
        g.release(id, &revoking, now).unwrap();
    }
    assert_eq!(assert_exclusive(&g), 6);
    for v in &views {
        assert_eq!(assigned(v).len(), 2, "{:?}", v.borrow());
        assert!(v.borrow().revoking.is_empty());
    }
    assert_eq!(g.generation(), 3);
}

#[test]
fn a_moved_partition_waits_for_its_release() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    let a = join(&mut g, "a", now);
    assert_eq!(assigned(&a).len(), 6);
    let b = join(&mut g, "b", now);
    // a lost three, but still owns them until it releases: b gets nothing yet.
    assert_eq!(a.borrow().revoking.len(), 3);
    assert!(assigned(&b).is_empty());
    assert_eq!(assert_exclusive(&g), 6);
    let revoking: Vec<_> = a.borrow().revoking.iter().cloned().collect();
    // Releasing a partition it still holds is ignored.
    let kept = a.borrow().assigned.iter().next().cloned().unwrap();
    let changes = g
        .release("a", &[revoking.clone(), vec![kept]].concat(), now)
        .unwrap();
    assert_eq!(assigned(&a).len(), 3);
    assert_eq!(assigned(&b).len(), 3);
    assert!(changes.settled_after.is_some(), "the rebalance finished");
    assert_eq!(assert_exclusive(&g), 6);
}

#[test]
fn a_fourth_member_moves_only_one_partition_with_sticky() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    let views: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| join(&mut g, id, now))
        .collect();
    for (id, v) in ["a", "b"].iter().zip(&views) {
        let revoking: Vec<_> = v.borrow().revoking.iter().cloned().collect();
        g.release(id, &revoking, now).unwrap();
    }
    let before: Vec<_> = views.iter().map(assigned).collect();
    let d = join(&mut g, "d", now);
    let revoking: usize = views.iter().map(|v| v.borrow().revoking.len()).sum();
    assert_eq!(revoking, 1, "sticky moves one partition");
    for (v, was) in views.iter().zip(&before) {
        assert!(
            was.is_superset(&assigned(v)),
            "nobody gains but the new member"
        );
    }
    assert!(assigned(&d).is_empty(), "not before the release");
}

#[test]
fn an_expired_member_is_removed_and_its_partitions_move_at_once() {
    let start = Instant::now();
    let mut g = GroupState::new("g");
    let a = join(&mut g, "a", start);
    let b = join(&mut g, "b", start);
    let revoking: Vec<_> = a.borrow().revoking.iter().cloned().collect();
    g.release("a", &revoking, start).unwrap();
    // b keeps heartbeating, a is silent.
    let later = start + SESSION + Duration::from_millis(1);
    g.heartbeat("b", later).unwrap();
    assert_eq!(g.next_expiry(), Some(start + SESSION));
    let changes = g.expire(later);
    assert_eq!(
        changes.removed,
        vec![("a".to_string(), "session timed out".to_string())]
    );
    assert!(a.borrow().expelled.is_some());
    assert_eq!(assigned(&b).len(), 6);
    assert!(matches!(
        g.heartbeat("a", later),
        Err(MembershipError::UnknownMember { .. })
    ));
    // Silence up to the timeout itself is fine.
    assert!(g.expire(later + SESSION).removed.is_empty());
}

#[test]
fn commits_are_fenced_by_membership_ownership_and_generation() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    assert!(
        g.check_commit(None, "t", &[0]).is_ok(),
        "no members: plain commits work"
    );
    let a = join(&mut g, "a", now);
    let generation = g.generation();
    assert!(
        g.check_commit(Some(("a", generation)), "t", &[0, 5])
            .is_ok()
    );
    assert!(matches!(
        g.check_commit(None, "t", &[0]),
        Err(MembershipError::HasMembers { generation: 1, .. })
    ));
    assert!(matches!(
        g.check_commit(Some(("zombie", generation)), "t", &[0]),
        Err(MembershipError::UnknownMember { .. })
    ));
    assert!(matches!(
        g.check_commit(Some(("a", generation + 1)), "t", &[0]),
        Err(MembershipError::StaleGeneration { .. })
    ));
    let _b = join(&mut g, "b", now);
    let moved: Vec<_> = a.borrow().revoking.iter().cloned().collect();
    // Until it releases, a may still commit what it is giving up.
    assert!(
        g.check_commit(Some(("a", generation)), "t", &[moved[0].partition])
            .is_ok()
    );
    g.release("a", &moved, now).unwrap();
    let err = g
        .check_commit(Some(("a", generation)), "t", &[moved[0].partition])
        .unwrap_err();
    assert!(matches!(err, MembershipError::NotOwner { .. }), "{err}");
    assert_eq!(err.generation(), Some(g.generation()));
    // b owns it since the current generation: a commit read in an older one is stale.
    let err = g
        .check_commit(Some(("b", generation)), "t", &[moved[0].partition])
        .unwrap_err();
    assert!(
        matches!(err, MembershipError::StaleGeneration { .. }),
        "{err}"
    );
}

#[test]
fn a_dynamic_member_leaves_on_disconnect_and_a_static_one_keeps_its_place() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    let (s, _) = g.join("s1", spec(Some("host-1")), 100, now, 0).unwrap();
    let d = join(&mut g, "d", now);
    let revoking: Vec<_> = s.borrow().revoking.iter().cloned().collect();
    g.release("s1", &revoking, now).unwrap();
    let generation = g.generation();
    let held = assigned(&s);

    g.disconnect("s1", now);
    assert_eq!(g.member_count(), 2, "static: still a member");
    assert_eq!(g.generation(), generation, "no rebalance");
    // The restarted instance gets the same partitions back, with no rebalance.
    let (s2, changes) = g.join("s2", spec(Some("host-1")), 100, now, 0).unwrap();
    assert!(!changes.rebalanced);
    assert_eq!(assigned(&s2), held);
    assert_eq!(g.generation(), generation);
    assert!(s.borrow().expelled.is_some(), "the old instance is fenced");
    assert!(g.check_commit(Some(("s1", generation)), "t", &[0]).is_err());

    g.disconnect("d", now);
    assert_eq!(g.member_count(), 1, "dynamic: gone at once");
    assert!(d.borrow().expelled.is_some());
    assert_eq!(g.generation(), generation + 1);
    assert_eq!(assigned(&s2).len(), 6);
}

#[test]
fn joins_beyond_the_cap_or_with_other_topics_are_refused() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    g.join("a", spec(None), 2, now, 0).unwrap();
    g.join("b", spec(None), 2, now, 0).unwrap();
    let err = g.join("c", spec(None), 2, now, 0).unwrap_err();
    assert!(
        matches!(err, MembershipError::TooManyMembers { max: 2, .. }),
        "{err}"
    );
    let other = JoinSpec {
        topics: ["u".to_string()].into(),
        ..spec(None)
    };
    assert!(matches!(
        g.join("c", other, 100, now, 0),
        Err(MembershipError::TopicsDiffer { .. })
    ));
    let round_robin = JoinSpec {
        strategy: Strategy::RoundRobin,
        ..spec(None)
    };
    assert!(matches!(
        g.join("c", round_robin, 100, now, 0),
        Err(MembershipError::StrategyDiffers { .. })
    ));
}

#[test]
fn a_member_waits_for_partitions_only_while_it_gives_nothing_up() {
    let now = Instant::now();
    let mut g = GroupState::new("g");
    let a = join(&mut g, "a", now);
    assert!(!g.waits_for_partitions("a"), "a owns its whole share");
    let _b = join(&mut g, "b", now);
    // a must give three up: it waits for nothing (it is to be told at once); b waits.
    assert!(!g.waits_for_partitions("a"));
    assert!(g.waits_for_partitions("b"));
    assert!(!g.waits_for_partitions("nobody"));
    let revoking: Vec<_> = a.borrow().revoking.iter().cloned().collect();
    g.release("a", &revoking, now).unwrap();
    assert!(!g.waits_for_partitions("b"), "b owns its share now");
}
