//! The hot-slot budget: while a stream lock is held, an append makes at most 3 round
//! trips to PostgreSQL (ARCHITECTURE.md). Counted by a proxy on the wire.

use ledger_store::{AppendBatch, ExpectedVersion, Store, StoreSettings, StreamAppend};
use ledger_tests::fresh_db;
use ledger_tests::proxy::CountingProxy;
use serde_json::json;

use crate::{event, single, stream};

/// Round trips to acquire the lock, and while holding it until commit returns.
async fn measure(store: &Store, proxy: &CountingProxy, batch: AppendBatch) -> (usize, usize) {
    let ids: Vec<_> = batch.streams.iter().map(|s| s.stream_id.clone()).collect();
    proxy.reset();
    let locked = store.lock(&ids).await.unwrap();
    let to_lock = proxy.flights();
    locked.commit(batch).await.unwrap();
    (to_lock, proxy.flights() - to_lock)
}

#[tokio::test]
async fn an_append_holds_the_lock_for_one_round_trip() {
    let db = fresh_db().await;
    let proxy = CountingProxy::start(&db.pg).await;
    let settings = StoreSettings {
        pool_max_size: 1, // one connection, so every byte is this append's
        ..StoreSettings::default()
    };
    let store = Store::connect(proxy.config(&db.pg), &settings).unwrap();
    let s = stream("hot");
    // The first use of a connection prepares its statements: not a steady-state cost.
    store
        .append(single(&s, "SeatsHeld", json!({})))
        .await
        .unwrap();

    let (to_lock, under_lock) = measure(&store, &proxy, single(&s, "SeatsHeld", json!({}))).await;
    assert_eq!((to_lock, under_lock), (1, 1), "single-stream append");
    assert!(under_lock <= 3, "the budget of the issue");

    // A booking-shaped commit: two streams, three events, a snapshot and an outcome.
    let mut batch = AppendBatch {
        streams: vec![
            StreamAppend {
                stream_id: s.clone(),
                expected: ExpectedVersion::Any,
                events: vec![event("SeatsHeld", json!({"seats": 2}))],
                snapshot: Some(json!({"held": 2})),
                wake: ledger_store::Wake::Unchanged,
            },
            StreamAppend {
                stream_id: stream("booking"),
                expected: ExpectedVersion::Exactly(0),
                events: vec![
                    event("BookingPlaced", json!({})),
                    event("PaymentRequested", json!({})),
                ],
                snapshot: None,
                wake: ledger_store::Wake::Unchanged,
            },
        ],
        ..AppendBatch::default()
    };
    batch.dedup = ledger_store::DedupKey::new("client:c", "k");
    batch.outcome = Some(ledger_store::OutcomeToStore {
        fingerprint: ledger_core::fingerprint("POST", "/v1/bookings", None).unwrap(),
        status: 201,
        body: json!({}),
        cursor_in_body: false,
    });
    assert_eq!(
        measure(&store, &proxy, batch).await,
        (1, 1),
        "multi-stream append"
    );
}
