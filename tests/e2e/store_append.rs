//! Appends under the per-stream lock: versions, hash chain, multi-stream locks, snapshots.

use std::sync::Arc;

use ledger_core::verify_chain;
use ledger_store::{AppendBatch, ExpectedVersion, StoreError, StreamAppend};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::{event, single, stream};

/// Invariant 7 and the lock: 50 writers at once, versions 1..=50 with no gap or repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_appenders_get_versions_1_to_50_and_the_chain_verifies() {
    let db = fresh_db().await;
    let store = db.store();
    let s = stream("hot");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, s) = (store.clone(), s.clone());
            tokio::spawn(
                async move { store.append(single(&s, "SeatsHeld", json!({"n": i}))).await },
            )
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        let committed = t.await.expect("task").expect("append");
        versions.push(committed.events[0].stream_version);
    }
    versions.sort();
    assert_eq!(versions, (1..=50).collect::<Vec<i64>>());

    let events = store.read_stream(&s, 1, 500).await.unwrap();
    assert_eq!(events.len(), 50);
    verify_chain(&events).expect("hash chain verifies");
    let head = store.stream_head(&s).await.unwrap().expect("head");
    assert_eq!((head.version, head.last_hash), (50, events[49].hash));
}

#[tokio::test]
async fn a_multi_stream_append_is_atomic_and_each_chain_verifies() {
    let db = fresh_db().await;
    let store = db.store();
    let (a, b) = (stream("a"), stream("b"));
    let batch = AppendBatch {
        streams: vec![
            StreamAppend {
                stream_id: b.clone(),
                expected: ExpectedVersion::Exactly(0),
                events: vec![event("SeatsHeld", json!({"seats": 1}))],
                snapshot: Some(json!({"held": 1})),
                wake: ledger_store::Wake::Unchanged,
            },
            StreamAppend {
                stream_id: a.clone(),
                expected: ExpectedVersion::Exactly(0),
                events: vec![
                    event("SeatsHeld", json!({"seats": 2})),
                    event("SeatsConfirmed", json!({})),
                ],
                snapshot: None,
                wake: ledger_store::Wake::Unchanged,
            },
        ],
        ..AppendBatch::default()
    };
    let committed = store.append(batch.clone()).await.expect("append");
    // Append order is kept: b's event first, then a's two.
    let order: Vec<_> = committed
        .events
        .iter()
        .map(|e| (e.stream_id.clone(), e.stream_version))
        .collect();
    assert_eq!(order, vec![(b.clone(), 1), (a.clone(), 1), (a.clone(), 2)]);
    assert!(committed
        .events
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));

    // The same batch again expects version 0: a conflict, and nothing is written.
    match store.append(batch).await {
        Err(StoreError::Conflict {
            stream_id,
            expected: 0,
            actual,
        }) => {
            assert!(stream_id == a && actual == 2 || stream_id == b && actual == 1)
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    for (s, n) in [(&a, 2), (&b, 1)] {
        let events = store.read_stream(s, 1, 10).await.unwrap();
        assert_eq!(events.len(), n);
        verify_chain(&events).unwrap();
    }
    let head_b = store.stream_head(&b).await.unwrap().unwrap();
    assert_eq!(
        (head_b.snapshot, head_b.snapshot_version),
        (Some(json!({"held": 1})), Some(1))
    );
}

/// Commands that lock the same two streams, named in opposite orders, never deadlock:
/// the store sorts them before locking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_lock_orders_do_not_deadlock() {
    let db = fresh_db().await;
    let store = db.store();
    let (a, b) = (stream("x"), stream("y"));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let order = if i % 2 == 0 {
                vec![a.clone(), b.clone()]
            } else {
                vec![b.clone(), a.clone()]
            };
            tokio::spawn(async move {
                let locked = store.lock(&order).await?;
                let batch = AppendBatch {
                    streams: order
                        .iter()
                        .map(|s| StreamAppend {
                            stream_id: s.clone(),
                            expected: ExpectedVersion::Any,
                            events: vec![event("Touched", json!({"i": i}))],
                            snapshot: None,
                            wake: ledger_store::Wake::Unchanged,
                        })
                        .collect(),
                    ..AppendBatch::default()
                };
                locked.commit(batch).await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("no deadlock, no timeout");
    }
    for s in [&a, &b] {
        let events = store.read_stream(s, 1, 100).await.unwrap();
        assert_eq!(events.len(), 40);
        verify_chain(&events).unwrap();
    }
}

#[tokio::test]
async fn an_abandoned_lock_writes_nothing_and_frees_the_stream() {
    let db = fresh_db().await;
    let store = db.store();
    let s = stream("abandoned");
    store
        .append(single(&s, "SeatsHeld", json!({})))
        .await
        .unwrap();
    let locked = store.lock(std::slice::from_ref(&s)).await.unwrap();
    assert_eq!(locked.head(&s).unwrap().version, 1);
    drop(locked); // e.g. a request future cancelled while holding the lock
    let locked = store
        .lock(std::slice::from_ref(&s))
        .await
        .expect("lock is free again");
    locked.rollback().await.unwrap();
    let committed = store
        .append(single(&s, "SeatsHeld", json!({})))
        .await
        .unwrap();
    assert_eq!(committed.events[0].stream_version, 2);
}

#[tokio::test]
async fn events_the_ledger_cannot_hash_or_store_exactly_are_refused() {
    let db = fresh_db().await;
    let store = Arc::new(db.store());
    let s = stream("refused");
    for payload in [
        json!({"n": 9_007_199_254_740_993_u64}),
        json!({"text": "a\u{0}b"}),
    ] {
        match store.append(single(&s, "SeatsHeld", payload)).await {
            Err(StoreError::InvalidEvent(_)) => {}
            other => panic!("expected InvalidEvent, got {other:?}"),
        }
    }
    // Nothing written, and the lock was released.
    assert!(store.read_stream(&s, 1, 10).await.unwrap().is_empty());
    store
        .append(single(&s, "SeatsHeld", json!({"n": 1})))
        .await
        .unwrap();
}
