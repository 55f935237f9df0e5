//! Store features the command API relies on: the cursor inside a stored outcome, wake
//! times for the sweeper, and listing heads by a snapshot field.

use chrono::{Duration, TimeZone, Utc};
use ledger_core::{fingerprint, Category};
use ledger_store::{AppendBatch, DedupKey, KeyUse, OutcomeToStore, StreamAppend, Wake};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::{event, stream};

/// A replayed outcome must carry the very cursor the first response had.
#[tokio::test]
async fn the_stored_outcome_carries_the_cursor_of_the_last_event() {
    let db = fresh_db().await;
    let store = db.store();
    let dedup = DedupKey::new("client:c", "with-cursor").unwrap();
    let batch = AppendBatch {
        streams: vec![StreamAppend::new(
            stream("c1"),
            vec![event("A", json!({})), event("B", json!({}))],
        )],
        dedup: Some(dedup.clone()),
        outcome: Some(OutcomeToStore {
            fingerprint: fingerprint("POST", "/x", None).unwrap(),
            status: 201,
            body: json!({"booking_id": "b"}),
            cursor_in_body: true,
        }),
    };
    let committed = store.append(batch).await.unwrap();
    let KeyUse::Stored(stored) = store.key_use(&dedup).await.unwrap() else {
        panic!("stored");
    };
    let cursor = committed.cursor.expect("cursor").to_string();
    assert_eq!(stored.body, json!({"booking_id": "b", "cursor": cursor}));
}

#[tokio::test]
async fn due_streams_follow_wake_times() {
    let db = fresh_db().await;
    let store = db.store();
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let slot = |key: &str, wake| {
        let mut a = StreamAppend::new(stream(key), vec![event("A", json!({}))]);
        a.wake = wake;
        AppendBatch {
            streams: vec![a],
            ..AppendBatch::default()
        }
    };
    store.append(slot("early", Wake::At(t0))).await.unwrap();
    store
        .append(slot("late", Wake::At(t0 + Duration::minutes(10))))
        .await
        .unwrap();
    store.append(slot("never", Wake::Unchanged)).await.unwrap();
    let due = |now| {
        let store = store.clone();
        async move {
            let ids = store.due_streams(Category::Slot, now, 10).await.unwrap();
            ids.iter().map(|s| s.key().to_string()).collect::<Vec<_>>()
        }
    };
    assert!(due(t0 - Duration::seconds(1)).await.is_empty());
    assert_eq!(due(t0).await, vec!["early"]);
    assert_eq!(due(t0 + Duration::hours(1)).await, vec!["early", "late"]);
    assert!(store
        .due_streams(Category::Booking, t0 + Duration::hours(1), 10)
        .await
        .unwrap()
        .is_empty());
    // Clearing the wake time (with no new event) removes it from the due list.
    store.append(slot("early", Wake::Never)).await.unwrap();
    let mut clear = StreamAppend::new(stream("late"), vec![]);
    clear.wake = Wake::Never;
    store
        .append(AppendBatch {
            streams: vec![clear],
            ..AppendBatch::default()
        })
        .await
        .unwrap();
    assert!(due(t0 + Duration::hours(1)).await.is_empty());
}

#[tokio::test]
async fn heads_are_listed_by_snapshot_field_in_pages() {
    let db = fresh_db().await;
    let store = db.store();
    for (key, activity) in [
        ("a1", "glaciar"),
        ("a2", "kayak"),
        ("a3", "glaciar"),
        ("a4", "glaciar"),
    ] {
        let mut a = StreamAppend::new(stream(key), vec![event("SlotScheduled", json!({}))]);
        a.snapshot = Some(json!({"spec": {"activity_id": activity}}));
        store
            .append(AppendBatch {
                streams: vec![a],
                ..AppendBatch::default()
            })
            .await
            .unwrap();
    }
    let path: &[&str] = &["spec", "activity_id"];
    let page1 = store
        .list_heads(Category::Slot, Some((path, "glaciar")), "", 2)
        .await
        .unwrap();
    let keys1: Vec<_> = page1
        .iter()
        .map(|h| h.stream_id.key().to_string())
        .collect();
    assert_eq!(keys1, vec!["a1", "a3"]);
    let after = page1.last().unwrap().stream_id.as_str().to_string();
    let page2 = store
        .list_heads(Category::Slot, Some((path, "glaciar")), &after, 2)
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].stream_id.key(), "a4");
    assert_eq!(
        store
            .list_heads(Category::Slot, None, "", 10)
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(store
        .list_heads(Category::Coupon, None, "", 10)
        .await
        .unwrap()
        .is_empty());
}
