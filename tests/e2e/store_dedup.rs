//! Invariant 3: a dedup key is applied at most once, even under concurrent delivery; the
//! losers get the winner's stored outcome (invariant 6's foundation).

use ledger_core::fingerprint;
use ledger_store::{AppendBatch, DedupKey, KeyUse, OutcomeToStore, StoreError, StoredOutcome};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::{single, stream};

fn keyed(stream_key: &str, n: usize) -> AppendBatch {
    let mut batch = single(&stream(stream_key), "BookingPlaced", json!({"attempt": n}));
    batch.dedup = DedupKey::new("client:cust-1", "key-123");
    batch.outcome = Some(OutcomeToStore {
        fingerprint: fingerprint("POST", "/v1/bookings", Some(&json!({"seats": 2}))).unwrap(),
        status: 201,
        body: json!({"attempt": n}),
        cursor_in_body: false,
    });
    batch
}

async fn race(
    db: &ledger_tests::TestDb,
    stream_of: impl Fn(usize) -> String,
) -> Vec<Result<usize, StoreError>> {
    let store = db.store();
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (store, batch) = (store.clone(), keyed(&stream_of(n), n));
            tokio::spawn(async move { store.append(batch).await.map(|_| n) })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    results
}

async fn count_events(db: &ledger_tests::TestDb) -> i64 {
    db.client()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0)
}

fn check_one_winner(results: Vec<Result<usize, StoreError>>) {
    let winners: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one append wins: {results:?}");
    let winner = winners[0];
    for r in results.into_iter().filter(|r| r.is_err()) {
        match r {
            Err(StoreError::Duplicate {
                outcome: Some(StoredOutcome { status, body, .. }),
            }) => {
                assert_eq!((status, body), (201, json!({"attempt": winner})));
            }
            other => panic!("expected Duplicate with the stored outcome, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_appends_with_one_key_on_one_stream_write_one_event() {
    let db = fresh_db().await;
    check_one_winner(race(&db, |_| "same".into()).await);
    assert_eq!(count_events(&db).await, 1);
}

/// Different streams do not share a lock: here only the unique index stops the duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_appends_with_one_key_on_twenty_streams_write_one_event() {
    let db = fresh_db().await;
    check_one_winner(race(&db, |n| format!("s{n}")).await);
    assert_eq!(count_events(&db).await, 1);
}

#[tokio::test]
async fn a_provider_event_id_without_outcome_is_a_bare_duplicate() {
    let db = fresh_db().await;
    let store = db.store();
    let s = stream("webhooks");
    let mut batch = single(&s, "PaymentNotified", json!({}));
    batch.dedup = DedupKey::new("stripe", "evt_1");
    store.append(batch.clone()).await.expect("first delivery");
    let mut again = single(&s, "PaymentNotified", json!({}));
    again.dedup = batch.dedup.clone();
    assert!(matches!(
        store.append(again).await,
        Err(StoreError::Duplicate { outcome: None })
    ));
    assert_eq!(store.read_stream(&s, 1, 10).await.unwrap().len(), 1);
}

/// A rejection writes no event but stores its outcome, which a retry gets back.
#[tokio::test]
async fn an_outcome_without_events_is_stored_and_replayed() {
    let db = fresh_db().await;
    let store = db.store();
    let s = stream("full");
    let fp = fingerprint("POST", "/v1/bookings", Some(&json!({"seats": 99}))).unwrap();
    let locked = store.lock(std::slice::from_ref(&s)).await.unwrap();
    let rejection = AppendBatch {
        dedup: DedupKey::new("client:cust-2", "k"),
        outcome: Some(OutcomeToStore {
            fingerprint: fp,
            status: 409,
            body: json!({"code": "sold_out"}),
            cursor_in_body: false,
        }),
        ..AppendBatch::default()
    };
    let committed = locked.commit(rejection.clone()).await.unwrap();
    assert!(committed.events.is_empty() && committed.cursor.is_none());
    let stored = store
        .key_use(&DedupKey::new("client:cust-2", "k").unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored,
        KeyUse::Stored(StoredOutcome {
            fingerprint: fp,
            status: 409,
            body: json!({"code": "sold_out"})
        })
    );
    let retry = store
        .lock(std::slice::from_ref(&s))
        .await
        .unwrap()
        .commit(rejection)
        .await;
    assert!(matches!(retry, Err(StoreError::Duplicate { outcome: Some(o) }) if o.status == 409));
    // 5xx outcomes are never stored.
    let mut server_error = single(&s, "X", json!({}));
    server_error.dedup = DedupKey::new("client:cust-2", "k2");
    server_error.outcome = Some(OutcomeToStore {
        fingerprint: fp,
        status: 503,
        body: json!({}),
        cursor_in_body: false,
    });
    assert!(matches!(
        store.append(server_error).await,
        Err(StoreError::InvalidEvent(_))
    ));
}
